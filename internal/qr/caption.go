package qr

import (
	"fmt"
	"image"
	"strings"
	"sync"
	"unicode"

	"github.com/skip2/go-qrcode"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// Caption is the text a device login's image shows beside its QR code: the
// address to open and the code to enter there, each below a short line of
// words. The words come from the caller, already in the user's language;
// empty ones are English.
type Caption struct {
	// Address is the verification URI, shown as ShortAddress gives it.
	Address string
	// Code is the user code, in large bold letters.
	Code string
	// Open is the line above the address; default "Go to".
	Open string
	// Enter is the line above the code; default "and enter the code".
	Enter string
}

// The English words of a Caption whose own are empty.
const (
	DefaultOpen  = "Go to"
	DefaultEnter = "and enter the code"
)

// ShortAddress is uri as a person types it: without "https://", which
// browsers add themselves, and without the slash of an empty path. Any
// other part stays, so the address still leads where uri does.
func ShortAddress(uri string) string {
	s, ok := strings.CutPrefix(uri, "https://")
	if !ok {
		return uri
	}
	if host, ok := strings.CutSuffix(s, "/"); ok && !strings.ContainsAny(host, "/?#") {
		return host
	}
	return s
}

// The caption's layout, in fractions of the image's height h. The image
// is wide because ovos-shell fits it into a box about 2.4 times as wide as
// high (80% of the screen less a heading and a button: about 640×260 on
// an 800×480 screen), where a tall image would be shrunk far more. At
// h = 384 it is shown at about two thirds of its size there: a code of 9
// characters, with capitals 55 pixels high in the image, has them about
// 37 pixels (7 mm) high on a 7" screen, which reads from 2 m.
const (
	aspect       = 2.5   // width / height
	textGap      = 0.060 // between the QR code's quiet zone and the text
	sideMargin   = 0.070 // right of the text, and above and below it
	labelSize    = 0.090 // the words' em size
	addressSize  = 0.130 // the address's largest em size …
	addressMin   = 0.060 // … and its smallest, before it wraps
	codeSize     = 0.300 // the code's largest em size …
	codeMin      = 0.090 // … and its smallest, before it wraps
	codeTrack    = 0.080 // the code's letter spacing, in ems
	labelGap     = 0.020 // between the words and what they introduce
	paragraphGap = 0.070 // between the address and the words for the code
)

// goBold is Go Bold, parsed once, for all the caption: bold reads better
// from afar, its Q has a clear tail, its 1 a flag, and its 0 is narrower
// than O. Tesseract misread about 1 in 20 random 9-character codes set in
// it, against 1 in 5 in Go Mono Bold, whose slab-serifed T and short-tailed
// Q it took for I and O.
var goBold = sync.OnceValues(func() (*opentype.Font, error) {
	f, err := opentype.Parse(gobold.TTF)
	if err != nil {
		return nil, fmt.Errorf("parse Go Bold: %w", err)
	}
	return f, nil
})

// EncodeCaptioned returns text as a QR code in a PNG image height pixels
// high (DefaultSize if height <= 0) and 2.5 times as wide, with c's
// address and code written to its right, black on white. Text too wide
// for its place is made smaller, then wrapped, and the image made higher
// when it must be: nothing is cut off. An empty Address and Code give
// Encode's bare code. EncodeCaptioned is safe for concurrent use.
func EncodeCaptioned(text string, c Caption, height int) ([]byte, error) {
	if c.Address == "" && c.Code == "" {
		return Encode(text, height)
	}
	if text == "" {
		return nil, ErrEmpty
	}
	if height <= 0 {
		height = DefaultSize
	}
	if height > MaxSize {
		return nil, fmt.Errorf("qr: size %d above %d", height, MaxSize)
	}
	code, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("encode %d bytes: %w", len(text), ErrTooLong)
	}
	bold, err := goBold()
	if err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	bits := code.Bitmap()
	n := len(bits)
	scale := max(1, height/n) // whole pixels a module: crisp edges
	side := n * scale
	h := float64(height)
	qrX := max(0, (height-side)/2) // centred in the image's left square
	textX := qrX + side + int(h*textGap)
	width := max(int(h*aspect), textX+int(h*(sideMargin+0.5)))
	lines, err := layout(bold, c, float64(width-textX-int(h*sideMargin)), h)
	if err != nil {
		return nil, err
	}
	textH := 0
	for _, l := range lines {
		textH += l.gap + l.ascent + l.descent
	}
	imgH := max(height, side, textH+2*int(h*sideMargin))
	if imgH > MaxSize {
		return nil, fmt.Errorf("qr: caption needs an image %d pixels high, above %d: %w", imgH, MaxSize, ErrTooLong)
	}

	cv := newCanvas(width, imgH)
	cv.drawCode(bits, qrX, (imgH-side)/2, scale)
	y := (imgH - textH) / 2
	for _, l := range lines {
		y += l.gap + l.ascent
		cv.drawText(l.face, l.text, textX, y)
		y += l.descent
	}
	png, err := cv.encodePNG()
	cv.free()
	if err != nil {
		return nil, fmt.Errorf("qr: encode png: %w", err)
	}
	return png, nil
}

// line is one line of a caption: its text in its face, and the space
// above it (gap), above its baseline (ascent) and below (descent).
type line struct {
	face                 face
	text                 string
	gap, ascent, descent int
}

// style is how a part of the caption is set: its font, its largest and
// smallest em sizes in fractions of the image's height, the space added
// after each letter in fractions of the em, and the runes it may wrap
// after.
type style struct {
	font          *opentype.Font
	size, minSize float64
	track         float64
	breakAfter    string
}

// layout sets c's lines in a column width pixels wide, for an image h
// pixels high.
func layout(f *opentype.Font, c Caption, width, h float64) ([]line, error) {
	var (
		words   = style{font: f, size: labelSize, minSize: labelSize * 0.7, breakAfter: " "}
		address = style{font: f, size: addressSize, minSize: addressMin, breakAfter: "/.-?&=#"}
		code    = style{font: f, size: codeSize, minSize: codeMin, track: codeTrack, breakAfter: "- "}
	)
	var lines []line
	add := func(st style, text string, gap float64) error {
		fc, parts, err := fit(st, text, width, h)
		if err != nil {
			return err
		}
		m := fc.Metrics()
		for i, p := range parts {
			l := line{face: fc, text: p, ascent: m.Ascent.Ceil(), descent: m.Descent.Ceil()}
			if i == 0 && len(lines) > 0 {
				l.gap = int(h * gap)
			}
			lines = append(lines, l)
		}
		return nil
	}
	or := func(s, def string) string {
		if s = strings.TrimSpace(s); s == "" {
			return def
		}
		return s
	}
	if c.Address != "" {
		if err := add(words, or(c.Open, DefaultOpen), 0); err != nil {
			return nil, err
		}
		if err := add(address, ShortAddress(c.Address), labelGap); err != nil {
			return nil, err
		}
	}
	if c.Code != "" {
		if err := add(words, or(c.Enter, DefaultEnter), paragraphGap); err != nil {
			return nil, err
		}
		if err := add(code, c.Code, labelGap); err != nil {
			return nil, err
		}
	}
	return lines, nil
}

// fit returns a face of st in which text fits width pixels, for an image
// h pixels high: at st's size if it fits, else as large as fits down to
// its smallest size, else at that size wrapped into lines.
func fit(st style, text string, width, h float64) (face, []string, error) {
	limit := fixed.Int26_6(width * 64)
	size, minSize := h*st.size, h*st.minSize
	f, err := newFace(st, size)
	if err != nil {
		return face{}, nil, err
	}
	w := f.measure(text)
	if w <= limit {
		return f, []string{text}, nil
	}
	// Advances scale with the size (no hinting): one step to the size that
	// fits, a few more for rounding.
	for s := max(minSize, size*float64(limit)/float64(w)); ; s = max(minSize, s-1) {
		if f, err = newFace(st, s); err != nil {
			return face{}, nil, err
		}
		if f.measure(text) <= limit {
			return f, []string{text}, nil
		}
		if s == minSize {
			return f, f.wrap(text, limit, st.breakAfter), nil
		}
	}
}

// face is a font at one size, with the space added after each letter.
type face struct {
	font.Face
	track fixed.Int26_6
}

func newFace(st style, size float64) (face, error) {
	f, err := opentype.NewFace(st.font, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingNone})
	if err != nil {
		return face{}, fmt.Errorf("qr: font face at %.1f px: %w", size, err)
	}
	return face{f, fixed.Int26_6(st.track * size * 64)}, nil
}

// measure returns the advance of text, kerning and tracking included, as
// drawText sets it (less the tracking after the last letter).
func (f face) measure(text string) fixed.Int26_6 {
	var w fixed.Int26_6
	prev := rune(-1)
	for _, r := range text {
		if prev >= 0 {
			w += f.Kern(prev, r) + f.track
		}
		a, _ := f.GlyphAdvance(r)
		w += a
		prev = r
	}
	return w
}

// wrap breaks text into lines no wider than limit in face: each line ends
// before a space or after the last rune from breakAfter that fits, else
// before the first rune that does not. Spaces at the ends of lines are
// dropped.
func (f face) wrap(text string, limit fixed.Int26_6, breakAfter string) []string {
	rs := []rune(text)
	var lines []string
	for start := 0; start < len(rs); {
		end := start + 1 // at least one rune a line, however narrow the column
		for end < len(rs) && f.measure(string(rs[start:end+1])) <= limit {
			end++
		}
		if end < len(rs) && !unicode.IsSpace(rs[end]) {
			for cut := end; cut > start+1; cut-- {
				if strings.ContainsRune(breakAfter, rs[cut-1]) {
					end = cut
					break
				}
			}
		}
		if l := strings.TrimSpace(string(rs[start:end])); l != "" {
			lines = append(lines, l)
		}
		start = end
	}
	return lines
}

// canvas is a 2-bit grayscale image (0 black, 3 white), rows of packed
// pixels, most significant first: 4 greys keep the letters' edges smooth
// when the GUI scales the image, and the rows go into the PNG as they are.
type canvas struct {
	w, h, stride int
	pix          []byte
	buf          *[]byte // pix's backing array, from canvases
}

const (
	canvasDepth = 2
	perByte     = 8 / canvasDepth
	white       = 1<<canvasDepth - 1
)

// canvases keeps the pixels of images written: ~90 KB each, all written
// over before use.
var canvases sync.Pool

func newCanvas(w, h int) *canvas {
	stride := (w*canvasDepth + 7) / 8
	n := stride * h
	buf, _ := canvases.Get().(*[]byte)
	if buf == nil || cap(*buf) < n {
		b := make([]byte, n)
		buf = &b
	}
	pix := (*buf)[:n]
	for i := range pix {
		pix[i] = 0xff
	}
	return &canvas{w: w, h: h, stride: stride, pix: pix, buf: buf}
}

// free hands the pixels back for the next image.
func (cv *canvas) free() {
	canvases.Put(cv.buf)
	cv.pix, cv.buf = nil, nil
}

// darken makes pixel x of row no lighter than level.
func darken(row []byte, x int, level byte) {
	shift := 8 - canvasDepth - x%perByte*canvasDepth
	if cur := row[x/perByte] >> shift & white; level < cur {
		row[x/perByte] = row[x/perByte]&^(white<<shift) | level<<shift
	}
}

// drawCode draws the QR code's modules, scale pixels each, from (x0, y0).
// Each module row is drawn once and copied down.
func (cv *canvas) drawCode(bits [][]bool, x0, y0, scale int) {
	for my, row := range bits {
		y := y0 + my*scale
		first := cv.pix[y*cv.stride : (y+1)*cv.stride]
		for mx, dark := range row {
			if !dark {
				continue
			}
			for x := x0 + mx*scale; x < x0+(mx+1)*scale; x++ {
				darken(first, x, 0)
			}
		}
		for dy := 1; dy < scale; dy++ {
			copy(cv.pix[(y+dy)*cv.stride:(y+dy+1)*cv.stride], first)
		}
	}
}

// drawText draws text in face, black, with its first baseline point at
// (x, y).
func (cv *canvas) drawText(f face, text string, x, y int) {
	dot := fixed.P(x, y)
	prev := rune(-1)
	for _, r := range text {
		if prev >= 0 {
			dot.X += f.Kern(prev, r) + f.track
		}
		prev = r
		dr, mask, mp, advance, ok := f.Glyph(dot, r)
		dot.X += advance
		if !ok {
			continue
		}
		alpha, isAlpha := mask.(*image.Alpha)
		for py := max(dr.Min.Y, 0); py < min(dr.Max.Y, cv.h); py++ {
			row := cv.pix[py*cv.stride : (py+1)*cv.stride]
			for px := max(dr.Min.X, 0); px < min(dr.Max.X, cv.w); px++ {
				mx, my := mp.X+px-dr.Min.X, mp.Y+py-dr.Min.Y
				var a uint8
				if isAlpha {
					a = alpha.Pix[(my-alpha.Rect.Min.Y)*alpha.Stride+mx-alpha.Rect.Min.X]
				} else {
					_, _, _, a32 := mask.At(mx, my).RGBA()
					a = uint8(a32 >> 8)
				}
				if a != 0 {
					// The grey nearest to the glyph's coverage.
					darken(row, px, byte((int(0xff-a)*white+0x7f)/0xff))
				}
			}
		}
	}
}
