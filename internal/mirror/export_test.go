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
