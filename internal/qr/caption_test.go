package qr_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/qr"
	"github.com/OpenVoiceOS/ovos-oauth/internal/qr/qrtest"
)

// TestEncodeCaptionedReadsBack: a device login's image holds the QR code of
// the verification URI, which a phone reads, and the user code, which
// tesseract reads as a person would, for the shapes of code the providers
// issue: Google's and GitHub's 4+4 letters, Microsoft's 9 letters and
// digits. Set OVOS_OAUTH_QR_DIR to keep the images, to look at them.
func TestEncodeCaptionedReadsBack(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text string
		caption    qr.Caption
	}{
		{"google", "https://www.google.com/device", qr.Caption{Address: "https://www.google.com/device", Code: "ABCD-EFGH"}},
		{"github", "https://github.com/login/device", qr.Caption{Address: "https://github.com/login/device", Code: "WDJB-MJHT"}},
		{"microsoft", "https://microsoft.com/devicelogin", qr.Caption{Address: "https://microsoft.com/devicelogin", Code: "K7RX2P9QM"}},
		// With verification_uri_complete the code carries the code too;
		// the caption shows the short address all the same.
		{"complete", "https://auth.example.com/activate?user_code=TLFM-RXBN", qr.Caption{Address: "https://auth.example.com/activate", Code: "TLFM-RXBN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, err := qr.EncodeCaptioned(tt.text, tt.caption, qr.DefaultDirSize)
			if err != nil {
				t.Fatalf("EncodeCaptioned() error = %v", err)
			}
			keep(t, tt.name, data)
			if got, err := qrtest.DecodePNG(data); err != nil || got != tt.text {
				t.Errorf("the QR code reads %q (%v), want %q", got, err, tt.text)
			}
			text := qrtest.OCR(t, data)
			if !slices.Contains(strings.Fields(text), tt.caption.Code) {
				t.Errorf("tesseract reads %q, want the code %s in it", text, tt.caption.Code)
			}
			if !strings.Contains(text, "enter the code") {
				t.Errorf("tesseract reads %q, want the words %q in it", text, qr.DefaultEnter)
			}
			img := decodeGray(t, data)
			if b := img.Bounds(); b.Dy() != qr.DefaultDirSize || b.Dx() < 2*b.Dy() {
				t.Errorf("image %v, want %d high and more than twice as wide, for the GUI's wide box", b, qr.DefaultDirSize)
			}
			if len(data) > 16<<10 {
				t.Errorf("image of %d bytes, want a few KB", len(data))
			}
		})
	}
}

// TestEncodeCaptionedTranslated: the words are the caller's, in any
// language the Go fonts cover, and the image shows them.
func TestEncodeCaptionedTranslated(t *testing.T) {
	t.Parallel()
	c := qr.Caption{Address: "https://www.google.com/device", Code: "WDJB-MJHT", Open: "Öffne", Enter: "und gib den Code ein"}
	data, err := qr.EncodeCaptioned(c.Address, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	keep(t, "translated", data)
	text := qrtest.OCR(t, data)
	for _, want := range []string{"und gib den Code ein", "WDJB-MJHT"} {
		if !strings.Contains(text, want) {
			t.Errorf("tesseract reads %q, want %q in it", text, want)
		}
	}
	if strings.Contains(text, "enter the code") {
		t.Errorf("tesseract reads %q: the English words beside the caller's", text)
	}
}

// TestEncodeCaptionedNothingCutOff: an address, a code and words too long
// for one line are made smaller, then wrapped, and the image grows higher
// when it must; no text reaches the image's edges, and the QR code still
// reads.
func TestEncodeCaptionedNothingCutOff(t *testing.T) {
	t.Parallel()
	long := "https://login.example-identity-provider.com/oauth2/v2.0/device/verify?tenant=" + strings.Repeat("abcdefgh", 8)
	tests := []struct {
		name    string
		caption qr.Caption
		higher  string // "yes", "no", or "" where either will do
	}{
		{"long address", qr.Caption{Address: long, Code: "WDJB-MJHT"}, "no"},
		{"long code", qr.Caption{Address: "https://www.google.com/device", Code: strings.Repeat("ABCDEFGH-", 7) + "X"}, ""},
		{"no breaks", qr.Caption{Address: "https://" + strings.Repeat("x", 300) + ".example", Code: strings.Repeat("W", 64)}, "yes"},
		{"long words", qr.Caption{Address: "https://www.google.com/device", Code: "WDJB-MJHT",
			Open:  "Öffnen Sie auf Ihrem Telefon oder Computer die folgende Adresse im Browser",
			Enter: "und geben Sie dort, wenn die Seite danach fragt, den folgenden Code ein"}, "no"},
		{"address only", qr.Caption{Address: long}, "no"},
		{"code only", qr.Caption{Code: "WDJB-MJHT"}, "no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, err := qr.EncodeCaptioned(long, tt.caption, 300)
			if err != nil {
				t.Fatalf("EncodeCaptioned() error = %v", err)
			}
			keep(t, strings.ReplaceAll(tt.name, " ", "-"), data)
			img := decodeGray(t, data)
			b := img.Bounds()
			if higher := b.Dy() > 300; tt.higher != "" && higher != (tt.higher == "yes") {
				t.Errorf("image %v: higher than asked %v, want %s", b, higher, tt.higher)
			}
			// 2% of the height: the margins are 7%, so text cut at an edge
			// or run past the margin would show here.
			edge := 300 * 2 / 100
			for y := range b.Dy() {
				for x := range b.Dx() {
					if (x < edge || y < edge || x >= b.Dx()-edge || y >= b.Dy()-edge) && img.GrayAt(x, y).Y < 0x80 {
						t.Fatalf("dark pixel at (%d, %d), within %d pixels of the edge of %v", x, y, edge, b)
					}
				}
			}
			if got, err := qrtest.DecodePNG(data); err != nil || got != long {
				t.Errorf("the QR code reads %q (%v)", got, err)
			}
		})
	}
}

// TestEncodeCaptionedWithoutCaption: no address and no code is the bare QR
// code, byte for byte Encode's, as the images of other logins are.
func TestEncodeCaptionedWithoutCaption(t *testing.T) {
	t.Parallel()
	const link = "http://192.168.1.23:36536/auth/start/AbC123xyz"
	want, err := qr.Encode(link, 384)
	if err != nil {
		t.Fatal(err)
	}
	got, err := qr.EncodeCaptioned(link, qr.Caption{Open: "Go", Enter: "Enter"}, 384)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("EncodeCaptioned(no address, no code) = %d bytes (%v), want Encode's %d", len(got), err, len(want))
	}
}

func TestEncodeCaptionedErrors(t *testing.T) {
	t.Parallel()
	c := qr.Caption{Address: "https://www.google.com/device", Code: "WDJB-MJHT"}
	if _, err := qr.EncodeCaptioned("", c, 0); err != qr.ErrEmpty {
		t.Errorf("empty text: error = %v, want %v", err, qr.ErrEmpty)
	}
	if _, err := qr.EncodeCaptioned("http://x/"+strings.Repeat("a", 3000), c, 0); err == nil || !strings.Contains(err.Error(), qr.ErrTooLong.Error()) {
		t.Errorf("text too long: error = %v, want %v", err, qr.ErrTooLong)
	}
	if _, err := qr.EncodeCaptioned(c.Address, c, qr.MaxSize+1); err == nil {
		t.Error("size above MaxSize: no error")
	}
	// A caption that would need an image higher than MaxSize.
	huge := qr.Caption{Address: "https://" + strings.Repeat("x", 2000), Code: "WDJB-MJHT"}
	if _, err := qr.EncodeCaptioned(c.Address, huge, 3000); err == nil {
		t.Error("caption higher than MaxSize: no error")
	}
}

func TestShortAddress(t *testing.T) {
	t.Parallel()
	for uri, want := range map[string]string{
		"https://www.google.com/device":     "www.google.com/device",
		"https://microsoft.com/devicelogin": "microsoft.com/devicelogin",
		"https://github.com/login/device":   "github.com/login/device",
		"https://example.com/":              "example.com",
		"https://example.com":               "example.com",
		"https://example.com/activate/":     "example.com/activate/", // a path's slash may matter
		"https://example.com/?a=b":          "example.com/?a=b",
		"http://192.168.1.5:8123/device":    "http://192.168.1.5:8123/device", // browsers would try https
		"HTTPS://EXAMPLE.COM/":              "HTTPS://EXAMPLE.COM/",
	} {
		if got := qr.ShortAddress(uri); got != want {
			t.Errorf("ShortAddress(%q) = %q, want %q", uri, got, want)
		}
	}
}

// FuzzEncodeCaptioned: any address, code and words from a provider or a
// translation give an image that decodes, or an error; never a panic or a
// loop.
func FuzzEncodeCaptioned(f *testing.F) {
	f.Add("https://www.google.com/device", "WDJB-MJHT", "", "")
	f.Add("https://x/", "\u0301\u200b", "  ", "a b")
	f.Add("", "", "", "")
	f.Fuzz(func(t *testing.T, address, code, open, enter string) {
		if len(address) > 2048 || len(code) > 64 || len(open)+len(enter) > 400 {
			t.Skip() // the engine refuses longer ones
		}
		data, err := qr.EncodeCaptioned("https://example.com/device", qr.Caption{Address: address, Code: code, Open: open, Enter: enter}, 128)
		if err != nil {
			return
		}
		if _, err := png.Decode(bytes.NewReader(data)); err != nil {
			t.Fatalf("the image does not decode: %v", err)
		}
	})
}

func BenchmarkEncodeCaptioned(b *testing.B) {
	c := qr.Caption{Address: "https://www.google.com/device", Code: "WDJB-MJHT"}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		data, err := qr.EncodeCaptioned(c.Address, c, qr.DefaultDirSize)
		if err != nil {
			b.Fatal(err)
		}
		n = len(data)
	}
	b.ReportMetric(float64(n), "png-bytes")
}

func decodeGray(t *testing.T, data []byte) *image.Gray {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("png.Decode: %v", err)
	}
	if g, ok := img.(*image.Gray); ok {
		return g
	}
	g := image.NewGray(img.Bounds())
	for y := range img.Bounds().Dy() {
		for x := range img.Bounds().Dx() {
			g.SetGray(x, y, color.GrayModel.Convert(img.At(x, y)).(color.Gray))
		}
	}
	return g
}

// keep writes an image to $OVOS_OAUTH_QR_DIR, if set, to be looked at.
func keep(t *testing.T, name string, data []byte) {
	t.Helper()
	dir := os.Getenv("OVOS_OAUTH_QR_DIR")
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}
