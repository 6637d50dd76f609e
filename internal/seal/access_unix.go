//go:build unix

package seal

import (
	"fmt"
	"os"
	"syscall"
)

// checkPrivate is checkAccess for the open key file f.
func checkPrivate(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return unreadable(path, fmt.Errorf("read key file: %w", err))
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	acl, err := readACL(path)
	if err != nil {
		return unreadable(path, fmt.Errorf("read key file %s: access control list: %w", path, err))
	}
	return checkAccess(path, fileAccess{perm: fi.Mode().Perm(), owner: st.Uid, acl: acl}, uint32(os.Getuid()))
}
