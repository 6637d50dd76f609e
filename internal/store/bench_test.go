package store_test

import (
	"testing"
)

// BenchmarkPutToken measures one durable write: a bbolt transaction and its
// fsyncs on the disk under t.TempDir.
func BenchmarkPutToken(b *testing.B) {
	db := openDB(b)
	if err := db.PutApp(fullApp("skill", "app"), false); err != nil {
		b.Fatal(err)
	}
	tok := fullToken("access")
	for b.Loop() {
		if err := db.PutToken("skill_app", tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkToken measures one read: a read-only transaction and a JSON
// decode.
func BenchmarkToken(b *testing.B) {
	db := openDB(b)
	if err := db.PutApp(fullApp("skill", "app"), false); err != nil {
		b.Fatal(err)
	}
	if err := db.PutToken("skill_app", fullToken("access")); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := db.Token("skill_app"); err != nil {
			b.Fatal(err)
		}
	}
}
