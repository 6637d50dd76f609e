//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// dropStartPages unmaps from the process the pages of its own binary that
// it has mapped so far, its code and read-only data, once it is up: most
// were read by start-up alone (every package's init, the configuration,
// opening the store), and Linux maps a binary's pages 64 KB at a time
// around each one read, so an idle daemon counted nearly its whole binary
// (13 of its 16 MB) in its resident memory. The pages stay in the page
// cache; those the daemon reads again are mapped again at its next touch,
// a minor fault, and the others are the first the kernel reclaims when
// memory runs short. Read-only pages of a file are only ever the file's,
// so unmapping them loses nothing: only a binary the Go linker built on
// its own (static, not position-independent: nothing relocated at load)
// is touched, and only its segments that nothing may write. It does
// nothing elsewhere, and reports no error: it is a saving, not a duty.
//
// It drops them at once, and again startPagesAgain later, after
// start-up's stragglers: the refresh plan of a large store, the HTTP
// server, the skills registering as the first oauth.ping asks.
func dropStartPages() {
	dropOwnPages()
	time.AfterFunc(startPagesAgain, dropOwnPages)
}

// startPagesAgain is when dropStartPages drops the pages a second time.
const startPagesAgain = 5 * time.Second

// dropOwnPages unmaps the binary's read-only pages mapped now.
func dropOwnPages() {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return
	}
	static := staticExec(f)
	f.Close()
	if !static {
		return
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	dropPages(maps, exe, dontNeed)
}

// dontNeed unmaps the pages from lo to hi: the next touch maps them again
// from the file (MADV_DONTNEED).
func dontNeed(lo, hi uintptr) error {
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, lo, hi-lo, unix.MADV_DONTNEED); e != 0 {
		return e
	}
	return nil
}

// dropPages calls advise on the range of each mapping in maps (as
// /proc/self/maps lists them) of the file exe that is read-only: code
// (r-xp) and read-only data (r--p); never one that is or was writable. It
// returns the bytes it advised.
func dropPages(maps []byte, exe string, advise func(lo, hi uintptr) error) (n uintptr) {
	for line := range bytes.Lines(maps) {
		f := bytes.Fields(line)
		// address perms offset dev inode pathname; a path with spaces, or
		// one marked " (deleted)", is not exe.
		if len(f) != 6 || string(f[5]) != exe || (string(f[1]) != "r-xp" && string(f[1]) != "r--p") {
			continue
		}
		lo, hi, ok := bytes.Cut(f[0], []byte("-"))
		if !ok {
			continue
		}
		l, err1 := strconv.ParseUint(string(lo), 16, 64)
		h, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || h <= l {
			continue
		}
		if advise(uintptr(l), uintptr(h)) == nil {
			n += uintptr(h - l)
		}
	}
	return n
}

// ELF constants staticExec reads.
const (
	elfExec     = 2          // ET_EXEC: not position-independent
	ptDynamic   = 2          // PT_DYNAMIC: linked with shared libraries
	ptInterp    = 3          // PT_INTERP: loaded by ld.so
	ptGNURelro  = 0x6474e552 // PT_GNU_RELRO: data relocated, then made read-only
	elfHeader64 = 64
)

// staticExec reports whether r is an ELF executable that nothing
// relocates at load: not position-independent, no interpreter, no dynamic
// section, no RELRO segment (read-only pages written at load, which
// unmapping would undo). False for anything it cannot read.
func staticExec(r io.ReaderAt) bool {
	hdr := make([]byte, elfHeader64)
	if _, err := r.ReadAt(hdr, 0); err != nil || !bytes.HasPrefix(hdr, []byte("\x7fELF")) {
		return false
	}
	var order binary.ByteOrder
	switch hdr[5] {
	case 1:
		order = binary.LittleEndian
	case 2:
		order = binary.BigEndian
	default:
		return false
	}
	var phoff uint64
	var phentsize, phnum uint16
	switch hdr[4] {
	case 1: // 32-bit
		phoff = uint64(order.Uint32(hdr[0x1c:]))
		phentsize, phnum = order.Uint16(hdr[0x2a:]), order.Uint16(hdr[0x2c:])
	case 2: // 64-bit
		phoff = order.Uint64(hdr[0x20:])
		phentsize, phnum = order.Uint16(hdr[0x36:]), order.Uint16(hdr[0x38:])
	default:
		return false
	}
	if order.Uint16(hdr[0x10:]) != elfExec || phnum == 0 || phentsize < 4 {
		return false
	}
	ph := make([]byte, int(phentsize)*int(phnum))
	if _, err := r.ReadAt(ph, int64(phoff)); err != nil {
		return false
	}
	for i := range int(phnum) {
		switch order.Uint32(ph[i*int(phentsize):]) {
		case ptDynamic, ptInterp, ptGNURelro:
			return false
		}
	}
	return true
}
