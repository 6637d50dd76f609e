package seal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os/user"
	"strconv"
	"strings"
)

// ErrKeyExposed is matched (errors.Is) by the error of ReadKeyFile for a
// key file that users other than its owner could read or change, or that
// belongs to another user. The error's text says how to fix it.
var ErrKeyExposed = errors.New("seal: key file is open to other users")

// ExposedError is the error of ReadKeyFile for a key file that users other
// than its owner could read or change, or that belongs to another user; it
// matches ErrKeyExposed. Its Error is English, for logs, and ends with
// Fix; the fields let a program word it for a person.
type ExposedError struct {
	Path string
	// Mode is the file's permission bits; with an access control list,
	// the group bits are its mask.
	Mode fs.FileMode
	// Others says that other users may use the file: by its mode, or by
	// its access control list when ACL is set.
	Others, ACL bool
	// Owner is the name (or uid) of the file's owner when it is neither
	// User, this process's user, nor root; "" otherwise.
	Owner, User string
	// Fix is the command that fixes it: chmod 600, after a chown when the
	// file is another user's.
	Fix string
	msg string
}

func (e *ExposedError) Error() string        { return e.msg }
func (e *ExposedError) Is(target error) bool { return target == ErrKeyExposed }

// fileAccess is what the file system says about who may use a file.
type fileAccess struct {
	perm  fs.FileMode // permission bits; with an ACL, the group bits are its mask
	owner uint32
	acl   []byte // the system.posix_acl_access attribute; nil without one
}

// checkAccess refuses a key file that anyone but its owner, this process's
// user (self) and root could read or change, as ssh refuses a private key:
// group or other permission bits, an access control list that grants a
// group or another user anything, or an owner that is neither self nor
// root (that user could read the key, chmod the file and replace the key).
// Root, which reads every file anyway, may use a file of any owner: it
// often works on the files of a service's user.
//
// A systemd credential passes: systemd makes it 0400, owned by the
// service's user, or owned by root with an ACL that lets the service's user
// alone read it.
func checkAccess(path string, a fileAccess, self uint32) error {
	exposed, err := a.exposure(self)
	if err != nil {
		return &KeyFileError{Path: path, Problem: KeyFileUnreadable, Err: fmt.Errorf("key file %s: %w", path, err)}
	}
	foreign := a.owner != self && a.owner != 0 && self != 0
	if exposed == "" && !foreign {
		return nil
	}
	e := &ExposedError{Path: path, Mode: a.perm.Perm(), Others: exposed != "", ACL: exposed != "" && a.acl != nil}
	var what []string
	if foreign {
		e.Owner, e.User = chownName(a.owner), chownName(self)
		what = append(what, fmt.Sprintf("belongs to %s, not to %s (this process's user) or root", userName(a.owner), userName(self)))
	}
	if exposed != "" {
		what = append(what, "is "+exposed)
	}
	e.Fix = "chmod 600 " + path
	if a.owner != self && self != 0 {
		// chmod alone would lock this user out of a file it reads
		// through its group or an ACL.
		e.Fix = "chown " + chownName(self) + " " + path + " && " + e.Fix
	}
	e.msg = fmt.Sprintf("key file %s %s; it must be readable only by its owner, the user ovos-oauth runs as: %s",
		path, strings.Join(what, " and "), e.Fix)
	return e
}

// exposure describes who besides the owner may use the file, e.g.
// "readable by others (mode 0644)", or returns "" for no one.
func (a fileAccess) exposure(self uint32) (string, error) {
	mode := fmt.Sprintf("mode %04o", a.perm.Perm())
	if a.acl == nil {
		if a.perm&0o077 == 0 {
			return "", nil
		}
		return access(uint16(a.perm>>3|a.perm)&7) + " by others (" + mode + ")", nil
	}
	entries, err := parseACL(a.acl)
	if err != nil {
		return "", err
	}
	mask := uint16(7)
	for _, e := range entries {
		if e.tag == aclMask {
			mask = e.perm
		}
	}
	for _, e := range entries {
		// The mask bounds what the entries of the group class grant.
		perm, who := e.perm&mask, ""
		switch e.tag {
		case aclUserObj, aclMask:
			continue
		case aclUser:
			if e.id == self {
				continue
			}
			who = userName(e.id)
		case aclGroupObj:
			who = "its group"
		case aclGroup:
			who = "group " + strconv.FormatUint(uint64(e.id), 10)
		case aclOther:
			perm, who = e.perm, "everyone"
		default:
			return "", fmt.Errorf("its access control list has an entry of unknown kind %#x", e.tag)
		}
		if perm&7 != 0 {
			return fmt.Sprintf("%s by others (%s, with an access control list that lets %s use it)", access(perm), mode, who), nil
		}
	}
	return "", nil
}

// access says what rwx bits (4, 2, 1) let others do, reading first.
func access(rwx uint16) string {
	switch {
	case rwx&4 != 0:
		return "readable"
	case rwx&2 != 0:
		return "writable"
	}
	return "usable"
}

// userName is "user NAME (uid N)", or "uid N" for a uid without a name.
func userName(uid uint32) string {
	if name := chownName(uid); name != strconv.FormatUint(uint64(uid), 10) {
		return "user " + name + " (uid " + strconv.FormatUint(uint64(uid), 10) + ")"
	}
	return "uid " + strconv.FormatUint(uint64(uid), 10)
}

// chownName is the user's name, or its uid if it has none.
func chownName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		return u.Username
	}
	return id
}

// The tags of POSIX ACL entries, as Linux stores them in the
// system.posix_acl_access attribute (linux/posix_acl_xattr.h).
const (
	aclVersion  = 2
	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclGroup    = 0x08
	aclMask     = 0x10
	aclOther    = 0x20
)

type aclEntry struct {
	tag, perm uint16
	id        uint32
}

// parseACL reads a system.posix_acl_access attribute: a little-endian
// version (2), then entries of tag (2 bytes), permissions (2) and id (4).
func parseACL(b []byte) ([]aclEntry, error) {
	if len(b) < 4 || (len(b)-4)%8 != 0 {
		return nil, fmt.Errorf("its access control list is %d bytes, not a version and whole entries", len(b))
	}
	if v := binary.LittleEndian.Uint32(b); v != aclVersion {
		return nil, fmt.Errorf("its access control list is of version %d, not %d", v, aclVersion)
	}
	entries := make([]aclEntry, 0, (len(b)-4)/8)
	for p := b[4:]; len(p) > 0; p = p[8:] {
		entries = append(entries, aclEntry{
			tag:  binary.LittleEndian.Uint16(p),
			perm: binary.LittleEndian.Uint16(p[2:]),
			id:   binary.LittleEndian.Uint32(p[4:]),
		})
	}
	return entries, nil
}
