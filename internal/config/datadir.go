package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// envSystemDataDir replaces /var/lib/ovos-oauth, the system unit's data
// directory, for packagers and tests.
const envSystemDataDir = "OVOS_OAUTH_SYSTEM_DATA_DIR"

// dbFile is the token database's name inside the data directory.
const dbFile = "ovos-oauth.db"

// DataDirSource says where Config.DataDir came from.
type DataDirSource int

// The sources of the data directory. The last three are searched, in
// this order, for a folder that holds a database, when neither a setting
// nor systemd names one; with none found it is the default.
const (
	// DataDirSet: data_dir, from a flag, OVOS_OAUTH_DATA_DIR or a config
	// file.
	DataDirSet DataDirSource = iota
	// DataDirSystemd: $STATE_DIRECTORY, which systemd sets for a unit
	// with StateDirectory=: the units' own folder.
	DataDirSystemd
	// DataDirDefault: $XDG_STATE_HOME/ovos-oauth, else
	// ~/.local/state/ovos-oauth, the user unit's folder.
	DataDirDefault
	// DataDirFormer: $XDG_DATA_HOME/ovos-oauth, else
	// ~/.local/share/ovos-oauth, the default of older versions, which
	// holds a database while the default does not. It stays where it is.
	DataDirFormer
	// DataDirSystem: /var/lib/ovos-oauth, the system unit's folder,
	// which only a command on the daemon's database takes (LoadCommand).
	DataDirSystem
)

func (s DataDirSource) String() string {
	switch s {
	case DataDirSet:
		return "setting"
	case DataDirSystemd:
		return "STATE_DIRECTORY"
	case DataDirDefault:
		return "default"
	case DataDirFormer:
		return "former default"
	case DataDirSystem:
		return "system service"
	}
	return "unknown"
}

// DataDirOrigin says how LoadOrigin or LoadCommand chose Config.DataDir.
type DataDirOrigin struct {
	Source DataDirSource
	// Searched lists the folders where a database is looked for, in
	// order, when neither a setting nor systemd names the data directory;
	// nil when one does.
	Searched []string
}

// findDataDir is the data directory when no setting names one: systemd's
// StateDirectory= (the first, if it names several); else the first of the
// default, the former default and, for a command, the system service's
// folder that holds a database; else the default, where the daemon makes
// one. Without $XDG_STATE_HOME and $HOME the default is the former
// default, which is empty without $XDG_DATA_HOME too.
func (l loader) findDataDir(getenv func(string) string) (string, DataDirOrigin) {
	for d := range strings.SplitSeq(getenv("STATE_DIRECTORY"), ":") {
		if d != "" {
			return d, DataDirOrigin{Source: DataDirSystemd}
		}
	}
	def := xdgDir(getenv, "XDG_STATE_HOME", ".local/state")
	former := xdgDir(getenv, "XDG_DATA_HOME", ".local/share")
	if def == "" {
		// Only $XDG_DATA_HOME is set: it stays the default, as before.
		def, former = former, ""
	}
	sys := ""
	if l.command {
		sys = systemDataDir(getenv)
	}
	var searched []string
	for _, d := range []string{def, former, sys} {
		if d != "" {
			searched = append(searched, absPath(d))
		}
	}
	switch {
	case def != "" && hasDatabase(def):
		return def, DataDirOrigin{DataDirDefault, searched}
	case former != "" && hasDatabase(former):
		return former, DataDirOrigin{DataDirFormer, searched}
	case sys != "" && l.maySystem(sys):
		return sys, DataDirOrigin{DataDirSystem, searched}
	}
	return def, DataDirOrigin{DataDirDefault, searched}
}

// xdgDir is ovos-oauth's folder in the XDG base directory that variable
// names, else in $HOME/rel; empty without either. A relative value is
// ignored, as the XDG spec says.
func xdgDir(getenv func(string) string, variable, rel string) string {
	if d := getenv(variable); filepath.IsAbs(d) {
		return filepath.Join(d, "ovos-oauth")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, filepath.FromSlash(rel), "ovos-oauth")
	}
	return ""
}

// systemDataDir is the system unit's data directory.
func systemDataDir(getenv func(string) string) string {
	if d := getenv(envSystemDataDir); d != "" {
		return d
	}
	return "/var/lib/ovos-oauth"
}

// hasDatabase reports whether dir holds a database file.
func hasDatabase(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, dbFile))
	return err == nil && fi.Mode().IsRegular()
}

// maySystem reports whether this process takes the system service's folder
// dir: it runs as root or as the folder's owner (the unit's User=, to whom
// systemd gives its StateDirectory=), and can open the database there.
// Anyone else could not read it, nor should a command of theirs write
// into it.
func (l loader) maySystem(dir string) bool {
	fi, err := os.Stat(dir)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || l.euid != 0 && uint32(l.euid) != st.Uid || !hasDatabase(dir) {
		return false
	}
	f, err := os.Open(filepath.Join(dir, dbFile))
	if err != nil {
		return false
	}
	return f.Close() == nil
}
