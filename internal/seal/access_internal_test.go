package seal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"strings"
	"testing"
)

// encodeACL is the system.posix_acl_access attribute of entries.
func encodeACL(entries ...aclEntry) []byte {
	b := binary.LittleEndian.AppendUint32(nil, aclVersion)
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint16(b, e.perm)
		b = binary.LittleEndian.AppendUint32(b, e.id)
	}
	return b
}

// An ACL entry's id is unused for these; Linux writes -1.
const noID = ^uint32(0)

func TestCheckAccess(t *testing.T) {
	const (
		path = "/var/lib/ovos-oauth/secrets.key"
		// Uids without a name here, so that the messages are the same on
		// every machine.
		service = 3000998 // the user the daemon runs as
		other   = 3004242
	)
	// What systemd makes of a credential on a file system with ACLs: root's
	// file, 0400, and read for the service's user alone.
	credential := func(user uint32, groupPerm, mask uint16) []byte {
		return encodeACL(
			aclEntry{aclUserObj, 4, noID},
			aclEntry{aclUser, 4, user},
			aclEntry{aclGroupObj, groupPerm, noID},
			aclEntry{aclMask, mask, noID},
			aclEntry{aclOther, 0, noID},
		)
	}
	tests := []struct {
		name  string
		a     fileAccess
		self  uint32
		wants []string // in the error; none: accepted
	}{
		{"own file 0600", fileAccess{perm: 0o600, owner: service}, service, nil},
		{"own file 0400", fileAccess{perm: 0o400, owner: service}, service, nil},
		{"root's file 0400", fileAccess{perm: 0o400, owner: 0}, service, nil},
		{"systemd credential with an ACL", fileAccess{perm: 0o440, owner: 0, acl: credential(service, 0, 4)}, service, nil},
		{"ACL masked by chmod 600", fileAccess{perm: 0o600, owner: service, acl: credential(other, 4, 0)}, service, nil},
		{"root uses another user's file", fileAccess{perm: 0o600, owner: other}, 0, nil},

		{"own file 0644", fileAccess{perm: 0o644, owner: service}, service,
			[]string{"is readable by others (mode 0644)", ": chmod 600 " + path}},
		{"own file 0620", fileAccess{perm: 0o620, owner: service}, service,
			[]string{"is writable by others (mode 0620)", ": chmod 600 " + path}},
		{"own file 0601", fileAccess{perm: 0o601, owner: service}, service,
			[]string{"is usable by others (mode 0601)"}},
		{"root's file read through its group", fileAccess{perm: 0o640, owner: 0}, service,
			[]string{"(mode 0640)", "chown 3000998 " + path + " && chmod 600 " + path}},
		{"root 0644", fileAccess{perm: 0o644, owner: other}, 0,
			[]string{"(mode 0644)", ": chmod 600 " + path}},
		{"another user's file", fileAccess{perm: 0o600, owner: other}, service,
			[]string{"belongs to ", "uid 3004242", "not to uid 3000998 (this process's user) or root", "chown 3000998 " + path + " && chmod 600 " + path}},
		{"another user's file, open to all", fileAccess{perm: 0o604, owner: other}, service,
			[]string{"belongs to ", " and is readable by others (mode 0604)"}},
		{"credential for another user", fileAccess{perm: 0o440, owner: 0, acl: credential(other, 0, 4)}, service,
			[]string{"readable by others (mode 0440, with an access control list that lets uid 3004242 use it)"}},
		{"ACL: owning group", fileAccess{perm: 0o640, owner: service, acl: credential(service, 4, 4)}, service,
			[]string{"lets its group use it"}},
		{"ACL: named group", fileAccess{perm: 0o660, owner: service, acl: encodeACL(
			aclEntry{aclUserObj, 6, noID}, aclEntry{aclGroupObj, 0, noID}, aclEntry{aclGroup, 6, 50},
			aclEntry{aclMask, 6, noID}, aclEntry{aclOther, 0, noID})}, service,
			[]string{"lets group 50 use it", ": chmod 600 " + path}},
		{"ACL: others", fileAccess{perm: 0o604, owner: service, acl: encodeACL(
			aclEntry{aclUserObj, 6, noID}, aclEntry{aclGroupObj, 0, noID}, aclEntry{aclOther, 4, noID})}, service,
			[]string{"lets everyone use it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkAccess(path, tt.a, tt.self)
			if len(tt.wants) == 0 {
				if err != nil {
					t.Errorf("checkAccess() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrKeyExposed) {
				t.Fatalf("checkAccess() = %v, want an error matching ErrKeyExposed", err)
			}
			for _, want := range append(tt.wants, "key file "+path+" ", "it must be readable only by its owner") {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("checkAccess() = %q, want it to say %q", err, want)
				}
			}
		})
	}
}

// TestExposedErrorFields: the error of a key file open to others says
// what is wrong in fields too, for a program to word in a person's
// language: the mode, whether an ACL or the owner is why, and the fix.
func TestExposedErrorFields(t *testing.T) {
	const path, service, other = "/k", 3000998, 3004242
	acl := encodeACL(aclEntry{aclUserObj, 6, noID}, aclEntry{aclGroupObj, 0, noID}, aclEntry{aclOther, 4, noID})
	for _, tt := range []struct {
		name string
		a    fileAccess
		want ExposedError
	}{
		{"mode", fileAccess{perm: 0o644, owner: service}, ExposedError{Path: path, Mode: 0o644, Others: true, Fix: "chmod 600 /k"}},
		{"ACL", fileAccess{perm: 0o604, owner: service, acl: acl}, ExposedError{Path: path, Mode: 0o604, Others: true, ACL: true, Fix: "chmod 600 /k"}},
		{"owner", fileAccess{perm: 0o600, owner: other}, ExposedError{Path: path, Mode: 0o600, Owner: "3004242", User: "3000998", Fix: "chown 3000998 /k && chmod 600 /k"}},
	} {
		e, ok := errors.AsType[*ExposedError](checkAccess(path, tt.a, service))
		if !ok {
			t.Fatalf("%s: checkAccess() is no *ExposedError", tt.name)
		}
		got := *e
		got.msg = ""
		if got != tt.want {
			t.Errorf("%s: checkAccess() = %+v, want %+v", tt.name, got, tt.want)
		}
		if !strings.HasSuffix(e.Error(), ": "+tt.want.Fix) {
			t.Errorf("%s: Error() = %q, want it to end with the fix", tt.name, e)
		}
	}
}

func TestCheckAccessRefusesACLItCannotRead(t *testing.T) {
	for name, acl := range map[string][]byte{
		"empty":         {},
		"short entry":   append(encodeACL(aclEntry{aclUserObj, 6, noID}), 1, 2, 3),
		"other version": append([]byte{3, 0, 0, 0}, encodeACL(aclEntry{aclUserObj, 6, noID})[4:]...),
		"unknown tag":   encodeACL(aclEntry{aclUserObj, 6, noID}, aclEntry{0x40, 4, 7}),
	} {
		err := checkAccess("/k", fileAccess{perm: 0o600, owner: 1, acl: acl}, 1)
		if err == nil || !strings.Contains(err.Error(), "access control list") {
			t.Errorf("%s: checkAccess() = %v, want an error about the ACL", name, err)
		}
	}
}

// FuzzParseACL: any attribute parses or is refused without a panic, and
// what parses is exactly its entries.
func FuzzParseACL(f *testing.F) {
	f.Add(encodeACL(aclEntry{aclUserObj, 6, noID}, aclEntry{aclUser, 4, 998}, aclEntry{aclGroupObj, 0, noID}, aclEntry{aclMask, 4, noID}, aclEntry{aclOther, 0, noID}))
	f.Add([]byte{2, 0, 0, 0})
	f.Add([]byte{2, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := parseACL(b)
		if err != nil {
			return
		}
		if again := encodeACL(entries...); !bytes.Equal(again, b) {
			t.Fatalf("parseACL(%x) = %v, which encodes to %x", b, entries, again)
		}
		_, _ = fileAccess{perm: fs.FileMode(0o640), acl: b}.exposure(1)
	})
}
