//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// elfImage builds an ELF header with program headers of the given types.
func elfImage(class64, bigEndian bool, etype uint16, ptypes ...uint32) []byte {
	var order binary.ByteOrder = binary.LittleEndian
	data := byte(1)
	if bigEndian {
		order, data = binary.BigEndian, 2
	}
	class, hdrSize, phentsize := byte(1), 52, 32
	if class64 {
		class, hdrSize, phentsize = 2, 64, 56
	}
	b := make([]byte, hdrSize+phentsize*len(ptypes))
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = class, data, 1
	order.PutUint16(b[0x10:], etype)
	if class64 {
		order.PutUint64(b[0x20:], uint64(hdrSize))
		order.PutUint16(b[0x36:], uint16(phentsize))
		order.PutUint16(b[0x38:], uint16(len(ptypes)))
	} else {
		order.PutUint32(b[0x1c:], uint32(hdrSize))
		order.PutUint16(b[0x2a:], uint16(phentsize))
		order.PutUint16(b[0x2c:], uint16(len(ptypes)))
	}
	for i, pt := range ptypes {
		order.PutUint32(b[hdrSize+i*phentsize:], pt)
	}
	return b
}

// TestStaticExec: only an executable that nothing relocates at load has
// its read-only pages unmapped: not a position-independent one, nor one
// with an interpreter, a dynamic section or a RELRO segment, nor anything
// that is not an ELF file it can read.
func TestStaticExec(t *testing.T) {
	t.Parallel()
	const ptLoad, ptNote = 1, 4
	for _, tt := range []struct {
		name string
		img  []byte
		want bool
	}{
		{"static amd64", elfImage(true, false, elfExec, ptLoad, ptLoad, ptNote), true},
		{"static armv7", elfImage(false, false, elfExec, ptLoad, ptLoad), true},
		{"static big-endian", elfImage(true, true, elfExec, ptLoad), true},
		{"position-independent", elfImage(true, false, 3, ptLoad), false},
		{"interpreter", elfImage(true, false, elfExec, ptInterp, ptLoad), false},
		{"dynamic", elfImage(false, false, elfExec, ptLoad, ptDynamic), false},
		{"relro", elfImage(true, false, elfExec, ptLoad, ptGNURelro), false},
		{"no program headers", elfImage(true, false, elfExec), false},
		{"truncated", elfImage(true, false, elfExec, ptLoad)[:70], false},
		{"not ELF", []byte("#!/bin/sh\necho hello, this is long enough to fill a header of sixty-four\n"), false},
		{"empty", nil, false},
	} {
		if got := staticExec(bytes.NewReader(tt.img)); got != tt.want {
			t.Errorf("%s: staticExec() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestDropPagesReadOnlyOfExe: of the mappings listed, only the binary's
// own code and read-only data are unmapped; never a writable one, another
// file's, or a binary replaced on disk since.
func TestDropPagesReadOnlyOfExe(t *testing.T) {
	t.Parallel()
	maps := []byte(`00400000-00b15000 r-xp 00000000 fe:00 1234                               /usr/bin/ovos-oauth
00b15000-012f3000 r--p 00715000 fe:00 1234                               /usr/bin/ovos-oauth
012f3000-013a7000 rw-p 00ef3000 fe:00 1234                               /usr/bin/ovos-oauth
013a7000-033ec000 rw-p 00000000 00:00 0
7f0000000000-7f0000100000 r--p 00000000 fe:00 99                         /var/lib/ovos-oauth/ovos-oauth.db
7f0000100000-7f0000200000 r-xp 00000000 fe:00 77                         /usr/bin/ovos-oauth (deleted)
7f0000200000-7f0000201000 r-xp 00000000 fe:00 78                         /usr/bin/ovos-oauth-old
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
`)
	var got []string
	n := dropPages(maps, "/usr/bin/ovos-oauth", func(lo, hi uintptr) error {
		got = append(got, fmt.Sprintf("%x-%x", lo, hi))
		return nil
	})
	if want := "400000-b15000 b15000-12f3000"; strings.Join(got, " ") != want {
		t.Errorf("advised %v, want %s", got, want)
	}
	if n != 0x12f3000-0x400000 {
		t.Errorf("dropPages() = %#x bytes", n)
	}
}

// exeRss is the resident KB of the mappings of the test binary's code.
func exeRss(t *testing.T, exe string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	total, inExe := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":"):
			inExe = len(fields) == 6 && fields[5] == exe && fields[1] == "r-xp"
		case inExe && len(fields) == 3 && fields[0] == "Rss:":
			kb, _ := strconv.Atoi(fields[1])
			total += kb
		}
	}
	return total
}

// TestDropPagesUnmaps: unmapping the test binary's own code drops its
// resident pages, and the code runs on: what it touches again is mapped
// again. (Code only: a test binary may be linked with libc, whose loader
// writes some read-only data.)
func TestDropPagesUnmaps(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skip(err)
	}
	var code []byte
	for line := range bytes.Lines(maps) {
		if bytes.Contains(line, []byte(" r-xp ")) {
			code = append(code, line...)
		}
	}
	// All of it mapped first, as start-up leaves a binary.
	populate := func(lo, hi uintptr) error {
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, lo, hi-lo, unix.MADV_POPULATE_READ); e != 0 {
			return e
		}
		return nil
	}
	if dropPages(code, exe, populate) == 0 {
		t.Skip("this kernel cannot map the code in advance (MADV_POPULATE_READ)")
	}
	before := exeRss(t, exe)
	if n := dropPages(code, exe, dontNeed); n == 0 {
		t.Fatal("nothing unmapped")
	}
	after := exeRss(t, exe)
	t.Logf("the test binary's code: %d KB resident before, %d KB after", before, after)
	if after*2 > before {
		t.Errorf("%d KB of code resident after unmapping, of %d before", after, before)
	}
	// Still running: a function not called before is mapped in.
	if !staticExec(bytes.NewReader(elfImage(true, false, elfExec, 1))) {
		t.Error("staticExec failed after unmapping")
	}
}
