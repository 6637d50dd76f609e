package bus

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestPeekTypeUpstreamFrames(t *testing.T) {
	t.Parallel()
	for i, frame := range upstreamFrames(t) {
		m, err := Decode(frame)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := PeekType(frame); got != m.Type || !ok {
			t.Errorf("line %d: PeekType() = %q, %v, want %q, true", i+1, got, ok, m.Type)
		}
		// Python's json.dumps puts a space after each colon.
		spaced := bytes.Replace(frame, []byte(`{"type":`), []byte(`{"type": `), 1)
		if got, ok := PeekType(spaced); got != m.Type || !ok {
			t.Errorf("line %d spaced: PeekType() = %q, %v, want %q, true", i+1, got, ok, m.Type)
		}
	}
}

func TestPeekType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		frame  string
		want   string
		wantOK bool
	}{
		{"compact", `{"type":"oauth.get","data":{}}`, "oauth.get", true},
		{"python spacing", `{"type": "oauth.get", "data": {}, "context": {}}`, "oauth.get", true},
		{"indented", "{\n    \"type\" : \"oauth.get\",\n    \"data\": {}\n}", "oauth.get", true},
		{"leading space", " \t\r\n{\"type\":\"a b\"}", "a b", true},
		{"type not first", `{"data":{"type":"inner"},"context":{},"type":"outer"}`, "outer", true},
		{"type after arrays", `{"data":{"x":[1,{"type":"no"}]},"l":[[],{}],"type":"yes"}`, "yes", true},
		{"escaped quote", `{"type":"a\"b"}`, `a"b`, true},
		{"escaped letter", `{"type":"\u0061bc"}`, "abc", true},
		{"escaped key", `{"t\u0079pe":"a"}`, "a", true},
		{"non-ASCII", `{"type":"é.ü"}`, "é.ü", true},
		{"truncated after type", `{"type":"a","data":{`, "a", true}, // Decode fails; peek need not
		{"empty type", `{"type":""}`, "", false},
		{"null type", `{"type":null}`, "", false},
		{"number type", `{"type":5}`, "", false},
		{"object type", `{"type":{"type":"a"}}`, "", false},
		{"nested only", `{"data":{"type":"inner"}}`, "", false},
		{"upper-case key", `{"Type":"a"}`, "", false},
		{"prefix key", `{"types":"a"}`, "", false},
		{"no colon", `{"type" "a"}`, "", false},
		{"unterminated", `{"type":"abc`, "", false},
		{"control byte", "{\"type\":\"a\x01b\"}", "", false},
		{"array", `[{"type":"a"}]`, "", false},
		{"string", `"type"`, "", false},
		{"empty", ``, "", false},
		{"space", `   `, "", false},
		{"brace", `{`, "", false},
		{"empty object", `{}`, "", false},
		{"garbage", `type=a`, "", false},
		{"garbage after brace", `{type:"a"}`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := PeekType([]byte(tt.frame))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("PeekType(%q) = %q, %v, want %q, %v", tt.frame, got, ok, tt.want, tt.wantOK)
			}
			checkPeekAgrees(t, []byte(tt.frame))
		})
	}
}

// checkPeekAgrees fails t if Decode accepts frame and PeekType disagrees.
func checkPeekAgrees(t *testing.T, frame []byte) {
	t.Helper()
	m, err := Decode(frame)
	if err != nil {
		return
	}
	if got, ok := PeekType(frame); got != m.Type || !ok {
		t.Errorf("PeekType(%q) = %q, %v; Decode() type = %q", frame, got, ok, m.Type)
	}
}

// fuzzSeeds are the fixture frames plus edge cases for both fuzz targets.
func fuzzSeeds(f *testing.F) {
	for _, frame := range upstreamFrames(f) {
		f.Add(frame)
	}
	for _, s := range []string{
		`{"type":"a"}`,
		`{"type": "a", "data": null, "context": null}`,
		"{\n  \"type\": \"a\",\n  \"data\": {\n    \"x\": 1\n  }\n}",
		`{"data":{},"type":"a\"\u00e9"}`,
		`{"type":"a","type":"b"}`,
		`{"type":"a","t\u0079pe":"b"}`,
		`{"type":"a","data":[1]}`,
		`{"type":"a","context":{"source":"s","destination":["d"]}}`,
		`{"type":"<&>","data":{"u":"\u2028"}}`,
		`{"type":""}`,
		`[]`,
		`{`,
	} {
		f.Add([]byte(s))
	}
}

func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := Decode(frame)
		if err != nil {
			return
		}
		enc, err := m.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON() of a decoded frame: %v", err)
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(%q) of an encoded message: %v", enc, err)
		}
		// Encoding compacts raw values; nothing else may change.
		if again.Type != m.Type {
			t.Errorf("type %q became %q", m.Type, again.Type)
		}
		if want := compact(t, m.Data); !bytes.Equal(again.Data, want) {
			t.Errorf("data %q became %q", want, again.Data)
		}
		if len(again.Context) != len(m.Context) {
			t.Errorf("context has %d keys, had %d", len(again.Context), len(m.Context))
		}
		for k, v := range m.Context {
			if want := compact(t, v); !bytes.Equal(again.Context[k], want) {
				t.Errorf("context %q: %q became %q", k, want, again.Context[k])
			}
		}
		enc2, err := again.MarshalJSON()
		if err != nil || !bytes.Equal(enc2, enc) {
			t.Errorf("second encoding = %q, %v, want %q", enc2, err, enc)
		}
	})
}

func FuzzPeekType(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkPeekAgrees(t, frame)
	})
}

func compact(t *testing.T, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatalf("compact %q: %v", raw, err)
	}
	return buf.Bytes()
}

func BenchmarkPeekType(b *testing.B) {
	frames := map[string][]byte{
		"session.sync": upstreamFrame(b, "ovos.session.sync"),
		"type-last":    []byte(`{"data":{"x":[1,2,3]},"context":{"session":{"session_id":"default"}},"type":"ovos.session.sync"}`),
	}
	for name, frame := range frames {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := PeekType(frame); !ok {
					b.Fatal("PeekType failed")
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, typ := range []string{"ovos.session.sync", "oauth.register"} {
		frame := upstreamFrame(b, typ)
		b.Run(typ, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMarshal encodes what the daemon sends most: a reply that keeps
// the request's context (here an ovos.session.sync's, the largest there
// is), as Client.Send does for every frame.
func BenchmarkMarshal(b *testing.B) {
	req, err := Decode(upstreamFrame(b, "ovos.session.sync"))
	if err != nil {
		b.Fatal(err)
	}
	reply := req.Reply("oauth.app.host.info.response", map[string]any{"host": "192.168.1.23", "port": 36536})
	frame, err := reply.MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reply.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}
