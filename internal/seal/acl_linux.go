package seal

import (
	"errors"
	"syscall"
)

// readACL returns the file's POSIX access ACL attribute, or nil if it has
// none or its file system keeps none.
func readACL(path string) ([]byte, error) {
	const name = "system.posix_acl_access"
	for range 3 {
		n, err := syscall.Getxattr(path, name, nil)
		if err != nil {
			return nil, noACL(err)
		}
		buf := make([]byte, n)
		n, err = syscall.Getxattr(path, name, buf)
		if errors.Is(err, syscall.ERANGE) {
			continue // it grew in between
		}
		if err != nil {
			return nil, noACL(err)
		}
		return buf[:n], nil
	}
	return nil, errors.New("it keeps changing")
}

// noACL is nil for the errors that mean the file has no ACL.
func noACL(err error) error {
	if errors.Is(err, syscall.ENODATA) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP) {
		return nil
	}
	return err
}
