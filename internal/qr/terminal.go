package qr

import (
	"fmt"
	"strings"

	"github.com/skip2/go-qrcode"
)

// Terminal colours: black on white from the 256-colour palette's cube
// (entries 16 and 231), which colour themes leave alone, unlike the 16
// standard colours (a theme's "white" may be grey, its "black" blue).
const (
	termColours = "\x1b[38;5;16;48;5;231m"
	termReset   = "\x1b[0m"
)

// Terminal returns text as a QR code drawn with Unicode half blocks, two
// module rows a line, with the quiet zone of 4 modules. It sets its own
// colours, dark modules on a light ground, and resets them at the end of
// each line, so that the code scans on a light terminal as on a dark one.
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
	bits := code.Bitmap() // quiet zone included
	var b strings.Builder
	b.Grow((len(bits) + 1) / 2 * (len(termColours) + 3*len(bits) + len(termReset) + 1))
	for y := 0; y < len(bits); y += 2 {
		b.WriteString(termColours)
		for x, top := range bits[y] {
			// An odd last row has a light row below it: more quiet zone.
			bottom := y+1 < len(bits) && bits[y+1][x]
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		b.WriteString(termReset)
		b.WriteString("\n")
	}
	return b.String(), nil
}
