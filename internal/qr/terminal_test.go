package qr_test

import (
	"crypto/rand"
	"fmt"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/qr"
	"github.com/OpenVoiceOS/ovos-oauth/internal/qr/qrtest"
)

// TestTerminalScansOnAnyTheme: the terminal's QR code reads back as its
// text on a dark and on a light terminal alike, because it sets its own
// colours, dark modules on a light ground, for every cell it draws, with a
// quiet zone of 4 modules inside those colours, and resets them at the end
// of each line.
func TestTerminalScansOnAnyTheme(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		"https://www.google.com/device",
		"http://192.168.1.23:36536/auth/start/AbC123xyz",
		"https://example.com/" + strings.Repeat("a", 120),
	} {
		art, err := qr.Terminal(text)
		if err != nil {
			t.Fatalf("Terminal(%q) error = %v", text, err)
		}
		for _, th := range []qrtest.Theme{qrtest.Dark, qrtest.Light} {
			term, err := qrtest.ReadTerminal(art, th)
			if err != nil {
				t.Fatalf("%s: %v\n%s", th, err, art)
			}
			got, err := qrtest.Decode(term.Image(th, 4, 3))
			if err != nil || got != text {
				t.Errorf("%s: the QR code reads %q (%v), want %q", th, got, err, text)
			}
			if zone := term.QuietZone(); zone < 4 {
				t.Errorf("%s: quiet zone of %d modules, want 4", th, zone)
			}
			own := 0
			for _, row := range term.Coloured {
				for _, set := range row {
					if !set {
						own++
					}
				}
			}
			if own > 0 {
				t.Errorf("%s: %d cells are drawn in the terminal's own colours", th, own)
			}
			if term.Resets != term.Lines {
				t.Errorf("%s: %d of %d lines end with a colour reset", th, term.Resets, term.Lines)
			}
		}
		if w := len([]rune(strings.SplitN(art, "\n", 2)[0])); w > 120 {
			t.Errorf("Terminal(%d bytes) is %d runes wide", len(text), w)
		}
	}
}

func TestTerminalErrors(t *testing.T) {
	t.Parallel()
	if _, err := qr.Terminal(""); err != qr.ErrEmpty {
		t.Errorf("Terminal(\"\") error = %v, want %v", err, qr.ErrEmpty)
	}
	if _, err := qr.Terminal("http://x/" + strings.Repeat("a", 3000)); err == nil {
		t.Error("Terminal(3009 bytes) = nil error, want one")
	}
}

// TestTerminalRandomLinks: the half-block art of 500 login links of every
// length up to the longest, on random ports, holds exactly its link, read
// module by module on a dark and on a light terminal.
func TestTerminalRandomLinks(t *testing.T) {
	t.Parallel()
	for i := range 500 {
		link := fmt.Sprintf("http://192.168.1.%d:%d/auth/start/", 1+i%254, 1024+i*97%64000) + rand.Text()[:i%27]
		art, err := qr.Terminal(link)
		if err != nil {
			t.Fatal(err)
		}
		for _, th := range []qrtest.Theme{qrtest.Dark, qrtest.Light} {
			term, err := qrtest.ReadTerminal(art, th)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := qrtest.DecodeModules(term.Modules); got != link {
				t.Fatalf("%s: the art of %q reads %q, %v", th, link, got, err)
			}
		}
	}
}
