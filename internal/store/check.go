package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// ErrDamagedFile is wrapped by the error of Open, and of Check, for a file
// that bbolt cannot safely map: cut short, or with no sound meta page.
// bbolt itself would crash the process on such a file (SIGBUS on a page
// past the end, or a panic on a freelist page full of zeros). That error
// is a *DamagedFileError, which says what is wrong as a code too.
var ErrDamagedFile = errors.New("the database file is damaged")

// FileDamage says what is wrong with a damaged database file, as a code a
// program words in its user's language.
type FileDamage string

// What can be wrong with a database file.
const (
	// FileCutShort: the file ends before its last transaction's pages.
	FileCutShort FileDamage = "cut_short"
	// FileOverwritten: no sound meta page: overwritten, or not a database.
	FileOverwritten FileDamage = "overwritten"
	// FileInconsistent: its pages do not fit together.
	FileInconsistent FileDamage = "inconsistent"
)

// DamagedFileError is the error of Open, Inspect and RemoveDamaged for a
// file bbolt cannot safely map. It wraps ErrDamagedFile. Its Error is
// English, for logs; a program words Reason and Path for a person.
type DamagedFileError struct {
	Path   string
	Reason FileDamage
	// Problem says what is wrong in English, with the numbers found.
	Problem string
}

// Error names the file, says what is wrong, then what to do. The file is
// never deleted or changed: it may be all the user has.
func (e *DamagedFileError) Error() string {
	return fmt.Sprintf("%v: %s. ovos-oauth did not change it. Restore it from a backup (with the key file backed up with it), or move it aside (mv %s %s.damaged) to start with an empty store, in which the skills register their apps again and every app needs a new login",
		ErrDamagedFile, e.Problem, e.Path, e.Path)
}

func (e *DamagedFileError) Unwrap() error { return ErrDamagedFile }

// layoutError is an error of checkLayout that knows what it means.
type layoutError struct {
	reason FileDamage
	msg    string
}

func (e *layoutError) Error() string { return e.msg }

func cutShort(format string, args ...any) error {
	return &layoutError{FileCutShort, fmt.Sprintf(format, args...)}
}

func overwritten(msg string) error { return &layoutError{FileOverwritten, msg} }

// bbolt's on-disk layout, as of go.etcd.io/bbolt v1.5 (file format version
// 2): pages of the size recorded in the meta pages, pages 0 and 1 the two
// meta pages, each page starting with a 16-byte header. Numbers are in the
// machine's byte order: bbolt writes its structs as they are in memory.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	metaSize         = 64 // see boltMeta
	metaChecksumFrom = pageHeaderSize + metaSize - 8
	pgidNoFreelist   = ^uint64(0)

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagFreelist = 0x10

	// bbolt looks for the second meta page at 1 KiB << i, i up to 14.
	minPageSize = 1024
	maxPageSize = 1024 << 14
)

// boltMeta is a meta page's body, after the page header.
type boltMeta struct {
	magic, version, pageSize, flags uint32
	root, sequence                  uint64 // the root bucket
	freelist, pgid, txid, checksum  uint64 // pgid: the high-water mark, pages in use are below it
}

// readMeta reads and validates the meta page at off, as bbolt's
// Meta.Validate does. ok is false for a page that is short, not a meta
// page, of another format version or whose checksum does not match.
func readMeta(r io.ReaderAt, off int64) (m boltMeta, ok bool) {
	var buf [pageHeaderSize + metaSize]byte
	if n, _ := r.ReadAt(buf[:], off); n < len(buf) {
		return m, false
	}
	e := binary.NativeEndian
	b := buf[pageHeaderSize:]
	m = boltMeta{
		magic: e.Uint32(b[0:]), version: e.Uint32(b[4:]), pageSize: e.Uint32(b[8:]), flags: e.Uint32(b[12:]),
		root: e.Uint64(b[16:]), sequence: e.Uint64(b[24:]),
		freelist: e.Uint64(b[32:]), pgid: e.Uint64(b[40:]), txid: e.Uint64(b[48:]), checksum: e.Uint64(b[56:]),
	}
	h := fnv.New64a()
	h.Write(buf[pageHeaderSize:metaChecksumFrom])
	return m, m.magic == boltMagic && m.version == boltVersion && m.checksum == h.Sum64()
}

// pageHeader reads the flags and overflow count of page id.
func pageHeader(r io.ReaderAt, id uint64, pageSize int64) (flags uint16, overflow uint32, err error) {
	var buf [pageHeaderSize]byte
	if n, _ := r.ReadAt(buf[:], int64(id)*pageSize); n < len(buf) {
		return 0, 0, fmt.Errorf("page %d cannot be read", id)
	}
	e := binary.NativeEndian
	return e.Uint16(buf[8:]), e.Uint32(buf[12:]), nil
}

// checkLayout checks what bbolt reads of a file of size bytes when it maps
// it, before it does: the meta page it will use (the valid one of the
// highest transaction), and that every page in use lies within the file,
// the freelist and root pages whole and of their kind. A file that passes
// can be mapped and its meta and freelist read without a fault; the pages
// of the tree are left to bbolt's own Check. A size of 0 is a new file.
// The error says what is wrong, in words, without ErrDamagedFile.
func checkLayout(r io.ReaderAt, size int64) error {
	if size == 0 {
		return nil
	}
	pageSize, err := findPageSize(r, size)
	if err != nil {
		return err
	}
	meta0, ok0 := readMeta(r, 0)
	meta1, ok1 := readMeta(r, pageSize)
	// bbolt uses the meta of the higher transaction if it is valid, else
	// the other.
	m, ok := meta0, ok0
	if (meta1.txid > meta0.txid && ok1) || !ok0 {
		m, ok = meta1, ok1
	}
	pages := uint64(size / pageSize)
	switch {
	case !ok:
		return overwritten("neither of its two meta pages is sound: it was overwritten")
	case int64(m.pageSize) != pageSize:
		return fmt.Errorf("its two meta pages disagree on the page size (%d and %d bytes)", meta0.pageSize, meta1.pageSize)
	case m.pgid > pages:
		return cutShort("it is %d bytes, but its last transaction wrote pages up to byte %d: it was cut short", size, satMul(m.pgid, uint64(pageSize)))
	case m.pgid < 4 || m.root < 2 || m.root >= m.pgid:
		return fmt.Errorf("its meta page names a root page %d that is not among its %d pages", m.root, m.pgid)
	case m.freelist == pgidNoFreelist:
		// bbolt would rebuild the freelist by walking the tree in a
		// goroutine that panics, out of reach, on a bad page; ovos-oauth
		// never writes a file without one.
		return errors.New("its meta page says it has no freelist, which ovos-oauth never writes")
	case m.freelist < 2 || m.freelist >= m.pgid:
		return fmt.Errorf("its meta page names a freelist page %d that is not among its %d pages", m.freelist, m.pgid)
	}
	if err := checkFreelist(r, m.freelist, m.pgid, pageSize); err != nil {
		return err
	}
	return checkRoot(r, m, pageSize)
}

// findPageSize returns the page size of a file of size bytes: that of the
// first valid meta page, searched as bbolt does, the first at offset 0,
// else the second at any size.
func findPageSize(r io.ReaderAt, size int64) (int64, error) {
	meta0, ok0 := readMeta(r, 0)
	pageSize := int64(meta0.pageSize)
	if !ok0 {
		pageSize = 0
		for off := int64(minPageSize); off <= maxPageSize && off < size-minPageSize; off <<= 1 {
			if m, ok := readMeta(r, off); ok {
				pageSize = int64(m.pageSize)
				break
			}
		}
	}
	switch {
	case pageSize == 0 && size < 2*minPageSize:
		return 0, cutShort("it is %d bytes, too short to be a database: it was cut short, or is not a database", size)
	case pageSize == 0:
		return 0, overwritten("neither of its two first pages is a sound bbolt meta page: it was overwritten, or is not a database")
	case pageSize < minPageSize || pageSize > maxPageSize || pageSize&(pageSize-1) != 0:
		return 0, fmt.Errorf("its meta page gives a page size of %d bytes, which bbolt never writes", pageSize)
	case size < 2*pageSize:
		return 0, cutShort("it is %d bytes, less than its two meta pages of %d bytes: it was cut short", size, pageSize)
	}
	return pageSize, nil
}

// checkRoot checks the root page that m, the meta page in use, names: a
// tree page within the pages in use.
func checkRoot(r io.ReaderAt, m boltMeta, pageSize int64) error {
	flags, overflow, err := pageHeader(r, m.root, pageSize)
	switch {
	case err != nil:
		return err
	case flags != flagLeaf && flags != flagBranch:
		return fmt.Errorf("its root page %d is not a tree page (flags %#x)", m.root, flags)
	case m.root+uint64(overflow) >= m.pgid:
		return fmt.Errorf("its root page %d runs past its %d pages", m.root, m.pgid)
	}
	return nil
}

// checkFreelist checks the freelist page, which bbolt reads whole when it
// opens a file for writing: a freelist page, within the pages in use, whose
// ids name pages in use.
func checkFreelist(r io.ReaderAt, id, pgid uint64, pageSize int64) error {
	var buf [pageHeaderSize + 8]byte
	if n, _ := r.ReadAt(buf[:], int64(id)*pageSize); n < len(buf) {
		return fmt.Errorf("its freelist page %d cannot be read", id)
	}
	e := binary.NativeEndian
	flags, count, overflow := e.Uint16(buf[8:]), uint64(e.Uint16(buf[10:])), uint64(e.Uint32(buf[12:]))
	if flags != flagFreelist {
		return fmt.Errorf("its freelist page %d is not a freelist page (flags %#x)", id, flags)
	}
	if id+overflow >= pgid {
		return fmt.Errorf("its freelist page %d runs past its %d pages", id, pgid)
	}
	start := int64(id)*pageSize + pageHeaderSize
	if count == 0xFFFF { // the real count is in the first element
		count = e.Uint64(buf[pageHeaderSize:])
		start += 8
	}
	end := int64(id+overflow+1) * pageSize
	if count > uint64(end-start)/8 {
		return fmt.Errorf("its freelist page %d lists more pages than it holds", id)
	}
	ids := make([]byte, count*8)
	if n, _ := r.ReadAt(ids, start); n < len(ids) {
		return fmt.Errorf("its freelist page %d cannot be read", id)
	}
	free := make([]uint64, 0, count)
	for i := 0; i < len(ids); i += 8 {
		id := e.Uint64(ids[i:])
		if id < 2 || id >= pgid {
			return fmt.Errorf("its freelist names page %d, which is not among its %d pages", id, pgid)
		}
		free = append(free, id)
	}
	// bbolt panics on a page freed twice.
	slices.Sort(free)
	for i := 1; i < len(free); i++ {
		if free[i] == free[i-1] {
			return fmt.Errorf("its freelist names page %d twice", free[i])
		}
	}
	return nil
}

// satMul is a*b, or the largest uint64 where that overflows.
func satMul(a, b uint64) uint64 {
	if b != 0 && a > ^uint64(0)/b {
		return ^uint64(0)
	}
	return a * b
}

// checkFile checks the open store file f at path before bbolt maps it, and
// returns an error wrapping ErrDamagedFile that names the file and says
// what to do.
func checkFile(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := checkLayout(f, fi.Size()); err != nil {
		return damagedFile(path, err)
	}
	return nil
}

// damagedFile is the error for a damaged file at path, problem what is
// wrong: a layoutError knows what it means, any other is of pages that do
// not fit together.
func damagedFile(path string, problem error) error {
	reason := FileInconsistent
	if le, ok := errors.AsType[*layoutError](problem); ok {
		reason = le.reason
	}
	return &DamagedFileError{Path: path, Reason: reason, Problem: problem.Error()}
}

// walk reads every key and value of the file through bbolt, in the calling
// goroutine, and turns a page fault or a bbolt panic (a page that is not
// what its parent says) into an error: bbolt checksums no page, so garbage
// in one is found only by reading it.
func walk(bdb *bolt.DB) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt cannot read it (%v)", r)
		}
	}()
	var sum byte
	err = bdb.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walkBucket(b, &sum) })
	})
	runtime.KeepAlive(sum)
	return err
}

// walkBucket touches the first and last byte of every key and value of b
// and its nested buckets: what lies between is in the same pages.
func walkBucket(b *bolt.Bucket, sum *byte) error {
	return b.ForEach(func(k, v []byte) error {
		*sum ^= k[0] ^ k[len(k)-1]
		if v == nil {
			if nested := b.Bucket(k); nested != nil {
				return walkBucket(nested, sum)
			}
			return nil
		}
		if len(v) > 0 {
			*sum ^= v[0] ^ v[len(v)-1]
		}
		return nil
	})
}

// boltOpen is bolt.Open, with what it reads in the calling goroutine
// guarded: a panic or a page fault there, on a file that passed
// checkLayout, becomes an error wrapping ErrDamagedFile, and the file is
// closed (its lock released). The mapping bbolt made, if any, stays until
// the process ends.
func boltOpen(path string, opts *bolt.Options) (bdb *bolt.DB, err error) {
	var file *os.File
	open := opts.OpenFile
	guarded := *opts
	guarded.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := open(name, flag, perm)
		file = f
		return f, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				_ = file.Close()
			}
			bdb, err = nil, damagedFile(path, fmt.Errorf("bbolt cannot read it (%v)", r))
		}
	}()
	return bolt.Open(path, 0o600, &guarded)
}
