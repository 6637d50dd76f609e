package callback_test

import (
	"image"
	"image/color"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/browsertest"
)

// browse loads url in headless Chromium at a phone's size and returns the
// rendered DOM and a screenshot.
func browse(t *testing.T, url string) (string, image.Image) {
	t.Helper()
	return browsertest.DumpDOM(t, url), browsertest.Screenshot(t, url)
}

// pixels counts the screenshot's pixels close to c.
func pixels(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r>>8, c.R) && near(g>>8, c.G) && near(bl>>8, c.B) {
				n++
			}
		}
	}
	return n
}

func near(a uint32, b uint8) bool { d := int(a) - int(b); return d > -12 && d < 12 }

var (
	green = color.RGBA{0x1a, 0x7f, 0x37, 0xff}
	red   = color.RGBA{0xb4, 0x23, 0x18, 0xff}
)

// TestPagesInChromium renders the pages a person sees on their phone in a
// real browser, with the server's own Content-Security-Policy in force: the
// words are there and the style applies (the mark's colour is painted).
func TestPagesInChromium(t *testing.T) {
	srv := httptest.NewServer(newServer(t, fakeEngine{}).Handler())
	defer srv.Close()
	tests := []struct {
		name, path string
		words      []string
		mark       color.RGBA
	}{
		{"success", "/auth/callback/skill_app?state=ok&code=CODE-123", []string{"You're logged in", "close this page"}, green},
		{"denied", "/auth/callback/skill_app?state=ok&error=access_denied", []string{"Login refused", "start the login again"}, red},
		{"unknown app", "/auth/callback/nobody_here?state=x&code=y", []string{"Unknown app"}, red},
		{"expired link", "/auth/start/" + expiredFlow, []string{"expired"}, red},
		{"not found", "/nothing", []string{"Page not found"}, red},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dom, img := browse(t, srv.URL+tt.path)
			for _, w := range tt.words {
				if !strings.Contains(dom, w) && !strings.Contains(dom, strings.ReplaceAll(w, "'", "&#39;")) {
					t.Errorf("page lacks %q", w)
				}
			}
			if strings.Contains(dom, "CODE-123") {
				t.Errorf("page echoes the code")
			}
			if n := pixels(img, tt.mark); n < 50 {
				t.Errorf("%d pixels of the mark's colour: the page's style did not apply", n)
			}
		})
	}
}
