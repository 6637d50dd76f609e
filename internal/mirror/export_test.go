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
