package mirror_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/mirror"
)

// BenchmarkPutApp and BenchmarkPutToken measure one mirrored write (lock,
// read, change one key, write a temporary file, fsync, rename) into a file
// that already holds n other apps' entries.
func BenchmarkPutApp(b *testing.B) {
	for _, n := range []int{0, 1000} {
		b.Run(fmt.Sprintf("others=%d", n), func(b *testing.B) {
			f := benchFiles(b)
			for i := range n {
				if err := f.PutApp(testApp("skill.other", fmt.Sprint("app", i)), "http://192.0.2.1:36536/auth/callback/x"); err != nil {
					b.Fatal(err)
				}
			}
			app := testApp("skill.bench", "app")
			b.ReportAllocs()
			for b.Loop() {
				if err := f.PutApp(app, "http://192.0.2.1:36536/auth/callback/skill.bench_app"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPutToken(b *testing.B) {
	for _, n := range []int{0, 1000} {
		b.Run(fmt.Sprintf("others=%d", n), func(b *testing.B) {
			f := benchFiles(b)
			for i := range n {
				id := fmt.Sprint("app", i)
				if err := f.PutToken(testApp("skill.other", id), testToken(id)); err != nil {
					b.Fatal(err)
				}
			}
			app, tok := testApp("skill.bench", "app"), testToken("app")
			b.ReportAllocs()
			for b.Loop() {
				if err := f.PutToken(app, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchFiles(b *testing.B) *mirror.Files {
	f := mirror.New(filepath.Join(b.TempDir(), "json_database"))
	f.LockDir = b.TempDir()
	return f
}
