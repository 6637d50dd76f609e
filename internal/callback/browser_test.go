package callback_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromium returns the path of Debian's chromium. CI installs it (.ci/run);
// elsewhere the browser tests are skipped when it is missing.
func chromium(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; .ci/run installs it")
		}
		t.Skip("chromium not installed (apt-get install chromium)")
	}
	return p
}

// browse loads url in headless Chromium at a phone's size and returns the
// rendered DOM and a screenshot.
func browse(t *testing.T, url string) (string, image.Image) {
	t.Helper()
	bin := chromium(t)
	dir := t.TempDir()
	shot := filepath.Join(dir, "shot.png")
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=390,844", "--hide-scrollbars"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dom, err := exec.CommandContext(ctx, bin, append(base, "--dump-dom", url)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	if out, err := exec.CommandContext(ctx, bin, append(base, "--screenshot="+shot, url)...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("OVOS_OAUTH_SCREENSHOTS"); dir != "" {
		os.WriteFile(filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".png"), b, 0o644)
	}
	return string(dom), img
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
