package main

// "ovos-oauth backup" and "ovos-oauth restore": every login of a device,
// kept over a re-flash in one file encrypted with a passphrase. No secret
// crosses the bus for either: a running daemon hands a copy of its
// database file over its socket in the data directory (package control),
// which only its user and root reach; restore writes into a stopped
// daemon's database.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	bolterrors "go.etcd.io/bbolt/errors"
	"golang.org/x/term"

	"github.com/OpenVoiceOS/ovos-oauth/internal/backup"
	"github.com/OpenVoiceOS/ovos-oauth/internal/config"
	"github.com/OpenVoiceOS/ovos-oauth/internal/control"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
)

// envPassphrase holds the backup's passphrase for scripts; it is never a
// flag, which every user sees in the process list.
const envPassphrase = "OVOS_OAUTH_BACKUP_PASSPHRASE"

// backupWorkFactor is the scrypt work factor's log2 backups are written
// with: 0 is age's default (about a second on a small board). Tests lower
// it.
var backupWorkFactor = 0

// backupLockWait is how long backup and restore wait for the database's
// lock: a running daemon holds it for good, so waiting longer tells nothing
// more.
const backupLockWait = 500 * time.Millisecond

// copyTimeout bounds the copy a running daemon hands over.
const copyTimeout = time.Minute

const backupUsage = `Usage: ovos-oauth backup FILE [--data-dir DIR] [--secrets-key-file FILE] [--config FILE]

Writes every app of ovos-oauth's database to FILE (mode 0600), with its
token, its client credentials (those typed by the user too) and its pending
device logins, encrypted with a passphrase, for ovos-oauth restore on this
device or on a new one after a re-flash. The passphrase is asked twice on
the terminal, or taken from $OVOS_OAUTH_BACKUP_PASSPHRASE; never from a
flag. Keep it apart from the file: the file and the passphrase together give
up every login in it.

It works whether the daemon runs or not, and nothing goes over the bus: a
running daemon hands over a copy of its database on its socket in the data
directory, which only its user and root reach; a stopped one's database is
read where it is. Either way it is left as it was. Run it as the daemon's
user or with sudo: it reads the key file.

The data directory is the daemon's: /var/lib/ovos-oauth for the system
service, ~/.local/state/ovos-oauth for the user service (--data-dir).
Pending code, relay and loopback logins are not in the backup: their links
lead to this device and expire within minutes.
`

const restoreUsage = `Usage: ovos-oauth restore FILE [--force] [--data-dir DIR] [--secrets-key-file FILE] [--config FILE]

Loads a backup made by ovos-oauth backup into ovos-oauth's database, which
may be new and have a key file of its own (a re-flashed device). The
passphrase is asked on the terminal, or taken from
$OVOS_OAUTH_BACKUP_PASSPHRASE. The whole file is read and checked first: a
wrong passphrase, or a file cut short or changed, restores nothing.

An app the database lacks is added with its token. A token is never put
over a newer one (by when the provider issued it), unless --force; an app
registered here with another client is left as it is, unless --force.
Each app is listed with what was restored, kept or skipped, and why.

Stop the daemon first: it holds the database (sudo systemctl stop
ovos-oauth, or systemctl --user stop ovos-oauth); start it again after. It
then hands the restored tokens to skills, and writes them to the ovos_utils
files. Run restore as the daemon's user, or with sudo and the service's
--data-dir (files it makes are given to the directory's owner).
`

// dataFlags are the settings backup and restore take of serve's: the ones
// that say where the database and its key are.
type dataFlags struct {
	fs      *pflag.FlagSet
	dataDir string
	keyFile string
	config  string
}

func newDataFlags(name, usage string, stderr io.Writer) *dataFlags {
	d := &dataFlags{}
	fs := pflag.NewFlagSet("ovos-oauth "+name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.Usage = func() { fmt.Fprint(stderr, usage+"\nFlags:\n"+fs.FlagUsages()) }
	fs.StringVar(&d.dataDir, "data-dir", "", "the daemon's data `directory` (default: as the daemon's: config files, $OVOS_OAUTH_DATA_DIR, ~/.local/share/ovos-oauth)")
	fs.StringVar(&d.keyFile, "secrets-key-file", "", "the database's key `file` (default: secrets.key in the data directory)")
	fs.StringVar(&d.config, "config", "", "read settings from this YAML or JSON `file`, as ovos-oauth serve --config")
	d.fs = fs
	return d
}

// parse reads args, which hold one FILE, and loads the settings as the
// daemon does.
func (d *dataFlags) parse(args []string, getenv func(string) string, stderr io.Writer) (string, config.Config, error) {
	if err := d.fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return "", config.Config{}, config.ErrHelp
		}
		return "", config.Config{}, &exitError{exitUsage, err}
	}
	if d.fs.NArg() != 1 || d.fs.Arg(0) == "" {
		d.fs.Usage()
		return "", config.Config{}, usageErr("give one FILE")
	}
	var conf []string
	for flag, v := range map[string]string{"--data-dir": d.dataDir, "--secrets-key-file": d.keyFile, "--config": d.config} {
		if v != "" {
			conf = append(conf, flag, v)
		}
	}
	cfg, err := config.Load(conf, getenv, stderr)
	if err != nil {
		return "", config.Config{}, &exitError{exitUsage, err}
	}
	return d.fs.Arg(0), cfg, nil
}

// backupCmd is "ovos-oauth backup FILE".
func backupCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	file, cfg, err := newDataFlags("backup", backupUsage, stderr).parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	pass, err := passphrase(getenv, stderr, true)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	doc, from, damaged, err := readStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := writeAtomic(file, func(w io.Writer) error { return backup.Write(w, doc, pass, backupWorkFactor) }); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	var tokens, creds, logins int
	for _, a := range doc.Apps {
		var what []string
		if a.Token != nil {
			tokens++
			what = append(what, "token issued "+a.Token.Obtained.Local().Format(time.DateTime))
		} else {
			what = append(what, "no token")
		}
		if a.App.CredsFromUser {
			creds++
			what = append(what, "credentials typed by the user")
		}
		if n := len(a.DeviceLogins); n > 0 {
			logins += n
			what = append(what, plural(n, "pending device login"))
		}
		if a.App.NeedsReauth {
			what = append(what, "needs a new login")
		}
		fmt.Fprintf(stdout, "  %s %s: %s\n", a.App.SkillID, a.App.AppID, strings.Join(what, ", "))
	}
	fmt.Fprintf(stdout, "backed up %s (%s, %s typed by the user, %s) from %s to %s\n",
		plural(len(doc.Apps), "app"), plural(tokens, "token"), plural(creds, "credential"), plural(logins, "pending device login"), from, file)
	if damaged > 0 {
		fmt.Fprintf(stdout, "%s damaged and set aside in the database are not in the backup (ovos-oauth doctor lists them)\n", plural(damaged, "record"))
	}
	fmt.Fprintln(stdout, "Keep the file off this device, and the passphrase apart from it: with both, anyone has these logins.")
	return nil
}

// readStore reads the daemon's database, through a copy of its file in a
// private temporary folder: every app with its token and pending device
// logins, and how many damaged records were left out. from says where the
// copy came from.
func readStore(ctx context.Context, cfg config.Config) (doc *backup.Document, from string, damaged int, err error) {
	if _, err := os.Stat(cfg.SecretsKeyFile); err != nil {
		return nil, "", 0, fmt.Errorf("the database's key file: %w (a database the daemon has run with has one; give --secrets-key-file if it is elsewhere)", err)
	}
	tmp, err := os.MkdirTemp("", "ovos-oauth-backup-") // 0700
	if err != nil {
		return nil, "", 0, err
	}
	defer os.RemoveAll(tmp)
	path := filepath.Join(tmp, "ovos-oauth.db")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, "", 0, err
	}
	from, err = copyStore(ctx, cfg, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, "", 0, err
	}
	db := store.New(path)
	db.KeyFile = cfg.SecretsKeyFile
	if err := db.Open(); err != nil {
		return nil, "", 0, fmt.Errorf("open the copy of the database: %w", err)
	}
	defer db.Close()
	apps, err := db.Apps()
	if err != nil {
		return nil, "", 0, err
	}
	tokens, err := db.Tokens()
	if err != nil {
		return nil, "", 0, err
	}
	flows, err := db.Flows()
	if err != nil {
		return nil, "", 0, err
	}
	logins := make(map[string][]*oauth.Flow)
	for _, f := range flows {
		if f.Kind == oauth.FlowDevice && f.Spent.IsZero() && f.Interrupted.IsZero() {
			logins[f.MungedID] = append(logins[f.MungedID], f)
		}
	}
	entries := make([]backup.App, 0, len(apps))
	for _, a := range apps {
		id := a.MungedID()
		entries = append(entries, backup.App{App: a, Token: tokens[id], DeviceLogins: logins[id]})
	}
	bad, err := db.Damaged()
	if err != nil {
		return nil, "", 0, err
	}
	return backup.New(entries, time.Now()), from, len(bad), nil
}

// copyStore writes a consistent copy of the database file to w: from the
// running daemon's socket, else, with no daemon there, from the file under
// its shared lock. It says which.
func copyStore(ctx context.Context, cfg config.Config, w io.Writer) (string, error) {
	sock := filepath.Join(filepath.Dir(cfg.DBPath()), control.SocketName)
	ctx, cancel := context.WithTimeout(ctx, copyTimeout)
	defer cancel()
	_, err := control.Fetch(ctx, sock, w)
	switch {
	case err == nil:
		return "the running daemon", nil
	case errors.Is(err, fs.ErrPermission):
		return "", fmt.Errorf("%w: run as the daemon's user, or with sudo", err)
	case !control.NoDaemon(err):
		return "", err
	}
	// No daemon listens: nothing was written to w.
	_, err = store.CopyFile(cfg.DBPath(), w, backupLockWait)
	switch {
	case errors.Is(err, store.ErrLocked):
		return "", fmt.Errorf("%s is in use, but no daemon answers on %s: an older ovos-oauth runs, or doctor, import or restore does; let it end, or stop the daemon, and back up again", cfg.DBPath(), sock)
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("no database at %s: is the data directory right? The system service's is /var/lib/ovos-oauth, the user service's ~/.local/state/ovos-oauth: give it with --data-dir", cfg.DBPath())
	case err != nil:
		return "", err
	}
	return "the database file (no daemon running)", nil
}

// restoreCmd is "ovos-oauth restore FILE".
func restoreCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := newDataFlags("restore", restoreUsage, stderr)
	force := flags.fs.Bool("force", false, "the backup's registrations and tokens replace the database's, even newer ones")
	file, cfg, err := flags.parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	doc, err := readBackup(file, getenv, stderr)
	if err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if _, err := os.Stat(cfg.DataDir); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("restore: there is no data directory %s: as root, give the service's with --data-dir (/var/lib/ovos-oauth for the system service; start and stop the service once if it has never run); nothing was restored", cfg.DataDir)
		}
	}
	give, err := giveToDataDirOwner(cfg)
	if err != nil {
		return fmt.Errorf("restore: %w; nothing was restored", err)
	}
	db := store.New(cfg.DBPath())
	db.KeyFile = cfg.SecretsKeyFile
	db.Timeout = backupLockWait
	db.Logger = newLogger(cfg, stderr).With("component", "store")
	err = db.Open()
	if gerr := give(); err == nil && gerr != nil {
		err = gerr
	}
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("restore: the daemon is running (it holds %s): stop it first with sudo systemctl stop ovos-oauth (or systemctl --user stop ovos-oauth), run ovos-oauth restore again, then start it; nothing was restored", cfg.DBPath())
	}
	if err != nil {
		return fmt.Errorf("restore: %w; nothing was restored", err)
	}
	defer db.Close()
	apps := make([]store.RestoreApp, len(doc.Apps))
	for i, a := range doc.Apps {
		apps[i] = store.RestoreApp{App: a.App, Token: a.Token, DeviceLogins: a.DeviceLogins}
	}
	results, err := db.Restore(apps, *force, time.Now())
	if err != nil {
		return fmt.Errorf("restore: %w; nothing was restored", err)
	}
	counts := map[store.RestoreAction]int{}
	for _, r := range results {
		counts[r.Action]++
		fmt.Fprintf(stdout, "%-9s %s: %s\n", r.Action, r.MungedID, restoredWords(r))
	}
	fmt.Fprintf(stdout, "%d restored, %d kept, %d skipped, of the %s of the backup of %s, into %s\n",
		counts[store.Restored], counts[store.Kept], counts[store.Skipped], plural(len(results), "app"), doc.Created.Local().Format(time.DateTime), cfg.DBPath())
	fmt.Fprintln(stdout, "Start the daemon again: sudo systemctl start ovos-oauth (or systemctl --user start ovos-oauth).")
	return nil
}

// readBackup reads and checks the whole backup file, so that nothing is
// written for one that does not open.
func readBackup(file string, getenv func(string) string, stderr io.Writer) (*backup.Document, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("restore: %s is not a backup file", file)
	}
	pass, err := passphrase(getenv, stderr, false)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	doc, err := backup.Read(f, pass)
	switch {
	case errors.Is(err, backup.ErrPassphrase):
		return nil, fmt.Errorf("restore: the passphrase does not open %s (it is the one given to ovos-oauth backup); nothing was restored", file)
	case errors.Is(err, backup.ErrDamaged):
		return nil, fmt.Errorf("restore: %s is not a whole backup (cut short or changed, e.g. by a copy that did not finish): %w; nothing was restored, use another copy of it", file, err)
	case err != nil:
		return nil, fmt.Errorf("restore: %s: %w; nothing was restored", file, err)
	}
	return doc, nil
}

// restoredWords says what restore did with an app, never a secret.
func restoredWords(r store.RestoreResult) string {
	var what []string
	switch {
	case r.AppAdded:
		what = append(what, "app added")
	case r.AppReplaced:
		what = append(what, "registration and client credentials taken from the backup")
	}
	if r.TokenRestored {
		what = append(what, "token issued "+r.Obtained.Local().Format(time.DateTime))
	}
	if r.Logins > 0 {
		what = append(what, plural(r.Logins, "pending device login"))
	}
	if r.Reason != "" {
		what = append(what, r.Reason)
	}
	if len(what) == 0 {
		what = append(what, "nothing to restore")
	}
	return strings.Join(what, "; ")
}

// giveToDataDirOwner is for root restoring into a data directory of
// another user (the system service's ovos-oauth): the database and key
// files that Open creates would be root's, which the daemon cannot open.
// The function it returns gives those created since to the directory's
// owner. For anyone else it does nothing.
func giveToDataDirOwner(cfg config.Config) (func() error, error) {
	nothing := func() error { return nil }
	if os.Geteuid() != 0 {
		return nothing, nil
	}
	fi, err := os.Stat(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	owner := fi.Sys().(*syscall.Stat_t)
	if owner.Uid == 0 {
		return nothing, nil
	}
	var missing []string
	for _, p := range []string{cfg.DBPath(), cfg.SecretsKeyFile} {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, p)
		}
	}
	return func() error {
		for _, p := range missing {
			if err := os.Lchown(p, int(owner.Uid), int(owner.Gid)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("give %s to the data directory's owner (uid %d): %w", p, owner.Uid, err)
			}
		}
		return nil
	}, nil
}

// passphrase is the backup's passphrase: $OVOS_OAUTH_BACKUP_PASSPHRASE
// when set, else asked on the terminal without echo, twice with confirm.
func passphrase(getenv func(string) string, stderr io.Writer, confirm bool) (string, error) {
	if p := getenv(envPassphrase); p != "" {
		return p, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", fmt.Errorf("no passphrase: run it at a terminal, which asks for it, or set $%s", envPassphrase)
	}
	fmt.Fprint(stderr, "Passphrase of the backup: ")
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("read the passphrase: %w", err)
	}
	if len(p) == 0 {
		return "", errors.New("the passphrase is empty: a backup needs one")
	}
	if confirm {
		fmt.Fprint(stderr, "The same again: ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read the passphrase: %w", err)
		}
		if string(again) != string(p) {
			return "", errors.New("the two passphrases differ: nothing was written; try again")
		}
	}
	return string(p), nil
}

// writeAtomic writes path (mode 0600) through write: whole, or not at all,
// replacing the file that was there only once the new one is on disk.
func writeAtomic(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		err = write(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename survives a power cut
		d.Close()
	}
	return nil
}

// plural is n and the noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// takeRestored returns the apps a restore wrote that the ovos_utils mirror
// lacks, for the daemon to write at start; each is returned once.
func takeRestored(db *store.DB, logger *slog.Logger) []string {
	ids, err := db.TakeUnmirrored()
	if err != nil {
		logger.Warn("the apps restored from a backup reach the ovos_utils files only when their tokens are next refreshed", "err", err)
	}
	return ids
}
