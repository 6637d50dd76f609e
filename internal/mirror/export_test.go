package mirror

// FileWrites returns how many times w has written a file.
func (w *Writer) FileWrites() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

// FileReads returns how many times w has read a file (to change it or not).
func (w *Writer) FileReads() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.read
}

// SetTrim makes w call trim instead of returning memory to the OS, after
// writing a file of above bytes or more. Call it before Run.
func (w *Writer) SetTrim(above int64, trim func()) {
	w.trimAbove, w.trim = above, trim
}

// SetAfterWrite makes every write of a file call hook with its path once the
// file is in place; nil stops it. Tests that call it must not run in
// parallel with others of the package that write files.
func SetAfterWrite(hook func(path string)) { afterWrite = hook }

// Watching returns a channel closed once w watches the token file for
// other programs' changes.
func (w *Writer) Watching() <-chan struct{} { return w.watching }
