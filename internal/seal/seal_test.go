package seal_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/seal"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, seal.KeySize) }

func newBox(t testing.TB, key []byte) *seal.Box {
	t.Helper()
	box, err := seal.NewBox(key)
	if err != nil {
		t.Fatalf("NewBox() = %v", err)
	}
	return box
}

func TestSealOpen(t *testing.T) {
	box := newBox(t, testKey(1))
	plain := []byte(`{"access_token":"at-123"}`)
	ad := []byte("tokens\x00skill_app")

	sealed := box.Seal(plain, ad)
	if len(sealed) != len(plain)+seal.Overhead {
		t.Errorf("len(Seal()) = %d, want %d", len(sealed), len(plain)+seal.Overhead)
	}
	if sealed[0] != 0x01 {
		t.Errorf("Seal()[0] = %#x, want version 0x01", sealed[0])
	}
	if bytes.Contains(sealed, plain) || bytes.Contains(sealed, []byte("at-123")) {
		t.Error("Seal() output contains the plaintext")
	}
	got, err := box.Open(sealed, ad)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	if !bytes.Equal(got, plain) {
		t.Errorf("Open() = %q, want %q", got, plain)
	}
	if again := box.Seal(plain, ad); bytes.Equal(again, sealed) {
		t.Error("two Seal() calls gave the same bytes: the nonce is not fresh")
	}
	if got, err := box.Open(box.Seal(nil, ad), ad); err != nil || len(got) != 0 {
		t.Errorf("Open(Seal(nil)) = %q, %v; want empty, nil", got, err)
	}
}

func TestOpenRefuses(t *testing.T) {
	box := newBox(t, testKey(1))
	ad := []byte("tokens\x00skill_app")
	sealed := box.Seal([]byte("secret value"), ad)
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name   string
		box    *seal.Box
		sealed []byte
		ad     []byte
		want   error // nil: any error
	}{
		{"other key", newBox(t, testKey(2)), sealed, ad, seal.ErrOpen},
		{"other record", box, sealed, []byte("tokens\x00skill_other"), seal.ErrOpen},
		{"other bucket", box, sealed, []byte("apps\x00skill_app"), seal.ErrOpen},
		{"no additional data", box, sealed, nil, seal.ErrOpen},
		{"nonce altered", box, flip(1), ad, seal.ErrOpen},
		{"ciphertext altered", box, flip(14), ad, seal.ErrOpen},
		{"tag altered", box, flip(len(sealed) - 1), ad, seal.ErrOpen},
		{"truncated", box, sealed[:len(sealed)-1], ad, seal.ErrOpen},
		{"unknown version", box, append([]byte{0x02}, sealed[1:]...), ad, nil},
		{"too short", box, sealed[:seal.Overhead-1], ad, nil},
		{"empty", box, nil, ad, nil},
		{"plain JSON", box, []byte(`{"access_token":"secret value, long enough to pass"}`), ad, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.box.Open(tt.sealed, tt.ad)
			if err == nil {
				t.Fatalf("Open() = %q, nil; want an error", got)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Open() = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret value") {
				t.Errorf("Open() error %q holds the plaintext", err)
			}
		})
	}
}

func TestNewBoxKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := seal.NewBox(make([]byte, n)); err == nil {
			t.Errorf("NewBox(%d bytes) = nil error, want one", n)
		}
	}
}

// TestBoxRedacted: no formatting path prints the key or its schedule.
func TestBoxRedacted(t *testing.T) {
	key := testKey(0xab)
	box := newBox(t, key)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("box", "box", box)
	outs := []string{
		fmt.Sprintf("%v", box), fmt.Sprintf("%+v", box), fmt.Sprintf("%#v", box), fmt.Sprint(box),
		fmt.Sprintf("%v", *box), fmt.Sprintf("%+v", *box), logs.String(),
	}
	for _, out := range outs {
		// The key as bytes, hex or the 32-bit words of the AES key schedule.
		for _, k := range []string{"ab ab", "abab", "171 171", "0xab", "2880154539"} {
			if strings.Contains(out, k) {
				t.Errorf("formatted Box %q shows the key", out)
			}
		}
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("formatted Box = %q, want REDACTED", out)
		}
	}
}

func TestReadKeyFile(t *testing.T) {
	key := testKey(0x5a)
	tests := []struct {
		name    string
		content []byte
		wantErr bool
	}{
		{"raw bytes", key, false},
		{"hex and newline", []byte(hex.EncodeToString(key) + "\n"), false},
		{"upper-case hex in white space", []byte("  " + strings.ToUpper(hex.EncodeToString(key)) + "\r\n"), false},
		{"empty", nil, true},
		{"short raw", key[:31], true},
		{"long raw", append(bytes.Clone(key), 0), true},
		{"short hex", []byte(hex.EncodeToString(key[:31]) + "\n"), true},
		{"long hex", []byte(hex.EncodeToString(append(bytes.Clone(key), 1)) + "\n"), true},
		{"not hex", []byte(strings.Repeat("zq", seal.KeySize) + "\n"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secrets.key")
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := seal.ReadKeyFile(path)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ReadKeyFile() = %x, nil; want an error", got)
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("ReadKeyFile() = %q, want it to name %s", err, path)
				}
				for _, part := range []string{"zq", "5a5a", "ZQ", `'z'`, "U+007A"} {
					if strings.Contains(err.Error(), part) {
						t.Errorf("ReadKeyFile() = %q, shows the file's content (%q)", err, part)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadKeyFile() = %v", err)
			}
			if !bytes.Equal(got, key) {
				t.Errorf("ReadKeyFile() = %x, want %x", got, key)
			}
		})
	}
}

// TestReadKeyFileMode: like ssh with a private key, a key file that users
// other than its owner could read or change is refused, with a message
// that says how to fix it; one only its owner can use is read.
func TestReadKeyFileMode(t *testing.T) {
	key := testKey(0x5a)
	for _, tt := range []struct {
		mode    os.FileMode
		refused bool
	}{
		{0o600, false}, {0o400, false}, {0o700, false}, {0o200, false},
		{0o640, true}, {0o644, true}, {0o604, true}, {0o660, true},
		{0o620, true}, {0o602, true}, {0o610, true}, {0o666, true},
	} {
		t.Run(fmt.Sprintf("%04o", tt.mode), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secrets.key")
			if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			got, err := seal.ReadKeyFile(path)
			if !tt.refused {
				if err != nil || !bytes.Equal(got, key) {
					t.Errorf("ReadKeyFile() = %x, %v; want the key", got, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ReadKeyFile() = %x, nil; want it refused", got)
			}
			if !errors.Is(err, seal.ErrKeyExposed) {
				t.Errorf("ReadKeyFile() = %v, want it to match ErrKeyExposed", err)
			}
			for _, want := range []string{path, fmt.Sprintf("(mode %04o)", tt.mode), "only by its owner", "chmod 600 " + path} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("ReadKeyFile() = %q, want it to say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "5a5a") {
				t.Errorf("ReadKeyFile() = %q, shows the key", err)
			}
		})
	}
}

func TestReadKeyFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.key")
	_, err := seal.ReadKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadKeyFile() = %v, want fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("ReadKeyFile() = %q, want it to name %s", err, path)
	}
}

// TestReadKeyFileErrorTypes: a key file that cannot be read, or holds no
// key, is a *KeyFileError that says which, for a program to word in a
// person's language; one open to others an *ExposedError with the fix.
func TestReadKeyFileErrorTypes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	folder := filepath.Join(dir, "folder")
	if err := os.Mkdir(folder, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		path    string
		problem seal.KeyFileProblem
		size    int
		is      error
	}{
		{"missing", filepath.Join(dir, "missing.key"), seal.KeyFileUnreadable, 0, fs.ErrNotExist},
		{"a folder", folder, seal.KeyFileUnreadable, 0, nil},
		{"short", write("short.key", "abc", 0o600), seal.KeyFileNotAKey, 3, nil},
		{"not hex", write("nothex.key", strings.Repeat("zz", 32), 0o600), seal.KeyFileNotAKey, 64, nil},
	} {
		_, err := seal.ReadKeyFile(tt.path)
		e, ok := errors.AsType[*seal.KeyFileError](err)
		if !ok || e.Path != tt.path || e.Problem != tt.problem || e.Size != tt.size {
			t.Errorf("%s: ReadKeyFile() = %#v, want a *KeyFileError of %s, problem %v, size %d", tt.name, err, tt.path, tt.problem, tt.size)
			continue
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: ReadKeyFile() = %v, want it to match %v", tt.name, err, tt.is)
		}
	}
	open := write("open.key", strings.Repeat("5a", 32), 0o640)
	_, err := seal.ReadKeyFile(open)
	if e, ok := errors.AsType[*seal.ExposedError](err); !ok || e.Path != open || e.Mode != 0o640 || !e.Others || e.Fix != "chmod 600 "+open {
		t.Errorf("ReadKeyFile() of a 0640 file = %#v, want an *ExposedError of its mode and fix", err)
	}
}

func TestCreateKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	path := filepath.Join(dir, "secrets.key")
	key, err := seal.CreateKeyFile(path)
	if err != nil {
		t.Fatalf("CreateKeyFile() = %v", err)
	}
	if len(key) != seal.KeySize || bytes.Equal(key, make([]byte, seal.KeySize)) {
		t.Errorf("CreateKeyFile() key = %d bytes %x, want %d random bytes", len(key), key, seal.KeySize)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("mode of %s = %v, want %v", p, got, want)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(key) + "\n"; string(data) != want {
		t.Errorf("key file holds %q, want %q", data, want)
	}
	got, err := seal.ReadKeyFile(path)
	if err != nil || !bytes.Equal(got, key) {
		t.Errorf("ReadKeyFile() = %x, %v; want %x", got, err, key)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %v, want only the key file (no temporary file left)", entries)
	}

	// Never over an existing file: that would lose the key a store needs.
	if _, err := seal.CreateKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second CreateKeyFile() = %v, want fs.ErrExist", err)
	}
	if again, _ := seal.ReadKeyFile(path); !bytes.Equal(again, key) {
		t.Error("second CreateKeyFile() changed the key file")
	}
	other, err := seal.CreateKeyFile(filepath.Join(dir, "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other, key) {
		t.Error("two CreateKeyFile() calls made the same key")
	}
}

// FuzzOpen: whatever a damaged or hostile file holds, Open returns an error
// or the plaintext of a value it sealed, and never panics.
func FuzzOpen(f *testing.F) {
	box := newBox(f, testKey(7))
	ad := []byte("apps\x00skill_app")
	f.Add(box.Seal([]byte(`{"client_secret":"x"}`), ad), ad)
	f.Add([]byte{0x01}, ad)
	f.Add([]byte(`{"a":1}`), []byte(nil))
	f.Fuzz(func(t *testing.T, sealed, ad []byte) {
		plain, err := box.Open(sealed, ad)
		if err != nil {
			return
		}
		// Only a value sealed by box could open: seal it again and open.
		again, err := box.Open(box.Seal(plain, ad), ad)
		if err != nil || !bytes.Equal(again, plain) {
			t.Fatalf("round trip of an opened value = %q, %v", again, err)
		}
	})
}

// benchValue is about the size of a stored token with its raw response.
var benchValue = bytes.Repeat([]byte(`{"access_token":"x"}`), 30)

func BenchmarkSeal(b *testing.B) {
	box := newBox(b, testKey(1))
	ad := []byte("tokens\x00skill_app")
	b.SetBytes(int64(len(benchValue)))
	for b.Loop() {
		box.Seal(benchValue, ad)
	}
}

func BenchmarkOpen(b *testing.B) {
	box := newBox(b, testKey(1))
	ad := []byte("tokens\x00skill_app")
	sealed := box.Seal(benchValue, ad)
	b.SetBytes(int64(len(benchValue)))
	for b.Loop() {
		if _, err := box.Open(sealed, ad); err != nil {
			b.Fatal(err)
		}
	}
}
