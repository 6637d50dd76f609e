package migrate_test

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/migrate"
)

// fakeMachine is a file system root with homes under /home, and a passwd
// of its own: Find reads nothing of the real machine.
type fakeMachine struct {
	t     *testing.T
	root  string
	users map[string]*user.User
	owner uint32 // owner of the homes made with home(): never root
}

func newFakeMachine(t *testing.T) *fakeMachine {
	m := &fakeMachine{t: t, root: t.TempDir(), users: map[string]*user.User{}, owner: uint32(os.Getuid())}
	if m.owner == 0 {
		m.owner = 4242 // as root, homes get another owner, as on a device
	}
	return m
}

func (m *fakeMachine) host() migrate.Host {
	return migrate.Host{Root: m.root, LookupUser: func(name string) (*user.User, error) {
		if u, ok := m.users[name]; ok {
			return u, nil
		}
		return nil, user.UnknownUserError(name)
	}}
}

// home makes /home/name, owned by m.owner, with the plugin's files in its
// ovos_utils folder when files is set.
func (m *fakeMachine) home(name string, files bool) string {
	m.t.Helper()
	home := filepath.Join("/home", name)
	dir := filepath.Join(m.root, home, ".cache", "mycroft", "json_database")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		m.t.Fatal(err)
	}
	if files {
		if err := os.WriteFile(filepath.Join(dir, migrate.AppsFile), []byte("{}"), 0o600); err != nil {
			m.t.Fatal(err)
		}
	}
	if os.Getuid() == 0 {
		if err := os.Lchown(filepath.Join(m.root, home), int(m.owner), int(m.owner)); err != nil {
			m.t.Fatal(err)
		}
	}
	return filepath.Join(home, ".cache", "mycroft", "json_database")
}

func (m *fakeMachine) addUser(name, uid, home string) {
	m.users[name] = &user.User{Username: name, Uid: uid, Gid: uid, HomeDir: home}
}

func TestFind(t *testing.T) {
	owner := func(m *fakeMachine) string { return strconv.Itoa(int(m.owner)) }
	tests := []struct {
		name    string
		setup   func(m *fakeMachine) (want string)
		user    string // the user of the folder found, "" for none known
		looked  []string
		wantErr string
	}{
		{
			name: "the ovos user's folder, before another home's",
			setup: func(m *fakeMachine) string {
				m.home("pi", true)
				dir := m.home("ovos", true)
				m.addUser("ovos", owner(m), "/home/ovos")
				return dir
			},
			user:   "ovos",
			looked: []string{"/home/ovos/.cache/mycroft/json_database"},
		},
		{
			name: "the ovos user's home elsewhere",
			setup: func(m *fakeMachine) string {
				dir := filepath.Join(m.root, "var/lib/ovos/.cache/mycroft/json_database")
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, migrate.TokensFile), []byte("{}"), 0o600); err != nil {
					t.Fatal(err)
				}
				m.addUser("ovos", owner(m), "/var/lib/ovos")
				return "/var/lib/ovos/.cache/mycroft/json_database"
			},
			user:   "ovos",
			looked: []string{"/var/lib/ovos/.cache/mycroft/json_database"},
		},
		{
			name: "the ovos user without files: the only home that has them",
			setup: func(m *fakeMachine) string {
				m.home("ovos", false)
				m.addUser("ovos", owner(m), "/home/ovos")
				m.home("alice", false)
				return m.home("pi", true)
			},
			looked: []string{"/home/ovos/.cache/mycroft/json_database", "/home/*/.cache/mycroft/json_database"},
		},
		{
			name: "no ovos user: the only home that has them",
			setup: func(m *fakeMachine) string {
				m.home("alice", false)
				return m.home("pi", true)
			},
			looked: []string{"/home/*/.cache/mycroft/json_database"},
		},
		{
			name: "several homes: none chosen",
			setup: func(m *fakeMachine) string {
				m.home("alice", true)
				m.home("pi", true)
				return ""
			},
			looked:  []string{"/home/*/.cache/mycroft/json_database"},
			wantErr: "/home/alice/.cache/mycroft/json_database, ",
		},
		{
			name: "nothing anywhere",
			setup: func(m *fakeMachine) string {
				m.home("ovos", false)
				m.addUser("ovos", owner(m), "/home/ovos")
				return ""
			},
			looked: []string{"/home/ovos/.cache/mycroft/json_database", "/home/*/.cache/mycroft/json_database"},
		},
		{
			name:   "no /home at all",
			setup:  func(m *fakeMachine) string { return "" },
			looked: []string{"/home/*/.cache/mycroft/json_database"},
		},
		{
			name: "an ovos user that is root is not read as such",
			setup: func(m *fakeMachine) string {
				m.home("ovos", true)
				m.addUser("ovos", "0", "/home/ovos")
				return m.home("ovos", true) // found again as a home, with its owner
			},
			looked: []string{"/home/ovos/.cache/mycroft/json_database", "/home/*/.cache/mycroft/json_database"},
		},
		{
			name: "a symlink under /home is not a home",
			setup: func(m *fakeMachine) string {
				m.home("pi", true)
				if err := os.Symlink(filepath.Join(m.root, "home/pi"), filepath.Join(m.root, "home/link")); err != nil {
					t.Fatal(err)
				}
				return "/home/pi/.cache/mycroft/json_database"
			},
			looked: []string{"/home/*/.cache/mycroft/json_database"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newFakeMachine(t)
			want := tt.setup(m)
			tt.looked = slices.Clone(tt.looked)
			found, ok, looked, err := m.host().Find()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || ok {
					t.Errorf("Find() = %+v, %v, %v; want no folder and an error naming %s", found, ok, err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("Find() error = %v", err)
			}
			if want != "" {
				want = filepath.Join(m.root, want)
			}
			for i := range tt.looked {
				tt.looked[i] = filepath.Join(m.root, tt.looked[i])
			}
			if got := map[bool]string{true: found.Dir}[ok]; got != want {
				t.Errorf("Find() folder = %q (found %v), want %q", got, ok, want)
			}
			if ok && (found.UID != m.owner || found.GID != m.owner || found.UID == 0 || found.User != tt.user) {
				t.Errorf("Find() reads it as %q uid %d gid %d, want %q uid and gid %d", found.User, found.UID, found.GID, tt.user, m.owner)
			}
			if !slices.Equal(looked, tt.looked) {
				t.Errorf("Find() looked in %q, want %q", looked, tt.looked)
			}
		})
	}
}

// TestFindPassesOverRootsHomes: a home that root owns is never read with
// root's rights, however its files look.
func TestFindPassesOverRootsHomes(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("only root can make a home that root owns")
	}
	m := newFakeMachine(t)
	m.owner = 0
	m.home("admin", true)
	found, ok, _, err := m.host().Find()
	if ok || err != nil {
		t.Errorf("Find() = %+v, %v, %v; want nothing: the only home with files is root's", found, ok, err)
	}
}

// TestFindLookupFails: a user database that cannot be read is an error,
// not a missing ovos user.
func TestFindLookupFails(t *testing.T) {
	m := newFakeMachine(t)
	m.home("pi", true)
	h := m.host()
	h.LookupUser = func(string) (*user.User, error) { return nil, errors.New("nss down") }
	if _, ok, _, err := h.Find(); ok || err == nil || !strings.Contains(err.Error(), "nss down") {
		t.Errorf("Find() = %v, %v; want the lookup's error", ok, err)
	}
}
