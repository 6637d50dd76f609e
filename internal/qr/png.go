package qr

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"sync"
)

// zlibWriters keeps deflate state between images: a new one costs more to
// allocate and clear than a QR code's few kilobytes take to compress.
var zlibWriters = sync.Pool{New: func() any {
	w, _ := zlib.NewWriterLevel(nil, zlib.BestSpeed) // BestSpeed is a valid level
	return w
}}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// encodePNG renders bitmap (rows of modules, true for dark, quiet zone
// included) as a size×size 1-bit grayscale PNG, mapping each pixel to a
// module exactly as go-qrcode's Image does. A size below the bitmap's n
// modules yields an n×n image.
//
// It replaces go-qrcode's PNG (an image.Paletted through image/png at
// BestCompression), which spent ~3ms on a 384-pixel login code on a 2-core
// VM in per-pixel ColorIndexAt calls and in deflate's search for matches.
// Here each module row is packed to bits once, and the pixel rows that
// repeat it use PNG's "Up" filter, so they are all zeros: 0.13-0.18ms at
// BestSpeed, for a file of ~1KB instead of ~0.7KB (higher levels cost more
// in resetting deflate's tables than they save in bytes).
func encodePNG(bitmap [][]bool, size int) ([]byte, error) {
	n := len(bitmap)
	size = max(size, n)
	perPixel := float64(n) / float64(size) // go-qrcode's arithmetic, for the same image
	rowBytes := (size + 7) / 8

	var buf bytes.Buffer
	buf.Grow(1024)
	start := startPNG(&buf, size, size, 1)
	zw := zlibWriters.Get().(*zlib.Writer)
	defer zlibWriters.Put(zw)
	zw.Reset(&buf)

	row := make([]byte, 1+rowBytes)  // filter None: the row itself
	same := make([]byte, 1+rowBytes) // filter Up: a repeat of the row above
	same[0] = 2
	prev := -1
	for y := range size {
		my := int(float64(y) * perPixel)
		if my == prev {
			if _, err := zw.Write(same); err != nil {
				return nil, err
			}
			continue
		}
		prev = my
		clear(row)
		for x := range size {
			if !bitmap[my][int(float64(x)*perPixel)] { // light: gray value 1 (white)
				row[1+x/8] |= 0x80 >> (x % 8)
			}
		}
		if _, err := zw.Write(row); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return endPNG(&buf, start), nil
}

// encodePNG writes the canvas as a grayscale PNG. Every row but the first
// is written with the "Up" filter, as its difference from the row above:
// zeros where they agree, as they do in all of a QR code's module but its
// first row, and in the rows between lines of text, which deflate takes
// in long runs.
func (cv *canvas) encodePNG() ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(8192)
	start := startPNG(&buf, cv.w, cv.h, canvasDepth)
	zw := zlibWriters.Get().(*zlib.Writer)
	defer zlibWriters.Put(zw)
	zw.Reset(&buf)

	row := make([]byte, 1+cv.stride)
	var prev []byte
	for y := range cv.h {
		pix := cv.pix[y*cv.stride : (y+1)*cv.stride]
		if prev == nil {
			row[0] = 0 // filter None: the row as it is
			copy(row[1:], pix)
		} else {
			row[0] = 2 // filter Up
			for i, b := range pix {
				row[1+i] = b - prev[i]
			}
		}
		prev = pix
		if _, err := zw.Write(row); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return endPNG(&buf, start), nil
}

// startPNG writes the signature and the header of a w×h 1-bit grayscale
// image, then the start of the IDAT chunk, whose length is known only once
// compressed. It returns the offset endPNG needs.
func startPNG(buf *bytes.Buffer, w, h, depth int) int {
	buf.Write(pngSignature)
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8] = byte(depth) // colour type 0 (grayscale), deflate, filter method 0, no interlace
	writeChunk(buf, "IHDR", ihdr[:])
	start := buf.Len()
	buf.Write([]byte{0, 0, 0, 0, 'I', 'D', 'A', 'T'})
	return start
}

// endPNG patches the length of the IDAT chunk that starts at start, ends it
// with its CRC and ends the image.
func endPNG(buf *bytes.Buffer, start int) []byte {
	out := buf.Bytes()
	binary.BigEndian.PutUint32(out[start:], uint32(len(out)-start-8))
	var crc [4]byte
	binary.BigEndian.PutUint32(crc[:], crc32.ChecksumIEEE(out[start+4:]))
	buf.Write(crc[:])
	writeChunk(buf, "IEND", nil)
	return buf.Bytes()
}

// writeChunk appends one PNG chunk: length, type, data, CRC of type and data.
func writeChunk(buf *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	buf.Write(n[:])
	h := crc32.NewIEEE()
	buf.WriteString(typ)
	h.Write([]byte(typ))
	buf.Write(data)
	h.Write(data)
	binary.BigEndian.PutUint32(n[:], h.Sum32())
	buf.Write(n[:])
}
