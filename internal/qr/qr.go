// Package qr renders login links as QR-code PNGs for the device's screen.
//
// Encode turns a link into PNG bytes; Dir keeps a small, self-cleaning folder
// of such images whose absolute paths can be handed to the GUI (ovos-shell
// shows "file://" + path), so the folder and its files are world-readable
// while their names are random and never derived from the link.
package qr

import (
	"errors"
	"fmt"

	"github.com/skip2/go-qrcode"
)

// DefaultSize is the pixel size Encode uses when it is given none.
const DefaultSize = 256

// MaxSize is the largest pixel size Encode accepts. The image is a paletted
// size×size bitmap, so an unchecked size from a misconfiguration would
// allocate without bound.
const MaxSize = 4096

var (
	// ErrEmpty is returned by Encode and Dir.Write for an empty text.
	ErrEmpty = errors.New("qr: empty text")
	// ErrTooLong is returned by Encode and Dir.Write for a text that does not
	// fit in the largest QR code at recovery level Medium (2331 bytes).
	ErrTooLong = errors.New("qr: text too long")
)

// Encode returns text as a QR code in a PNG image of size×size pixels
// (DefaultSize if size <= 0), at recovery level Medium with the standard
// quiet zone. A size too small for the code's modules yields a larger image.
// Encode is safe for concurrent use.
func Encode(text string, size int) ([]byte, error) {
	if text == "" {
		return nil, ErrEmpty
	}
	if size <= 0 {
		size = DefaultSize
	}
	if size > MaxSize {
		return nil, fmt.Errorf("qr: size %d above %d", size, MaxSize)
	}
	// go-qrcode fails only on length for non-empty byte-mode content; its
	// message varies with the encoder it tried last, so map it to one error.
	code, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("encode %d bytes: %w", len(text), ErrTooLong)
	}
	png, err := encodePNG(code.Bitmap(), size)
	if err != nil {
		return nil, fmt.Errorf("qr: encode png: %w", err)
	}
	return png, nil
}
