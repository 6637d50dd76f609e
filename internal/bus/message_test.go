package bus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// upstreamFrames returns the frames a real ovos-messagebus relayed (a copy
// of shared/fixtures/upstream-frames.jsonl), one per line.
func upstreamFrames(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open("testdata/upstream-frames.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var frames [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			frames = append(frames, bytes.Clone(sc.Bytes()))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(frames) == 0 {
		t.Fatal("no fixture frames")
	}
	return frames
}

// upstreamFrame returns the first fixture frame of type typ.
func upstreamFrame(t testing.TB, typ string) []byte {
	t.Helper()
	for _, f := range upstreamFrames(t) {
		if got, _ := PeekType(f); got == typ {
			return f
		}
	}
	t.Fatalf("no %s frame in the fixtures", typ)
	return nil
}

// sameJSON reports whether a and b hold the same JSON value.
func sameJSON(t *testing.T, a, b []byte) string {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("unmarshal %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	return cmp.Diff(va, vb)
}

func TestDecodeUpstreamFrames(t *testing.T) {
	t.Parallel()
	for i, frame := range upstreamFrames(t) {
		m, err := Decode(frame)
		if err != nil {
			t.Fatalf("line %d: Decode() error = %v", i+1, err)
		}
		if m.Type == "" || m.Data == nil || m.Context == nil {
			t.Errorf("line %d: Decode() = %+v, want type, data and context set", i+1, m.LogValue())
		}
		enc, err := m.MarshalJSON()
		if err != nil {
			t.Fatalf("line %d: MarshalJSON() error = %v", i+1, err)
		}
		if diff := sameJSON(t, enc, frame); diff != "" {
			t.Errorf("line %d: MarshalJSON() differs from the frame (-got +want):\n%s", i+1, diff)
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("line %d: Decode(MarshalJSON()) error = %v", i+1, err)
		}
		if diff := cmp.Diff(again, m); diff != "" {
			t.Errorf("line %d: round trip (-got +want):\n%s", i+1, diff)
		}
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame string
		want  Message
	}{{
		name:  "compact",
		frame: `{"type":"oauth.get","data":{"app_id":"a"},"context":{"source":"s"}}`,
		want: Message{Type: "oauth.get", Data: json.RawMessage(`{"app_id":"a"}`),
			Context: map[string]json.RawMessage{"source": json.RawMessage(`"s"`)}},
	}, {
		name: "indented as the GUI sends it",
		frame: `{
    "type": "ovos.shell.oauth.register.credentials",
    "data": {
        "app_id": "nocreds",
        "client_id": "typed-id"
    },
    "context": {}
}`,
		want: Message{Type: "ovos.shell.oauth.register.credentials",
			Data: json.RawMessage(`{
        "app_id": "nocreds",
        "client_id": "typed-id"
    }`),
			Context: map[string]json.RawMessage{}},
	}, {
		name:  "older GUI without context",
		frame: "{\n  \"type\": \"oauth.get\",\n  \"data\": {}\n}\n",
		want:  Message{Type: "oauth.get", Data: json.RawMessage(`{}`), Context: map[string]json.RawMessage{}},
	}, {
		name:  "type only",
		frame: `{"type":"a"}`,
		want:  Message{Type: "a", Data: json.RawMessage(`{}`), Context: map[string]json.RawMessage{}},
	}, {
		name:  "null data and context",
		frame: `{"type":"a","data":null,"context":null}`,
		want:  Message{Type: "a", Data: json.RawMessage(`{}`), Context: map[string]json.RawMessage{}},
	}, {
		name:  "type last, extra keys ignored",
		frame: `{"data":{"x":[1,{"type":"no"}]},"extra":[{"type":"no"}],"type":"a"}`,
		want: Message{Type: "a", Data: json.RawMessage(`{"x":[1,{"type":"no"}]}`),
			Context: map[string]json.RawMessage{}},
	}, {
		name:  "escaped type",
		frame: `{"type":"a\"b\u00e9","data":{}}`,
		want:  Message{Type: "a\"bé", Data: json.RawMessage(`{}`), Context: map[string]json.RawMessage{}},
	}, {
		name:  "key matched case-sensitively like Python",
		frame: `{"Type":"no","type":"a","Data":[1]}`,
		want:  Message{Type: "a", Data: json.RawMessage(`{}`), Context: map[string]json.RawMessage{}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.frame))
			if err != nil {
				t.Fatalf("Decode() error = %v", err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("Decode() (-got +want):\n%s", diff)
			}
			var viaJSON Message
			if err := json.Unmarshal([]byte(tt.frame), &viaJSON); err != nil {
				t.Fatalf("json.Unmarshal() error = %v", err)
			}
			if diff := cmp.Diff(viaJSON, tt.want); diff != "" {
				t.Errorf("json.Unmarshal() (-got +want):\n%s", diff)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, frame string }{
		{"empty", ``},
		{"whitespace", " \n "},
		{"null", `null`},
		{"array", `[{"type":"a"}]`},
		{"string", `"type"`},
		{"number", `42`},
		{"garbage", `type=a`},
		{"no type", `{"data":{}}`},
		{"empty type", `{"type":""}`},
		{"null type", `{"type":null}`},
		{"number type", `{"type":5}`},
		{"array type", `{"type":["a"]}`},
		{"object type", `{"type":{"a":1}}`},
		{"upper-case key only", `{"TYPE":"a"}`},
		{"data array", `{"type":"a","data":[1]}`},
		{"data string", `{"type":"a","data":"x"}`},
		{"data number", `{"type":"a","data":1}`},
		{"data false", `{"type":"a","data":false}`},
		{"context array", `{"type":"a","context":[]}`},
		{"context string", `{"type":"a","context":"x"}`},
		{"duplicate type", `{"type":"a","type":"b"}`},
		{"duplicate escaped type", `{"type":"a","t\u0079pe":"b"}`},
		{"duplicate data", `{"type":"a","data":{},"data":{}}`},
		{"duplicate context", `{"type":"a","context":{},"context":{}}`},
		{"truncated", `{"type":"a"`},
		{"trailing comma", `{"type":"a",}`},
		{"bad value", `{"type":"a","data":{"x":}}`},
		{"trailing data", `{"type":"a"} x`},
		{"two objects", `{"type":"a"}{"type":"b"}`},
		{"missing colon", `{"type" "a"}`},
		{"missing comma", `{"type":"a" "data":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := Decode([]byte(tt.frame)); err == nil {
				t.Errorf("Decode(%q) = %v, want an error", tt.frame, m.LogValue())
			}
			var m Message
			if err := m.UnmarshalJSON([]byte(tt.frame)); err == nil {
				t.Errorf("UnmarshalJSON(%q) error = nil, want an error", tt.frame)
			}
		})
	}
}

func TestMarshalJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		m    Message
		want string
	}{{
		name: "nil data and context",
		m:    Message{Type: "a"},
		want: `{"type":"a","data":{},"context":{}}`,
	}, {
		name: "null data",
		m:    Message{Type: "a", Data: json.RawMessage(`null`)},
		want: `{"type":"a","data":{},"context":{}}`,
	}, {
		name: "indented raw values are compacted",
		m: Message{Type: "a", Data: json.RawMessage("{\n  \"x\": [1, 2]\n}"),
			Context: map[string]json.RawMessage{"session": json.RawMessage("{ \"session_id\" : \"default\" }")}},
		want: `{"type":"a","data":{"x":[1,2]},"context":{"session":{"session_id":"default"}}}`,
	}, {
		name: "no HTML escaping, raw bytes kept",
		m: Message{Type: "a<b>", Data: json.RawMessage(`{"url":"https://x/?a=1&b=<2>","e":"\u00e9"}`),
			Context: map[string]json.RawMessage{"source": json.RawMessage(`"s&d"`)}},
		want: `{"type":"a<b>","data":{"url":"https://x/?a=1&b=<2>","e":"\u00e9"},"context":{"source":"s&d"}}`,
	}, {
		name: "context keys sorted",
		m: Message{Type: "a", Context: map[string]json.RawMessage{
			"source": json.RawMessage(`"s"`), "destination": json.RawMessage(`"d"`), "session": json.RawMessage(`{}`)}},
		want: `{"type":"a","data":{},"context":{"destination":"d","session":{},"source":"s"}}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.m.MarshalJSON()
			if err != nil {
				t.Fatalf("MarshalJSON() error = %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("MarshalJSON() = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestMarshalJSONRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		m    Message
	}{
		{"no type", Message{Data: json.RawMessage(`{}`)}},
		{"data array", Message{Type: "a", Data: json.RawMessage(`[1]`)}},
		{"data string", Message{Type: "a", Data: json.RawMessage(`"x"`)}},
		{"data invalid", Message{Type: "a", Data: json.RawMessage(`{"x":`)}},
		{"context value invalid", Message{Type: "a", Context: map[string]json.RawMessage{"s": json.RawMessage(`{`)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := tt.m.MarshalJSON(); err == nil {
				t.Errorf("MarshalJSON() = %s, want an error", got)
			}
		})
	}
}

// registerResponse is the data of the fixture's first oauth.register.response,
// with its fields in the same order.
type registerResponse struct {
	MungedID   string `json:"munged_id"`
	ClientID   string `json:"client_id"`
	NeedsCreds bool   `json:"needs_creds"`
}

func TestResponseMatchesUpstream(t *testing.T) {
	t.Parallel()
	frames := upstreamFrames(t)
	// Lines 3 and 4: the first oauth.register and its reply, whose request
	// carries both source and destination.
	req, err := Decode(frames[2])
	if err != nil {
		t.Fatal(err)
	}
	want, err := Decode(frames[3])
	if err != nil {
		t.Fatal(err)
	}
	if req.Type != "oauth.register" || want.Type != "oauth.register.response" {
		t.Fatalf("fixture lines 3-4 are %s and %s, want the first oauth.register pair", req.Type, want.Type)
	}
	got := req.Response(registerResponse{MungedID: "skill-demo.test_demoapp", ClientID: "cid"})
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Response() differs from upstream's reply (-got +want):\n%s", diff)
	}
	// The session travels byte for byte, through encoding too.
	enc, err := got.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(enc, req.Context["session"]) || !bytes.Contains(frames[2], req.Context["session"]) {
		t.Errorf("encoded reply does not carry the request's session verbatim")
	}
}

func TestReply(t *testing.T) {
	t.Parallel()
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	session := raw(`{"session_id":"default","lang":"en-US","context":{"timeout":120}}`)
	tests := []struct {
		name string
		ctx  map[string]json.RawMessage
		want map[string]json.RawMessage
	}{{
		name: "source and destination swapped",
		ctx:  map[string]json.RawMessage{"source": raw(`"skill"`), "destination": raw(`"PHAL"`), "session": session},
		want: map[string]json.RawMessage{"source": raw(`"PHAL"`), "destination": raw(`"skill"`), "session": session},
	}, {
		name: "list destination swapped too",
		ctx:  map[string]json.RawMessage{"source": raw(`"skill"`), "destination": raw(`["a","b"]`)},
		want: map[string]json.RawMessage{"source": raw(`["a","b"]`), "destination": raw(`"skill"`)},
	}, {
		name: "null counts as present",
		ctx:  map[string]json.RawMessage{"source": raw(`"skill"`), "destination": raw(`null`)},
		want: map[string]json.RawMessage{"source": raw(`null`), "destination": raw(`"skill"`)},
	}, {
		name: "only source: nothing swapped",
		ctx:  map[string]json.RawMessage{"source": raw(`"skill"`), "session": session},
		want: map[string]json.RawMessage{"source": raw(`"skill"`), "session": session},
	}, {
		name: "only destination: nothing swapped",
		ctx:  map[string]json.RawMessage{"destination": raw(`"PHAL"`)},
		want: map[string]json.RawMessage{"destination": raw(`"PHAL"`)},
	}, {
		name: "empty",
		ctx:  map[string]json.RawMessage{},
		want: map[string]json.RawMessage{},
	}, {
		name: "nil",
		ctx:  nil,
		want: map[string]json.RawMessage{},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := Message{Type: "oauth.get", Data: raw(`{"app_id":"a"}`), Context: tt.ctx}
			before := cloneContext(tt.ctx)

			got := req.Reply("oauth.url", map[string]string{"url": "https://x/?a=1&b=2"})
			want := Message{Type: "oauth.url", Data: raw(`{"url":"https://x/?a=1&b=2"}`), Context: tt.want}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("Reply() (-got +want):\n%s", diff)
			}
			resp := req.Response(nil)
			want = Message{Type: "oauth.get.response", Data: raw(`{}`), Context: tt.want}
			if diff := cmp.Diff(resp, want); diff != "" {
				t.Errorf("Response() (-got +want):\n%s", diff)
			}
			fwd := req.Forward("oauth.forwarded", struct {
				N int `json:"n"`
			}{1})
			want = Message{Type: "oauth.forwarded", Data: raw(`{"n":1}`), Context: cloneContext(tt.ctx)}
			if diff := cmp.Diff(fwd, want); diff != "" {
				t.Errorf("Forward() (-got +want):\n%s", diff)
			}

			// Replies own their context: changing one leaves the request alone.
			for _, m := range []Message{got, resp, fwd} {
				m.Context["source"] = raw(`"mutated"`)
				delete(m.Context, "session")
			}
			if diff := cmp.Diff(cloneContext(req.Context), before); diff != "" {
				t.Errorf("request context changed (-got +want):\n%s", diff)
			}
		})
	}
}

func TestNewMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data any
		want string
	}{
		{"nil", nil, `{}`},
		{"nil map", map[string]int(nil), `{}`},
		{"map", map[string]any{"b": 1, "a": "x&y"}, `{"a":"x&y","b":1}`},
		{"struct", registerResponse{MungedID: "m"}, `{"munged_id":"m","client_id":"","needs_creds":false}`},
		{"raw", json.RawMessage(`{ "a" : 1 }`), `{"a":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMessage("oauth.ping", tt.data)
			want := Message{Type: "oauth.ping", Data: json.RawMessage(tt.want), Context: map[string]json.RawMessage{}}
			if diff := cmp.Diff(m, want); diff != "" {
				t.Errorf("NewMessage() (-got +want):\n%s", diff)
			}
		})
	}
}

func TestDataHelpersPanicOnProgrammerError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data any
	}{
		{"unmarshalable", map[string]any{"c": make(chan int)}},
		{"array", []int{1}},
		{"string", "x"},
		{"number", 3},
	}
	req := Message{Type: "oauth.get"}
	for _, tt := range tests {
		for name, f := range map[string]func(){
			"NewMessage": func() { NewMessage("a", tt.data) },
			"Reply":      func() { req.Reply("a", tt.data) },
			"Response":   func() { req.Response(tt.data) },
			"Forward":    func() { req.Forward("a", tt.data) },
		} {
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				defer func() {
					r := recover()
					if s, _ := r.(string); !strings.HasPrefix(s, "bus: ") {
						t.Errorf("recover() = %v, want a bus: panic", r)
					}
				}()
				f()
			})
		}
	}
}

func TestDecodeData(t *testing.T) {
	t.Parallel()
	var v struct {
		AppID string `json:"app_id"`
	}
	if err := (Message{Type: "a", Data: json.RawMessage(`{"app_id":"x"}`)}).DecodeData(&v); err != nil || v.AppID != "x" {
		t.Errorf("DecodeData() = %v, %q, want nil, x", err, v.AppID)
	}
	v.AppID = ""
	if err := (Message{Type: "a"}).DecodeData(&v); err != nil || v.AppID != "" {
		t.Errorf("DecodeData() of nil data = %v, %q, want nil, empty", err, v.AppID)
	}
	if err := (Message{Type: "a", Data: json.RawMessage(`{"app_id":1}`)}).DecodeData(&v); err == nil {
		t.Errorf("DecodeData() of a number into a string: error = nil, want an error")
	}
}

func TestLogValueHidesContents(t *testing.T) {
	t.Parallel()
	m, err := Decode(upstreamFrame(t, "oauth.token.response.skill-demo.test_demoapp"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("frame", "msg", m)
	if out := buf.String(); !strings.Contains(out, "msg.type=oauth.token.response.skill-demo.test_demoapp") ||
		strings.Contains(out, "AT-first") || strings.Contains(out, "RT-1") {
		t.Errorf("log line = %q, want the type and no token", out)
	}
}

// spaced is a json.Marshaler whose output has spaces in it.
type spaced struct{}

func (*spaced) MarshalJSON() ([]byte, error) { return []byte(`{"a": 1}`), nil }

// TestDataOfMarshalerTakenAsItIs: the data of a json.Marshaler (the wire
// types) is its own output, not encoded a second time (which would
// compact it); a nil one is {}.
func TestDataOfMarshalerTakenAsItIs(t *testing.T) {
	t.Parallel()
	if got := string(NewMessage("x", &spaced{}).Data); got != `{"a": 1}` {
		t.Errorf("data = %s, want the Marshaler's own output", got)
	}
	if got := string(NewMessage("x", (*spaced)(nil)).Data); got != `{}` {
		t.Errorf("data of a nil Marshaler = %s, want {}", got)
	}
}
