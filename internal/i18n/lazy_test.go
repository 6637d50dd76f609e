package i18n_test

import (
	"testing"
	"testing/fstest"

	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
)

// TestForParsesOnlyItsLanguage: a printer parses its language and English
// and no other file, so a daemon holds one language or two, not all: here
// the French file does not even parse, and the German printer works.
func TestForParsesOnlyItsLanguage(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"messages/en.json": {Data: []byte(`{"a": "Hello", "b": "Only in English"}`)},
		"messages/de.json": {Data: []byte(`{"a": "Hallo"}`)},
		"messages/fr.json": {Data: []byte(`{"a": "Bonjour", `)},
	}
	de, err := i18n.ForFS(fsys, "de_AT")
	if err != nil {
		t.Fatalf("ForFS(de_AT) = %v", err)
	}
	if de.Lang() != "de" || de.Text("a") != "Hallo" || de.Text("b") != "Only in English" {
		t.Errorf("German printer: %s, %q, %q", de.Lang(), de.Text("a"), de.Text("b"))
	}
	if en, err := i18n.ForFS(fsys, "pt"); err != nil || en.Lang() != "en" || en.Text("a") != "Hello" {
		t.Errorf("ForFS(pt) = %v, %v; want English", en, err)
	}
	if _, err := i18n.ForFS(fsys, "fr"); err == nil {
		t.Error("ForFS(fr) parsed a broken file")
	}
	if _, err := i18n.ForFS(fstest.MapFS{"messages/de.json": {Data: []byte(`{}`)}}, "de"); err == nil {
		t.Error("ForFS without English succeeded")
	}
}
