//go:build unix

package qr

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// checkOwned refuses a folder that another user could swap images in: one
// whose path has a component owned by someone other than this process's
// user or root, or writable by everyone without the sticky bit (as /tmp
// has). It matters for the default folder under /tmp, where another user
// could have made the folder first and would then control what the GUI
// shows as a login's QR code.
func checkOwned(dir string) error {
	uid := uint32(os.Getuid())
	for p := dir; ; p = filepath.Dir(p) {
		info, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("qr dir: %w", err)
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Uid != uid && st.Uid != 0 {
			return fmt.Errorf("qr dir %s: %s belongs to uid %d, not to this user (%d) or root: refusing it, another user could replace the QR codes; set qr_dir elsewhere", dir, p, st.Uid, uid)
		}
		if info.Mode()&fs.ModeSymlink == 0 && info.Mode().Perm()&0o002 != 0 && info.Mode()&fs.ModeSticky == 0 {
			return fmt.Errorf("qr dir %s: %s is writable by every user: refusing it, another user could replace the QR codes; set qr_dir elsewhere", dir, p)
		}
		if parent := filepath.Dir(p); parent == p {
			return nil
		}
	}
}
