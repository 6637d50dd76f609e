package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// tinyStore returns the bytes of a closed store holding one app and its
// token.
func tinyStore(tb testing.TB) []byte {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "oauth.db")
	db := New(path)
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	app := &oauth.App{SkillID: "s", AppID: "a", ClientID: "c", TokenEndpoint: "https://p.example/t"}
	if err := db.PutApp(app, false); err != nil {
		tb.Fatal(err)
	}
	if err := db.PutToken(app.MungedID(), &oauth.Token{AccessToken: "x", Obtained: time.Now()}); err != nil {
		tb.Fatal(err)
	}
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// FuzzCheckLayout: checkLayout reads any bytes without panicking, and a
// file it passes opens through bbolt and reads whole, or fails with an
// error: never a crash. This is what stands between bbolt and a file cut
// short or overwritten.
func FuzzCheckLayout(f *testing.F) {
	data := tinyStore(f)
	page := os.Getpagesize()
	f.Add(data)
	for _, n := range []int{0, 1, 80, page, 2 * page, 3 * page, 4 * page, len(data) - 1} {
		f.Add(data[:min(n, len(data))])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := checkLayout(bytes.NewReader(data), int64(len(data)))
		if err != nil || len(data) == 0 {
			return
		}
		path := filepath.Join(t.TempDir(), "oauth.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		bdb, err := openRepair(path, true, time.Second)
		if err != nil {
			return // any error will do: no crash is the point
		}
		if err := bdb.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCheckLayoutTinyStore: a whole store passes, the same store cut at any
// byte short of its last page in use does not.
func TestCheckLayoutTinyStore(t *testing.T) {
	t.Parallel()
	data := tinyStore(t)
	if err := checkLayout(bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("checkLayout() of a whole store = %v", err)
	}
	// The pages in use: the high-water mark of the newest transaction.
	m0, _ := readMeta(bytes.NewReader(data), 0)
	m1, _ := readMeta(bytes.NewReader(data), int64(m0.pageSize))
	newest := m0
	if m1.txid > m0.txid {
		newest = m1
	}
	used := newest.pgid * uint64(newest.pageSize)
	for n := 1; n < int(used); n += 97 {
		if err := checkLayout(bytes.NewReader(data[:n]), int64(n)); err == nil {
			t.Errorf("checkLayout() of %d bytes of %d in use = nil", n, used)
		}
	}
	if err := checkLayout(bytes.NewReader(data[:used]), int64(used)); err != nil {
		t.Errorf("checkLayout() cut after the pages in use = %v, want nil", err)
	}
}
