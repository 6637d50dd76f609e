//go:build !unix

package seal

import "os"

// checkPrivate accepts any key file where Unix permissions do not apply.
func checkPrivate(*os.File, string) error { return nil }
