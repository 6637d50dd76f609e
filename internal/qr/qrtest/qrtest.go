// Package qrtest reads back what package qr draws, as a phone or a person
// would: the QR code in a PNG or on a terminal (gozxing), and the text in a
// PNG (Debian's tesseract).
package qrtest

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode/decoder"
)

// Decode reads the QR code in img, which may hold other things beside it
// (a caption), as a phone's camera would. It does not try the code's
// inverse: a code drawn light on dark is not read, as many phones don't.
func Decode(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		return "", fmt.Errorf("read QR code: %w", err)
	}
	return res.GetText(), nil
}

// DecodeModules reads a QR code from its modules, rows first, dark true,
// as Terminal.Modules holds them: the symbol is the bounds of the dark
// modules (its finder patterns mark three corners), read as it is, with no
// image detector. gozxing's detector misses a few in a hundred codes of
// go-qrcode whatever their scale, which a test of random links would meet
// now and then; this reads exactly what was drawn, every time.
func DecodeModules(modules [][]bool) (string, error) {
	minX, minY, maxX, maxY := -1, -1, -1, -1
	for y, row := range modules {
		for x, dark := range row {
			if !dark {
				continue
			}
			if minX < 0 || x < minX {
				minX = x
			}
			if minY < 0 {
				minY = y
			}
			maxX, maxY = max(maxX, x), y
		}
	}
	if minX < 0 || maxX-minX != maxY-minY {
		return "", fmt.Errorf("read QR code: the dark modules span %dx%d, not a square symbol", maxX-minX+1, maxY-minY+1)
	}
	symbol := make([][]bool, 0, maxY-minY+1)
	for _, row := range modules[minY : maxY+1] {
		symbol = append(symbol, row[minX:maxX+1])
	}
	res, err := decoder.NewDecoder().DecodeBoolMapWithoutHint(symbol)
	if err != nil {
		return "", fmt.Errorf("read QR code: %w", err)
	}
	return res.GetText(), nil
}

// DecodePNG is Decode for PNG bytes.
func DecodePNG(data []byte) (string, error) {
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("decode PNG: %w", err)
	}
	return Decode(img)
}

// Theme is a terminal's own colours, those it draws text in when told none.
type Theme int

const (
	Dark  Theme = iota // light text on a dark background
	Light              // dark text on a light background
)

func (th Theme) String() string {
	if th == Light {
		return "light terminal"
	}
	return "dark terminal"
}

// Terminal is what a terminal shows for some output: one cell a rune, each
// drawn in the colours the output's SGR escapes chose, or the theme's.
type Terminal struct {
	// Modules is the picture in half-cell rows: Modules[y][x] is true
	// where the terminal shows a dark half cell. Rows are padded with the
	// theme's background to the widest line, as a terminal shows them.
	Modules [][]bool
	// Coloured[y/2][x] is true for a cell drawn in colours the output set.
	Coloured [][]bool
	// Resets counts the lines that end by resetting the colours (SGR 0)
	// right before the newline, so nothing the output set bleeds into what
	// comes after.
	Resets int
	// Lines is the number of lines read.
	Lines int
}

// ReadTerminal draws the lines of out that hold half-block art, or colour
// escapes, on a terminal of theme th. Other lines are skipped, except that
// the picture is contiguous: the first art line starts it, the first line
// without art ends it.
func ReadTerminal(out string, th Theme) (*Terminal, error) {
	var term Terminal
	width := 0
	started := false
	for _, line := range strings.Split(out, "\n") {
		if !strings.ContainsAny(line, "█▀▄\x1b") {
			if started {
				break
			}
			continue
		}
		started = true
		top, bottom, coloured, reset, err := readLine(line, th)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", term.Lines+1, err)
		}
		term.Lines++
		if reset {
			term.Resets++
		}
		term.Modules = append(term.Modules, top, bottom)
		term.Coloured = append(term.Coloured, coloured)
		width = max(width, len(top))
	}
	if term.Lines == 0 {
		return nil, errors.New("no QR code in the output")
	}
	bg := th == Dark // the theme's background, dark or not
	for i, row := range term.Modules {
		for len(row) < width {
			row = append(row, bg)
		}
		term.Modules[i] = row
	}
	for i, row := range term.Coloured {
		for len(row) < width {
			row = append(row, false)
		}
		term.Coloured[i] = row
	}
	return &term, nil
}

// readLine draws one line: the dark state of each cell's top and bottom
// half, whether the output chose the cell's colours, and whether the line
// ends with a reset.
func readLine(line string, th Theme) (top, bottom, coloured []bool, reset bool, err error) {
	defFg, defBg := th == Light, th == Dark // dark?
	fg, bg := defFg, defBg
	fgSet, bgSet := false, false
	for i := 0; i < len(line); {
		if line[i] == '\x1b' {
			end := strings.IndexByte(line[i:], 'm')
			if !strings.HasPrefix(line[i:], "\x1b[") || end < 0 {
				return nil, nil, nil, false, fmt.Errorf("escape %q is not SGR", line[i:min(len(line), i+12)])
			}
			params := line[i+2 : i+end]
			i += end + 1
			reset = i == len(line) && (params == "0" || params == "")
			if err := sgr(params, &fg, &bg, &fgSet, &bgSet, defFg, defBg); err != nil {
				return nil, nil, nil, false, err
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(line[i:])
		i += size
		var t, b bool
		switch r {
		case ' ':
			t, b = bg, bg
		case '█':
			t, b = fg, fg
		case '▀':
			t, b = fg, bg
		case '▄':
			t, b = bg, fg
		default:
			return nil, nil, nil, false, fmt.Errorf("unexpected rune %q in the QR code", r)
		}
		top, bottom = append(top, t), append(bottom, b)
		coloured = append(coloured, fgSet && bgSet)
	}
	return top, bottom, coloured, reset, nil
}

// sgr applies one Select Graphic Rendition escape's parameters: the reset,
// the 8 and 16 standard colours, and the 256-colour palette's fixed grey
// ramp and cube (the 16 themed entries count as the standard colours).
func sgr(params string, fg, bg *bool, fgSet, bgSet *bool, defFg, defBg bool) error {
	var ps []int
	for p := range strings.SplitSeq(params, ";") {
		if p == "" {
			ps = append(ps, 0)
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("SGR %q: %w", params, err)
		}
		ps = append(ps, n)
	}
	for i := 0; i < len(ps); i++ {
		switch p := ps[i]; {
		case p == 0:
			*fg, *bg, *fgSet, *bgSet = defFg, defBg, false, false
		case p == 39:
			*fg, *fgSet = defFg, false
		case p == 49:
			*bg, *bgSet = defBg, false
		case 30 <= p && p <= 37, 90 <= p && p <= 97:
			*fg, *fgSet = dark16(p%10, p >= 90), true
		case 40 <= p && p <= 47, 100 <= p && p <= 107:
			*bg, *bgSet = dark16(p%10, p >= 100), true
		case p == 38 || p == 48:
			if i+2 >= len(ps) || ps[i+1] != 5 {
				return fmt.Errorf("SGR %q: only 256-colour (5;n) colours are understood", params)
			}
			d := dark256(ps[i+2])
			if p == 38 {
				*fg, *fgSet = d, true
			} else {
				*bg, *bgSet = d, true
			}
			i += 2
		default:
			return fmt.Errorf("SGR %q: parameter %d not understood", params, p)
		}
	}
	return nil
}

// dark16 tells a dark standard colour: black, blue, red, magenta... as
// themes draw them; bright black is a dark grey.
func dark16(n int, bright bool) bool {
	lum := []float64{0, 0.3, 0.35, 0.55, 0.2, 0.35, 0.5, 0.75}[n]
	if bright {
		lum += 0.25
	}
	return lum < 0.5
}

// dark256 tells a dark entry of the 256-colour palette.
func dark256(n int) bool {
	switch {
	case n < 8:
		return dark16(n, false)
	case n < 16:
		return dark16(n-8, true)
	case n < 232:
		n -= 16
		r, g, b := n/36, n/6%6, n%6
		level := func(c int) float64 {
			if c == 0 {
				return 0
			}
			return float64(55+40*c) / 255
		}
		return 0.2126*level(r)+0.7152*level(g)+0.0722*level(b) < 0.5
	default:
		return 8+10*(n-232) < 128
	}
}

// Image is the terminal's picture, scale pixels a half cell, with margin
// half cells of the theme's background around it (the rest of the window).
func (term *Terminal) Image(th Theme, scale, margin int) *image.Gray {
	h, w := len(term.Modules), len(term.Modules[0])
	img := image.NewGray(image.Rect(0, 0, (w+2*margin)*scale, (h+2*margin)*scale))
	bg := color.Gray{Y: 0}
	if th == Light {
		bg.Y = 255
	}
	for i := range img.Pix {
		img.Pix[i] = bg.Y
	}
	for y, row := range term.Modules {
		for x, dark := range row {
			c := uint8(255)
			if dark {
				c = 0
			}
			for dy := range scale {
				for dx := range scale {
					img.SetGray((x+margin)*scale+dx, (y+margin)*scale+dy, color.Gray{Y: c})
				}
			}
		}
	}
	return img
}

// QuietZone returns the width, in modules, of the light border around the
// terminal's picture: the rows and columns from each edge in which every
// half cell is light.
func (term *Terminal) QuietZone() int {
	h, w := len(term.Modules), len(term.Modules[0])
	lightRow := func(y int) bool {
		for x := range w {
			if term.Modules[y][x] {
				return false
			}
		}
		return true
	}
	lightCol := func(x int) bool {
		for y := range h {
			if term.Modules[y][x] {
				return false
			}
		}
		return true
	}
	zone := 0
	for zone < min(h, w)/2 && lightRow(zone) && lightRow(h-1-zone) && lightCol(zone) && lightCol(w-1-zone) {
		zone++
	}
	return zone
}

// OCR returns the text Debian's tesseract reads in the PNG data, with
// tesseract's extra arguments args (e.g. "--psm", "6"). Without tesseract
// the test is skipped, unless $CI is set: CI installs it (.ci/run).
func OCR(t testing.TB, data []byte, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("tesseract")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tesseract is not installed; .ci/run installs it (Debian's tesseract-ocr)")
		}
		t.Skip("tesseract not installed (apt-get install tesseract-ocr)")
	}
	cmd := exec.Command(bin, append([]string{"stdin", "stdout"}, args...)...)
	cmd.Stdin = bytes.NewReader(data)
	// One thread: tests run in parallel on few cores, and OpenMP's
	// threads would only fight over them.
	cmd.Env = append(os.Environ(), "OMP_THREAD_LIMIT=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tesseract: %v\n%s", err, stderr.Bytes())
	}
	return string(out)
}
