package seal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// setACL gives path an ACL through the kernel, which checks its form; it
// skips the test where the file system keeps no ACLs.
func setACL(t *testing.T, path, attr string, entries ...aclEntry) {
	t.Helper()
	if err := syscall.Setxattr(path, attr, encodeACL(entries...), 0); err != nil {
		if errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP) {
			t.Skipf("%s keeps no ACLs: %v", filepath.Dir(path), err)
		}
		t.Fatalf("set %s: %v", attr, err)
	}
}

// TestReadKeyFileACL: on a real file system, a group read permission that
// an ACL grants shows in the mode as the ACL's mask and is refused; chmod
// 600, as the message says, masks it; an ACL that lets only this process's
// user read, the shape of a systemd credential, is taken although the mode
// shows group bits.
func TestReadKeyFileACL(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets.key")
	key, err := CreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	self := uint32(os.Getuid())
	setACL(t, path, "system.posix_acl_access",
		aclEntry{aclUserObj, 6, noID}, aclEntry{aclGroupObj, 0, noID}, aclEntry{aclGroup, 4, uint32(os.Getgid())},
		aclEntry{aclMask, 4, noID}, aclEntry{aclOther, 0, noID})
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode with the ACL = %v (%v), want 0640: the mask as group bits", fi.Mode().Perm(), err)
	}
	_, err = ReadKeyFile(path)
	if !errors.Is(err, ErrKeyExposed) || !strings.Contains(err.Error(), "access control list that lets group") || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Errorf("ReadKeyFile() with a group ACL = %v, want it refused with chmod 600", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadKeyFile(path); err != nil || string(got) != string(key) {
		t.Errorf("ReadKeyFile() after chmod 600 = %v, want the key", err)
	}

	setACL(t, path, "system.posix_acl_access",
		aclEntry{aclUserObj, 4, noID}, aclEntry{aclUser, 4, self}, aclEntry{aclGroupObj, 0, noID},
		aclEntry{aclMask, 4, noID}, aclEntry{aclOther, 0, noID})
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o440 {
		t.Fatalf("mode with the credential's ACL = %v, want 0440", fi.Mode().Perm())
	}
	if _, err := ReadKeyFile(path); err != nil {
		t.Errorf("ReadKeyFile() with an ACL for this user alone = %v, want the key", err)
	}
}

// TestCreateKeyFileUnderDefaultACL: a data directory whose default ACL
// would let a group read new files does not make the key CreateKeyFile
// writes one that ReadKeyFile refuses.
func TestCreateKeyFileUnderDefaultACL(t *testing.T) {
	dir := t.TempDir()
	setACL(t, dir, "system.posix_acl_default",
		aclEntry{aclUserObj, 7, noID}, aclEntry{aclGroupObj, 5, noID}, aclEntry{aclGroup, 5, uint32(os.Getgid())},
		aclEntry{aclMask, 5, noID}, aclEntry{aclOther, 5, noID})
	path := filepath.Join(dir, "secrets.key")
	key, err := CreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if acl, err := readACL(path); err != nil || acl == nil {
		t.Fatalf("the new key file has no ACL (%v): the default ACL did not apply", err)
	}
	if got, err := ReadKeyFile(path); err != nil || string(got) != string(key) {
		t.Errorf("ReadKeyFile() of the key CreateKeyFile wrote = %v, want the key", err)
	}
}
