package migrate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// OVOSUser is the user OVOS images run OVOS as: ovos-PHAL, and with it the
// plugin, kept its files in this user's home.
const OVOSUser = "ovos"

// cacheDir is where ovos_utils keeps its files under a home, without
// XDG_CACHE_HOME, which a service cannot know of another user.
var cacheDir = filepath.Join(".cache", "mycroft", "json_database")

// Host is what Find reads of the machine.
type Host struct {
	// Root is where the machine's file system starts: "/", or a folder that
	// stands in for it in tests. Paths Find returns start with it.
	Root string
	// LookupUser finds a user by name, as os/user.Lookup does.
	LookupUser func(name string) (*user.User, error)
}

// SystemHost is this machine.
func SystemHost() Host { return Host{Root: "/", LookupUser: user.Lookup} }

// Found is a folder of the plugin's files, and the user whose rights it is
// read with: its owner, never root.
type Found struct {
	Dir      string
	User     string // the user's name, "" when only their uid is known
	UID, GID uint32
}

// Find looks for the plugin's files of the user that runs OVOS, for a
// service that runs as a user of its own: in the ovos user's
// ~/.cache/mycroft/json_database, else in the only
// /home/*/.cache/mycroft/json_database that holds them. A folder holds them
// when ovos_oauth_apps.json or ovos_oauth.json is a regular file in it. A
// home that root owns is passed over: nothing is read there with root's
// rights. looked says where it looked, for a log line. ok is false, with a
// nil error, when no folder holds the files; the error says why none was
// chosen (several homes hold them) or what went wrong.
func (h Host) Find() (found Found, ok bool, looked []string, err error) {
	if u, err := h.LookupUser(OVOSUser); err == nil && u.HomeDir != "" {
		dir := h.path(filepath.Join(u.HomeDir, cacheDir))
		looked = append(looked, dir)
		uid, uerr := strconv.ParseUint(u.Uid, 10, 32)
		gid, gerr := strconv.ParseUint(u.Gid, 10, 32)
		if uerr == nil && gerr == nil && uid != 0 && h.holdsFiles(dir) {
			return Found{Dir: dir, User: u.Username, UID: uint32(uid), GID: uint32(gid)}, true, looked, nil
		}
	} else if err != nil && !errors.As(err, new(user.UnknownUserError)) {
		return Found{}, false, looked, fmt.Errorf("look up the %s user: %w", OVOSUser, err)
	}

	looked = append(looked, h.path(filepath.Join("/home", "*", cacheDir)))
	homes, err := os.ReadDir(h.path("/home"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Found{}, false, looked, fmt.Errorf("list /home: %w", err)
	}
	var hits []Found
	for _, e := range homes {
		home := filepath.Join("/home", e.Name())
		fi, err := os.Lstat(h.path(home))
		if err != nil || !fi.IsDir() {
			continue // a symlink is not a home of its own
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || st.Uid == 0 {
			continue
		}
		dir := h.path(filepath.Join(home, cacheDir))
		if !h.holdsFiles(dir) {
			continue
		}
		hits = append(hits, Found{Dir: dir, UID: st.Uid, GID: st.Gid})
	}
	switch len(hits) {
	case 0:
		return Found{}, false, looked, nil
	case 1:
		return hits[0], true, looked, nil
	}
	dirs := make([]string, len(hits))
	for i, f := range hits {
		dirs[i] = f.Dir
	}
	slices.Sort(dirs)
	return Found{}, false, looked, fmt.Errorf("ovos-PHAL-plugin-oauth's files are in several homes (%s): set import_from to the folder to import", strings.Join(dirs, ", "))
}

// holdsFiles reports whether dir holds either of the plugin's files.
func (h Host) holdsFiles(dir string) bool {
	for _, name := range []string{AppsFile, TokensFile} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// path is the machine's path p under Root.
func (h Host) path(p string) string { return filepath.Join(h.Root, p) }
