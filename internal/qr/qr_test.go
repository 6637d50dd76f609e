package qr

import (
	"bytes"
	"cmp"
	"errors"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	"github.com/skip2/go-qrcode"
)

const loginURL = "http://192.168.1.23:36536/auth/start/AbC123xyz"

// decode reads a QR code back out of PNG bytes, as a phone's camera would.
func decode(t testing.TB, data []byte) (text string, bounds image.Rectangle) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("png.Decode: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatalf("NewBinaryBitmapFromImage: %v", err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("decode QR: %v", err)
	}
	return res.GetText(), img.Bounds()
}

func TestEncodeRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		text     string
		size     int
		wantSize int
	}{
		{"login link default size", loginURL, 0, DefaultSize},
		{"negative size means default", loginURL, -3, DefaultSize},
		{"login link 384", loginURL, 384, 384},
		{"https with query", "https://example.com/authorize?response_type=code&client_id=a%20b&state=x", 512, 512},
		{"long link", "http://10.0.0.5:36536/auth/start/" + strings.Repeat("Zz9", 200), 1024, 1024},
		{"utf-8", "http://device.local/ünïcødé", 300, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := Encode(tt.text, tt.size)
			if err != nil {
				t.Fatalf("Encode() error = %v", err)
			}
			got, bounds := decode(t, data)
			if got != tt.text {
				t.Errorf("decoded %q, want %q", got, tt.text)
			}
			if bounds.Dx() != tt.wantSize || bounds.Dy() != tt.wantSize {
				t.Errorf("image %v, want %dx%d", bounds, tt.wantSize, tt.wantSize)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		size    int
		wantErr error // nil: any error
	}{
		{"empty", "", 256, ErrEmpty},
		{"too long", "http://x/" + strings.Repeat("a", 3000), 256, ErrTooLong},
		{"huge size", loginURL, MaxSize + 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := Encode(tt.text, tt.size)
			if err == nil {
				t.Fatalf("Encode() = %d bytes, want error", len(data))
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Encode() error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestEncodeLongestText(t *testing.T) {
	t.Parallel()
	// Version 40 at level M holds 2331 bytes: the limit is the code's, not ours.
	text := strings.Repeat("a", 2331)
	if _, err := Encode(text, 0); err != nil {
		t.Fatalf("Encode(%d bytes) error = %v", len(text), err)
	}
	if _, err := Encode(text+"a", 0); !errors.Is(err, ErrTooLong) {
		t.Fatalf("Encode(%d bytes) error = %v, want %v", len(text)+1, err, ErrTooLong)
	}
}

func BenchmarkEncode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(loginURL, DefaultDirSize); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEncodeSameImageAsGoQRCode: the PNG Encode writes itself holds, pixel
// for pixel, the image go-qrcode's own PNG held, in black and white only.
func TestEncodeSameImageAsGoQRCode(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 20, 41, 256, 300, 384, 1000} {
		for _, text := range []string{loginURL, "http://10.0.0.5:36536/auth/start/" + strings.Repeat("Zz9", 200)} {
			code, err := qrcode.New(text, qrcode.Medium)
			if err != nil {
				t.Fatal(err)
			}
			want := code.Image(cmp.Or(size, DefaultSize))
			data, err := Encode(text, size)
			if err != nil {
				t.Fatalf("Encode(%d bytes, %d) error = %v", len(text), size, err)
			}
			got, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("png.Decode: %v", err)
			}
			if got.Bounds() != want.Bounds() {
				t.Fatalf("size %d: bounds %v, want %v", size, got.Bounds(), want.Bounds())
			}
			diff := 0
			for y := range want.Bounds().Dy() {
				for x := range want.Bounds().Dx() {
					g := color.GrayModel.Convert(got.At(x, y)).(color.Gray).Y
					w := color.GrayModel.Convert(want.At(x, y)).(color.Gray).Y
					if g != w || g != 0 && g != 0xff {
						diff++
					}
				}
			}
			if diff > 0 {
				t.Errorf("size %d, %d bytes: %d pixels differ from go-qrcode's image", size, len(text), diff)
			}
		}
	}
}

// BenchmarkEncodePNG is the PNG part of Encode alone, for a login link at
// the size Dir writes.
func BenchmarkEncodePNG(b *testing.B) {
	code, err := qrcode.New(loginURL, qrcode.Medium)
	if err != nil {
		b.Fatal(err)
	}
	bitmap := code.Bitmap()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodePNG(bitmap, DefaultDirSize); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGoQRCodePNG is what encodePNG replaced, for comparison.
func BenchmarkGoQRCodePNG(b *testing.B) {
	code, err := qrcode.New(loginURL, qrcode.Medium)
	if err != nil {
		b.Fatal(err)
	}
	code.Bitmap() // encode once: PNG re-encodes every time, measured in BenchmarkEncode
	b.ReportAllocs()
	for b.Loop() {
		if _, err := code.PNG(DefaultDirSize); err != nil {
			b.Fatal(err)
		}
	}
}
