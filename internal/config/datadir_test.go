package config

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Folders of the test machine: the default, the default of older versions,
// and the system unit's.
const (
	stateDir  = "home/.local/state/ovos-oauth"
	formerDir = "home/.local/share/ovos-oauth"
	systemDir = "var/lib/ovos-oauth"
)

// putDatabase makes dir (in the test machine) hold a database file.
func (e *testEnv) putDatabase(dir string) {
	e.t.Helper()
	e.write(filepath.Join(dir, "ovos-oauth.db"), "a database")
}

// TestLoadDataDirFormerStore: the data directory is the default,
// ~/.local/state/ovos-oauth, unless it holds no database and the default
// of older versions (~/.local/share/ovos-oauth, or $XDG_DATA_HOME's) holds
// one: then that one, where it is. A setting or systemd's STATE_DIRECTORY
// is taken as it is.
func TestLoadDataDirFormerStore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		env       map[string]string // paths in the test machine
		databases []string
		dirs      []string // folders without a database
		args      []string
		want      string
	}{
		{name: "nothing anywhere", want: stateDir},
		{name: "the former default's database", databases: []string{formerDir}, want: formerDir},
		{name: "XDG_DATA_HOME's database", env: map[string]string{"XDG_DATA_HOME": "xdg/data"},
			databases: []string{"xdg/data/ovos-oauth", formerDir}, want: "xdg/data/ovos-oauth"},
		{name: "the default's database first", databases: []string{stateDir, formerDir}, want: stateDir},
		{name: "XDG_STATE_HOME's database first", env: map[string]string{"XDG_STATE_HOME": "xdg/state"},
			databases: []string{"xdg/state/ovos-oauth", formerDir}, want: "xdg/state/ovos-oauth"},
		{name: "a former folder without a database", dirs: []string{formerDir}, want: stateDir},
		{name: "a folder named like the database", dirs: []string{formerDir + "/ovos-oauth.db"}, want: stateDir},
		{name: "the flag wins", databases: []string{formerDir}, args: []string{"--data-dir", "mine"}, want: "mine"},
		{name: "OVOS_OAUTH_DATA_DIR wins", env: map[string]string{"OVOS_OAUTH_DATA_DIR": "mine"}, databases: []string{formerDir}, want: "mine"},
		{name: "STATE_DIRECTORY wins", env: map[string]string{"STATE_DIRECTORY": "unit"}, databases: []string{formerDir}, want: "unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			for k, v := range tt.env {
				e.vars[k] = e.path(v)
			}
			for _, d := range tt.databases {
				e.putDatabase(d)
			}
			for _, d := range tt.dirs {
				if err := os.MkdirAll(e.path(d), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			args := tt.args
			if len(args) == 2 {
				args = []string{args[0], e.path(args[1])}
			}
			got, err := e.load(args...)
			if err != nil {
				t.Fatalf("load() error = %v", err)
			}
			if want := e.path(tt.want); got.DataDir != want {
				t.Errorf("DataDir = %q, want %q", got.DataDir, want)
			}
			if want := e.path(tt.want + "/secrets.key"); got.SecretsKeyFile != want {
				t.Errorf("SecretsKeyFile = %q, want %q", got.SecretsKeyFile, want)
			}
		})
	}
}

// TestLoadDataDirOrigin: Load says where the data directory came from and,
// when it searched, which folders it searched, in order: what the daemon
// logs and what a command that finds no database names.
func TestLoadDataDirOrigin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		env       map[string]string
		databases []string
		args      []string
		want      DataDirSource
		searched  bool
	}{
		{name: "nothing anywhere", want: DataDirDefault, searched: true},
		{name: "the default's database", databases: []string{stateDir, formerDir}, want: DataDirDefault, searched: true},
		{name: "the former default's database", databases: []string{formerDir}, want: DataDirFormer, searched: true},
		{name: "a flag", args: []string{"--data-dir", "/srv/oauth"}, databases: []string{formerDir}, want: DataDirSet},
		{name: "OVOS_OAUTH_DATA_DIR", env: map[string]string{"OVOS_OAUTH_DATA_DIR": "/srv/oauth"}, want: DataDirSet},
		{name: "a config file", env: map[string]string{"OVOS_OAUTH_CONFIG": "CONFIG"}, want: DataDirSet},
		{name: "STATE_DIRECTORY", env: map[string]string{"STATE_DIRECTORY": "/var/lib/unit"}, want: DataDirSystemd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			for k, v := range tt.env {
				if v == "CONFIG" {
					v = e.write("conf/config.yaml", "data_dir: /srv/oauth\n")
				}
				e.vars[k] = v
			}
			for _, d := range tt.databases {
				e.putDatabase(d)
			}
			_, origin, err := e.loader().loadOrigin(tt.args, e.getenv, io.Discard)
			if err != nil {
				t.Fatalf("loadOrigin() error = %v", err)
			}
			if origin.Source != tt.want {
				t.Errorf("Source = %v, want %v", origin.Source, tt.want)
			}
			var want []string
			if tt.searched {
				want = []string{e.path(stateDir), e.path(formerDir)}
			}
			if diff := cmp.Diff(origin.Searched, want); diff != "" {
				t.Errorf("Searched (-got +want):\n%s", diff)
			}
		})
	}
}

// TestLoadCommandSystemStore: a command on the daemon's database (not
// serve) takes the system service's folder, /var/lib/ovos-oauth, when no
// setting names one and this user's own folders hold no database, if it
// runs as root or as that folder's owner (the unit's User=, whom systemd
// gives it) and the database there is one it can open.
func TestLoadCommandSystemStore(t *testing.T) {
	t.Parallel()
	me := os.Geteuid()
	other := me + 1000 // neither root nor the owner of the test's folders
	tests := []struct {
		name      string
		serve     bool
		euid      int
		databases []string
		dirs      []string
		args      []string
		want      string
		source    DataDirSource
	}{
		{name: "root", euid: 0, databases: []string{systemDir}, want: systemDir, source: DataDirSystem},
		{name: "the folder's owner", euid: me, databases: []string{systemDir}, want: systemDir, source: DataDirSystem},
		{name: "another user", euid: other, databases: []string{systemDir}, want: stateDir, source: DataDirDefault},
		{name: "serve never", serve: true, euid: 0, databases: []string{systemDir}, want: stateDir, source: DataDirDefault},
		{name: "the user's own first", euid: 0, databases: []string{stateDir, systemDir}, want: stateDir, source: DataDirDefault},
		{name: "the user's former folder first", euid: 0, databases: []string{formerDir, systemDir}, want: formerDir, source: DataDirFormer},
		{name: "no database there", euid: 0, dirs: []string{systemDir}, want: stateDir, source: DataDirDefault},
		{name: "a folder named like the database", euid: 0, dirs: []string{systemDir + "/ovos-oauth.db"}, want: stateDir, source: DataDirDefault},
		{name: "a setting wins", euid: 0, databases: []string{systemDir}, args: []string{"--data-dir", "mine"}, want: "mine", source: DataDirSet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			for _, d := range tt.databases {
				e.putDatabase(d)
			}
			for _, d := range tt.dirs {
				if err := os.MkdirAll(e.path(d), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			args := tt.args
			if len(args) == 2 {
				args = []string{args[0], e.path(args[1])}
			}
			l := e.loader()
			l.command, l.euid = !tt.serve, tt.euid
			got, origin, err := l.loadOrigin(args, e.getenv, io.Discard)
			if err != nil {
				t.Fatalf("loadOrigin() error = %v", err)
			}
			if want := e.path(tt.want); got.DataDir != want {
				t.Errorf("DataDir = %q, want %q", got.DataDir, want)
			}
			if origin.Source != tt.source {
				t.Errorf("Source = %v, want %v", origin.Source, tt.source)
			}
			if tt.source == DataDirSet {
				return
			}
			want := []string{e.path(stateDir), e.path(formerDir), e.path(systemDir)}
			if tt.serve {
				want = want[:2]
			}
			if diff := cmp.Diff(origin.Searched, want); diff != "" {
				t.Errorf("Searched (-got +want):\n%s", diff)
			}
		})
	}
}

// TestLoadCommandSystemStoreUnreadable: a database in the system service's
// folder that the owner cannot open is not taken.
func TestLoadCommandSystemStoreUnreadable(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root opens any file")
	}
	e := newTestEnv(t)
	e.putDatabase(systemDir)
	if err := os.Chmod(e.path(systemDir+"/ovos-oauth.db"), 0); err != nil {
		t.Fatal(err)
	}
	l := e.loader()
	l.command, l.euid = true, os.Geteuid()
	got, _, err := l.loadOrigin(nil, e.getenv, io.Discard)
	if err != nil {
		t.Fatalf("loadOrigin() error = %v", err)
	}
	if want := e.path(stateDir); got.DataDir != want {
		t.Errorf("DataDir = %q, want %q", got.DataDir, want)
	}
}

// TestLoadCommandSystemDirDefault: without OVOS_OAUTH_SYSTEM_DATA_DIR the
// system service's folder is the unit's StateDirectory, /var/lib/ovos-oauth.
func TestLoadCommandSystemDirDefault(t *testing.T) {
	t.Parallel()
	if got := systemDataDir(func(string) string { return "" }); got != "/var/lib/ovos-oauth" {
		t.Errorf("systemDataDir() = %q, want /var/lib/ovos-oauth", got)
	}
	if got := systemDataDir(func(k string) string { return map[string]string{envSystemDataDir: "/srv/system"}[k] }); got != "/srv/system" {
		t.Errorf("systemDataDir() = %q, want /srv/system", got)
	}
}
