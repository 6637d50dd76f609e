package i18n

import "io/fs"

// ForFS is For over the messages of fsys rather than the built-in ones.
func ForFS(fsys fs.FS, tag string) (*Printer, error) { return newLazyCatalog(fsys).printer(tag) }
