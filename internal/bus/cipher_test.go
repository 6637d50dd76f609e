package bus_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
)

// encryptedFixtures holds vectors made with pycryptodome, which
// ovos-bus-client uses (a copy of shared/fixtures/encrypted-frames.json).
const encryptedFixtures = "testdata/encrypted-frames.json"

type vector struct {
	SecretKey      string          `json:"secret_key"`
	Plaintext      string          `json:"plaintext"`
	Frame          json.RawMessage `json:"frame"`
	WebcryptoFrame json.RawMessage `json:"webcrypto_frame"`
}

// sealedFrame is an encrypted frame's parts, for tests that take one apart.
type sealedFrame struct {
	Ciphertext string  `json:"ciphertext"`
	Tag        *string `json:"tag,omitempty"`
	Nonce      string  `json:"nonce"`
}

// vectors reads the fixture file.
func vectors(t testing.TB) []vector {
	t.Helper()
	data, err := os.ReadFile(encryptedFixtures)
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatalf("%s: %v", encryptedFixtures, err)
	}
	if len(vs) == 0 {
		t.Fatalf("%s has no vectors", encryptedFixtures)
	}
	return vs
}

func mustCipher(t testing.TB, key string) *bus.Cipher {
	t.Helper()
	c, err := bus.NewCipher(key)
	if err != nil {
		t.Fatalf("NewCipher(%d bytes) = %v", len(key), err)
	}
	return c
}

func parseSealed(t *testing.T, frame []byte) sealedFrame {
	t.Helper()
	var f sealedFrame
	dec := json.NewDecoder(bytes.NewReader(frame))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("sealed frame %s: %v", frame, err)
	}
	return f
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCipherFixtures checks every pycryptodome vector both ways: Open reads
// its frame in both shapes, and Seal with its nonce writes the same bytes.
func TestCipherFixtures(t *testing.T) {
	t.Parallel()
	sizes := map[int]bool{}
	for i, v := range vectors(t) {
		t.Run(fmt.Sprintf("%d/AES-%d", i, 8*len(v.SecretKey)), func(t *testing.T) {
			sizes[len(v.SecretKey)] = true
			c := mustCipher(t, v.SecretKey)
			for name, frame := range map[string][]byte{"pycryptodome": v.Frame, "webcrypto": v.WebcryptoFrame} {
				got, err := c.Open(frame)
				if err != nil {
					t.Fatalf("Open(%s frame) error = %v", name, err)
				}
				if string(got) != v.Plaintext {
					t.Errorf("Open(%s frame) = %s, want %s", name, got, v.Plaintext)
				}
			}

			want := parseSealed(t, v.Frame)
			sealed := bus.SealWithNonce(c, []byte(v.Plaintext), unhex(t, want.Nonce))
			if got := parseSealed(t, sealed); got.Ciphertext != want.Ciphertext || *got.Tag != *want.Tag || got.Nonce != want.Nonce {
				t.Errorf("Seal(plaintext, fixture nonce) = %s, want %s", sealed, v.Frame)
			}
		})
	}
	for _, n := range []int{16, 24, 32} {
		if !sizes[n] {
			t.Errorf("no fixture vector with a %d-byte key", n)
		}
	}
}

func TestCipherRoundTrip(t *testing.T) {
	t.Parallel()
	plaintexts := [][]byte{
		[]byte(`{"type":"oauth.get.app.host.info","data":{},"context":{}}`),
		upstreamFrame(t, "ovos.session.sync"),
		[]byte("{}"),
		nil,
		bytes.Repeat([]byte("é"), 50_000),
	}
	for _, key := range []string{"0123456789abcdef", "0123456789abcdef01234567", "0123456789abcdef0123456789abcdef", "éééééééé"} {
		c := mustCipher(t, key)
		for _, p := range plaintexts {
			sealed := c.Seal(p)
			if bytes.Contains(sealed, []byte(key)) || (len(p) > 0 && bytes.Contains(sealed, p)) {
				t.Fatalf("Seal() output contains the key or the plaintext")
			}
			f := parseSealed(t, sealed)
			if len(f.Nonce) != 32 || f.Tag == nil || len(*f.Tag) != 32 || len(f.Ciphertext) != 2*len(p) {
				t.Errorf("Seal(%d bytes): nonce %d, tag %v, ciphertext %d hex digits; want 32, 32, %d", len(p), len(f.Nonce), f.Tag, len(f.Ciphertext), 2*len(p))
			}
			if strings.ToLower(string(sealed)) != string(sealed) {
				t.Errorf("Seal() hex is not lower case: %.80s", sealed)
			}
			got, err := c.Open(sealed)
			if err != nil || !bytes.Equal(got, p) {
				t.Errorf("Open(Seal(%.40q)) = %.40q, %v", p, got, err)
			}
			// The same frame as a WebCrypto client writes it.
			web, _ := json.Marshal(sealedFrame{Ciphertext: f.Ciphertext + *f.Tag, Nonce: f.Nonce})
			if got, err := c.Open(web); err != nil || !bytes.Equal(got, p) {
				t.Errorf("Open(WebCrypto shape of Seal(%.40q)) = %.40q, %v", p, got, err)
			}
		}
		a, b := c.Seal(plaintexts[0]), c.Seal(plaintexts[0])
		if parseSealed(t, a).Nonce == parseSealed(t, b).Nonce {
			t.Error("two Seal() calls used the same nonce")
		}
	}
}

// flipBit flips the lowest bit of byte i of a hex string.
func flipBit(t *testing.T, s string, i int) string {
	b := unhex(t, s)
	b[i] ^= 1
	return hex.EncodeToString(b)
}

func TestCipherTampering(t *testing.T) {
	t.Parallel()
	c := mustCipher(t, "0123456789abcdef")
	f := parseSealed(t, c.Seal([]byte(`{"type":"oauth.get","data":{"app_id":"demoapp"},"context":{}}`)))
	tests := []struct {
		name   string
		modify func(f *sealedFrame)
	}{
		{"ciphertext first byte", func(f *sealedFrame) { f.Ciphertext = flipBit(t, f.Ciphertext, 0) }},
		{"ciphertext last byte", func(f *sealedFrame) { f.Ciphertext = flipBit(t, f.Ciphertext, len(f.Ciphertext)/2-1) }},
		{"tag", func(f *sealedFrame) { s := flipBit(t, *f.Tag, 7); f.Tag = &s }},
		{"nonce", func(f *sealedFrame) { f.Nonce = flipBit(t, f.Nonce, 15) }},
		{"ciphertext truncated", func(f *sealedFrame) { f.Ciphertext = f.Ciphertext[:len(f.Ciphertext)-2] }},
		{"ciphertext extended", func(f *sealedFrame) { f.Ciphertext += "00" }},
		{"tag dropped", func(f *sealedFrame) { f.Tag = nil }}, // read as WebCrypto: the last 16 bytes are no tag
		{"web tag flipped", func(f *sealedFrame) {
			f.Ciphertext, f.Tag = flipBit(t, f.Ciphertext+*f.Tag, len(f.Ciphertext)/2+3), nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := f
			tt.modify(&g)
			frame, _ := json.Marshal(g)
			if got, err := c.Open(frame); !errors.Is(err, bus.ErrDecrypt) {
				t.Errorf("Open(tampered) = %.40q, %v; want ErrDecrypt", got, err)
			}
		})
	}
}

func TestCipherWrongKey(t *testing.T) {
	t.Parallel()
	for i, v := range vectors(t) {
		for _, key := range []string{"fedcba9876543210", "0123456789abcdeF", strings.Repeat("k", 24), strings.Repeat("k", 32)} {
			if key == v.SecretKey {
				continue
			}
			for _, frame := range [][]byte{v.Frame, v.WebcryptoFrame} {
				if got, err := mustCipher(t, key).Open(frame); !errors.Is(err, bus.ErrDecrypt) {
					t.Errorf("vector %d: Open with another %d-byte key = %.40q, %v; want ErrDecrypt", i, len(key), got, err)
				}
			}
		}
	}
}

func TestNewCipherKeyLength(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"", "short", "0123456789abcde", "0123456789abcdef0", strings.Repeat("x", 31), strings.Repeat("x", 33), strings.Repeat("x", 64), "ééééééé"} {
		c, err := bus.NewCipher(key)
		if err == nil {
			t.Errorf("NewCipher(%d bytes) = %v, want an error", len(key), c)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%d bytes", len(key))) || !strings.Contains(err.Error(), "16, 24 or 32") {
			t.Errorf("NewCipher(%d bytes) error = %q, want it to give the length and the lengths allowed", len(key), err)
		}
		if len(key) >= 5 && strings.Contains(err.Error(), key) {
			t.Errorf("NewCipher error %q contains the key", err)
		}
	}
}

// TestCipherNeverPrintsKey formats and logs a Cipher every way there is.
func TestCipherNeverPrintsKey(t *testing.T) {
	t.Parallel()
	const key = "KEY-0123456789abcdefKEY-01234567"
	c := mustCipher(t, key)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "cipher", c)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "cipher", c)
	out := fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c, c) + logs.String()
	if strings.Contains(out, "KEY-") || strings.Contains(out, hex.EncodeToString([]byte(key))[:16]) {
		t.Errorf("formatting a Cipher shows its key: %s", out)
	}
	if !strings.Contains(out, "AES-256-GCM") {
		t.Errorf("formatting a Cipher = %s, want it to name AES-256-GCM", out)
	}
}

func TestCipherOpenShapes(t *testing.T) {
	t.Parallel()
	c := mustCipher(t, "0123456789abcdef")
	plain := []byte(`{"type":"x","data":{},"context":{}}`)
	f := parseSealed(t, c.Seal(plain))
	ct, tag, nonce := f.Ciphertext, *f.Tag, f.Nonce
	tests := []struct {
		name  string
		frame string
	}{
		{"python json.dumps spacing", fmt.Sprintf(`{"ciphertext": %q, "tag": %q, "nonce": %q}`, ct, tag, nonce)},
		{"other key order", fmt.Sprintf(`{"nonce":%q,"tag":%q,"ciphertext":%q}`, nonce, tag, ct)},
		{"upper-case hex", fmt.Sprintf(`{"ciphertext":%q,"tag":%q,"nonce":%q}`, strings.ToUpper(ct), strings.ToUpper(tag), strings.ToUpper(nonce))},
		{"extra keys", fmt.Sprintf(`{"v":1,"ciphertext":%q,"x":{"ciphertext":[]},"tag":%q,"nonce":%q}`, ct, tag, nonce)},
		{"null tag is WebCrypto", fmt.Sprintf(`{"ciphertext":%q,"tag":null,"nonce":%q}`, ct+tag, nonce)},
		{"indented", fmt.Sprintf("{\n  \"ciphertext\": %q,\n  \"tag\": %q,\n  \"nonce\": %q\n}\n", ct, tag, nonce)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Open([]byte(tt.frame))
			if err != nil || !bytes.Equal(got, plain) {
				t.Errorf("Open(%s) = %s, %v; want %s", tt.frame, got, err, plain)
			}
		})
	}
}

func TestCipherOpenRejects(t *testing.T) {
	t.Parallel()
	c := mustCipher(t, "0123456789abcdef")
	f := parseSealed(t, c.Seal([]byte(`{"type":"x"}`)))
	ct, tag, nonce := f.Ciphertext, *f.Tag, f.Nonce
	notEncrypted := []string{
		``,
		`not json`,
		`{"type":"oauth.get","data":{},"context":{}}`,
		`{"type":"oauth.get","data":{"ciphertext":"00","nonce":"00"}}`,
		`["ciphertext"]`,
		`"ciphertext"`,
		`{"type":"x","data":{"note":"ciphertext"`, // broken before any ciphertext member: the plain path judges it
		`{"Ciphertext":"00","tag":"00","nonce":"00"}`,
		`{"\u0063iphertext":"00","tag":"00","nonce":"00"}`,
	}
	for _, frame := range notEncrypted {
		if got, err := c.Open([]byte(frame)); !errors.Is(err, bus.ErrNotEncrypted) {
			t.Errorf("Open(%s) = %q, %v; want ErrNotEncrypted", frame, got, err)
		}
	}
	malformed := []string{
		fmt.Sprintf(`{"ciphertext":%q,"tag":%q}`, ct, tag),
		fmt.Sprintf(`{"ciphertext":%q,"tag":%q,"nonce":null}`, ct, tag),
		fmt.Sprintf(`{"ciphertext":null,"tag":%q,"nonce":%q}`, tag, nonce),
		fmt.Sprintf(`{"ciphertext":42,"tag":%q,"nonce":%q}`, tag, nonce),
		fmt.Sprintf(`{"ciphertext":"zz%s","tag":%q,"nonce":%q}`, ct, tag, nonce),
		fmt.Sprintf(`{"ciphertext":"%s0","tag":%q,"nonce":%q}`, ct, tag, nonce),
		fmt.Sprintf(`{"ciphertext":%q,"tag":"%s00","nonce":%q}`, ct, tag, nonce),
		fmt.Sprintf(`{"ciphertext":%q,"tag":%q,"nonce":%q}`, ct, tag[:30], nonce),
		fmt.Sprintf(`{"ciphertext":%q,"tag":"","nonce":%q}`, ct, nonce),
		fmt.Sprintf(`{"ciphertext":%q,"tag":"zz%s","nonce":%q}`, ct, tag[2:], nonce),
		fmt.Sprintf(`{"ciphertext":%q,"tag":%q,"nonce":%q}`, ct, tag, nonce[:24]), // a 12-byte nonce
		fmt.Sprintf(`{"ciphertext":%q,"tag":%q,"nonce":"%s00"}`, ct, tag, nonce),
		fmt.Sprintf(`{"ciphertext":%q,"tag":%q,"nonce":"zz%s"}`, ct, tag, nonce[2:]),
		fmt.Sprintf(`{"ciphertext":%q,"nonce":%q}`, tag[:30], nonce), // WebCrypto shape shorter than a tag
		fmt.Sprintf(`{"ciphertext":"","nonce":%q}`, nonce),
		fmt.Sprintf(`{"ciphertext":%q,"ciphertext":%q,"tag":%q,"nonce":%q}`, ct, ct, tag, nonce),
		fmt.Sprintf(`{"ciphertext":%q,"tag":%q,"nonce":%q}{}`, ct, tag, nonce),
		fmt.Sprintf(`{"ciphertext":%q,"tag":%q,"nonce":%q`, ct, tag, nonce),
		`{"ciphertext":`,
		`{"ciphertext":"00",`,
	}
	for _, frame := range malformed {
		got, err := c.Open([]byte(frame))
		if err == nil || errors.Is(err, bus.ErrNotEncrypted) || errors.Is(err, bus.ErrDecrypt) {
			t.Errorf("Open(%s) = %q, %v; want a malformed-frame error", frame, got, err)
		}
	}
}

func FuzzOpen(f *testing.F) {
	const key = "0123456789abcdef"
	c := mustCipher(f, key)
	for _, v := range vectors(f) {
		f.Add([]byte(v.Frame))
		f.Add([]byte(v.WebcryptoFrame))
	}
	f.Add(c.Seal([]byte(`{"type":"oauth.get","data":{},"context":{}}`)))
	f.Add(c.Seal(nil))
	f.Add([]byte(`{"ciphertext":"","nonce":"000102030405060708090a0b0c0d0e0f"}`))
	f.Add([]byte(`{"ciphertext":"0","tag":null,"nonce":"0"}`))
	f.Add([]byte(`{"type":"x","data":{"ciphertext":1}}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		plain, err := c.Open(frame)
		if err != nil {
			if plain != nil {
				t.Errorf("Open() = %q with error %v, want nil", plain, err)
			}
			return
		}
		again, err := c.Open(c.Seal(plain))
		if err != nil || !bytes.Equal(again, plain) {
			t.Errorf("Open(Seal(Open(frame))) = %q, %v; want %q", again, err, plain)
		}
	})
}
