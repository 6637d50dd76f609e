package qr

import (
	"fmt"

	"github.com/skip2/go-qrcode"
)

// Terminal returns text as a QR code drawn with Unicode half blocks, two
// module rows a line, with the quiet zone, for a terminal with a dark
// background: dark modules are spaces, light ones the foreground's blocks.
// Low recovery keeps it small enough for an 80-column terminal up to about
// 150 characters.
func Terminal(text string) (string, error) {
	if text == "" {
		return "", ErrEmpty
	}
	code, err := qrcode.New(text, qrcode.Low)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrTooLong, err)
	}
	return code.ToSmallString(false), nil
}
