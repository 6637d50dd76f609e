package mirror

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// encodeEntries is writeEntries into memory.
func encodeEntries(entries map[string]json.RawMessage) ([]byte, error) {
	var buf bytes.Buffer
	err := writeEntries(&buf, entries)
	return buf.Bytes(), err
}

// encodeWhole is how the files were written before writeEntries: the whole
// map through one indenting json.Encoder. writeEntries must write the same
// bytes.
func encodeWhole(entries map[string]json.RawMessage) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	err := enc.Encode(entries)
	return buf.Bytes(), err
}

// FuzzEntriesAsBefore checks that parseEntries, which slices the file's
// text instead of copying it, reads what json.Unmarshal reads, byte for
// byte, and refuses what it refuses; and that writeEntries, which streams,
// writes what one json.Encoder of the whole map writes.
func FuzzEntriesAsBefore(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, ` {} `, `null`, `[]`, `{"a":1`, `{} {}`, `{"a" 1}`, `{"a":1,}`,
		`{"ocp_spotify": {"scope": "a <&> ♫", "big": 12345678901234567890, "r": 1.50, "e": "caf\u00e9"}}`,
		`{"a": {"b": 1, "a": [true, null, {}, [], "x\"}]"]}, "a": 2, "\u0061": 3, "k\n": "\u2028"}`,
		"{\"t\": {\n\t\"x\": [1 , 2]\r\n}  ,\"u\":-0.5e+3 ,\"v\":false}",
		"{\"\xff\": 1}", "{\"a\": \"\xff\"}", `{"a":"</script>"}`, `{"":{"":""}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseEntries(data)
		trimmed := bytes.Trim(data, " \t\r\n")
		var want map[string]json.RawMessage
		wantErr := json.Unmarshal(trimmed, &want)
		switch {
		case len(trimmed) == 0:
			if err != nil || len(got) != 0 {
				t.Fatalf("parseEntries(%q) = %v, %v, want no entries", data, got, err)
			}
			return
		case wantErr != nil || trimmed[0] != '{':
			if err == nil {
				t.Fatalf("parseEntries(%q) = %v, want errNotObject as Unmarshal fails (%v) or it is no object", data, got, wantErr)
			}
			return
		case err != nil:
			t.Fatalf("parseEntries(%q) error = %v, Unmarshal reads %v", data, err, want)
		}
		if len(got) != len(want) {
			t.Fatalf("parseEntries(%q) = %d entries, Unmarshal %d", data, len(got), len(want))
		}
		for k, v := range want {
			if !bytes.Equal(got[k], v) {
				t.Errorf("parseEntries(%q)[%q] = %q, Unmarshal %q", data, k, got[k], v)
			}
		}
		out, err := encodeEntries(got)
		if err != nil {
			t.Fatalf("writeEntries() error = %v for %q", err, data)
		}
		whole, err := encodeWhole(want)
		if err != nil {
			t.Fatalf("json.Encoder error = %v for %q", err, data)
		}
		if !bytes.Equal(out, whole) {
			t.Errorf("writeEntries wrote\n%s\na json.Encoder of the whole map\n%s", out, whole)
		}
	})
}

// FuzzParseEntries checks that whatever another program left in the file is
// either refused whole or comes back, entry by entry, as it was.
func FuzzParseEntries(f *testing.F) {
	for _, seed := range []string{
		``, ` `, `{}`, `null`, `[]`, `"x"`, `{"a":1`, `{} {}`,
		"// c\n{}", "\ufeff{}",
		`{"ocp_spotify": {"scope": "a <&> ♫", "big": 12345678901234567890, "r": 1.50, "e": "caf\u00e9"}}`,
		`{"a": {"b": 1, "a": [true, null, {}, []]}, "a": 2}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseEntries(data)
		if err != nil {
			if !errors.Is(err, errNotObject) {
				t.Fatalf("parseEntries(%q) error = %v, want errNotObject", data, err)
			}
			return
		}
		out, err := encodeEntries(entries)
		if err != nil {
			t.Fatalf("encodeEntries() error = %v for %q", err, data)
		}
		again, err := parseEntries(out)
		if err != nil {
			t.Fatalf("parseEntries(encodeEntries()) error = %v:\n%s", err, out)
		}
		if len(again) != len(entries) {
			t.Fatalf("round trip has %d entries, want %d:\n%s", len(again), len(entries), out)
		}
		for k, v := range entries {
			var want, got bytes.Buffer
			if err := json.Compact(&want, v); err != nil {
				t.Fatal(err)
			}
			if err := json.Compact(&got, again[k]); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("entry %q = %s after a round trip, want %s", k, got.Bytes(), want.Bytes())
			}
		}
	})
}
