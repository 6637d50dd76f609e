package bus

import (
	"bytes"
	"testing"
)

// FuzzScanSealed checks that the in-place scanner of encrypted frames agrees
// with the full JSON walk on every frame it takes.
func FuzzScanSealed(f *testing.F) {
	c, err := NewCipher("0123456789abcdef")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(c.Seal([]byte(`{"type":"x"}`))),
		`{"ciphertext": "00", "tag": null, "nonce": "11"}`,
		`{"nonce":"","ciphertext":""}`,
		"{\n \"ciphertext\" : \"ab\" ,\n \"tag\":\"cd\"}\n",
		`{}`,
		`{"ciphertext":null}`,
		`{"ciphertext":"a","ciphertext":"b"}`,
		`{"ciphertext":"a"} x`,
		`{"ciphertext":nullx}`,
		`{"ciphertext":"\u0030"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		fast, ok := scanSealed(frame)
		if !ok {
			return
		}
		slow, err := parseSealed(frame)
		if err != nil {
			t.Fatalf("scanSealed took %q, parseSealed() error = %v", frame, err)
		}
		for i, pair := range [][2]sealedPart{{fast.ciphertext, slow.ciphertext}, {fast.tag, slow.tag}, {fast.nonce, slow.nonce}} {
			a, b := pair[0], pair[1]
			if a.set != b.set || a.null != b.null || !bytes.Equal(a.hex, b.hex) {
				t.Errorf("part %d of %q: scanSealed %+v, parseSealed %+v", i, frame, a, b)
			}
		}
	})
}
