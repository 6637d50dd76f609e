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
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	bolterrors "go.etcd.io/bbolt/errors"
	"golang.org/x/term"

	"github.com/OpenVoiceOS/ovos-oauth/internal/atomicfile"
	"github.com/OpenVoiceOS/ovos-oauth/internal/backup"
	"github.com/OpenVoiceOS/ovos-oauth/internal/config"
	"github.com/OpenVoiceOS/ovos-oauth/internal/control"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
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

// dataFlags are the settings backup and restore take of serve's: the ones
// that say where the database and its key are.
type dataFlags struct {
	name    string
	fs      *pflag.FlagSet
	dataDir string
	keyFile string
	config  string
	lang    string
	// text is the language of the command's output, as textFor finds it
	// in the arguments, then the settings' lang.
	text *i18n.Printer
}

// newDataFlags makes the flag set of command name, which args are given
// to; usage is the text above the flags.
func newDataFlags(name string, usage i18n.Key, args []string, getenv func(string) string, stderr io.Writer) *dataFlags {
	t := textFor(args, getenv)
	d := &dataFlags{name: name, text: t}
	fs := pflag.NewFlagSet("ovos-oauth "+name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.Usage = func() { fmt.Fprint(stderr, helpText(t, usage, fs, "")) }
	fs.StringVar(&d.dataDir, "data-dir", "", t.Text(i18n.CLIFlagDataDir))
	fs.StringVar(&d.keyFile, "secrets-key-file", "", t.Text(i18n.CLIFlagSecretsKeyFile))
	fs.StringVar(&d.config, "config", "", t.Text(i18n.CLIFlagConfig))
	fs.StringVar(&d.lang, "lang", "", t.Text(i18n.CLIFlagLang))
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
		return "", config.Config{}, wrongUsage(d.text.Text(i18n.CLIBackupOneFile))
	}
	var conf []string
	for flag, v := range map[string]string{"--data-dir": d.dataDir, "--secrets-key-file": d.keyFile, "--config": d.config, "--lang": d.lang} {
		if v != "" {
			conf = append(conf, flag, v)
		}
	}
	cfg, origin, err := config.LoadCommand(conf, getenv, stderr)
	if err != nil {
		return "", config.Config{}, &exitError{exitUsage, err}
	}
	d.text = i18n.For(cfg.Lang)
	if err := needDatabase(d.text, d.name, cfg, origin); err != nil {
		return "", config.Config{}, err
	}
	return d.fs.Arg(0), cfg, nil
}

// backupCmd is "ovos-oauth backup FILE".
func backupCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := newDataFlags("backup", i18n.CLIUsageBackup, args, getenv, stderr)
	file, cfg, err := flags.parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	t := flags.text
	pass, err := passphrase(t, getenv, stderr, true)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	doc, from, damaged, err := readStore(ctx, t, cfg)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := atomicfile.WriteFunc(file, 0o600, func(w io.Writer) error { return backup.Write(w, doc, pass, backupWorkFactor) }); err != nil {
		return fmt.Errorf("backup: write %s: %w", file, err)
	}
	var tokens, creds, logins int
	for _, a := range doc.Apps {
		var what []string
		if a.Token != nil {
			tokens++
			what = append(what, t.Text(i18n.CLIBackupTokenIssued, "time", a.Token.Obtained.Local().Format(time.DateTime)))
		} else {
			what = append(what, t.Text(i18n.CLIBackupNoToken))
		}
		if a.App.CredsFromUser {
			creds++
			what = append(what, t.Text(i18n.CLIBackupTyped))
		}
		if n := len(a.DeviceLogins); n > 0 {
			logins += n
			what = append(what, plural(t, n, i18n.CLICountDeviceLogin, i18n.CLICountDeviceLogins))
		}
		if a.App.NeedsReauth {
			what = append(what, t.Text(i18n.CLIBackupNeedsLogin))
		}
		fmt.Fprintf(stdout, "  %s %s: %s\n", a.App.SkillID, a.App.AppID, strings.Join(what, ", "))
	}
	fmt.Fprintln(stdout, t.Text(i18n.CLIBackupDone, "apps", plural(t, len(doc.Apps), i18n.CLICountApp, i18n.CLICountApps),
		"tokens", plural(t, tokens, i18n.CLICountToken, i18n.CLICountTokens),
		"credentials", plural(t, creds, i18n.CLICountCredential, i18n.CLICountCredentials),
		"logins", plural(t, logins, i18n.CLICountDeviceLogin, i18n.CLICountDeviceLogins), "from", from, "file", file))
	if damaged > 0 {
		fmt.Fprintln(stdout, t.Text(i18n.CLIBackupDamaged, "records", plural(t, damaged, i18n.CLICountRecord, i18n.CLICountRecords)))
	}
	fmt.Fprintln(stdout, t.Text(i18n.CLIBackupKeepApart))
	return nil
}

// readStore reads the daemon's database, through a copy of its file in a
// private temporary folder: every app with its token and pending device
// logins, and how many damaged records were left out. from says where the
// copy came from.
func readStore(ctx context.Context, t *i18n.Printer, cfg config.Config) (doc *backup.Document, from string, damaged int, err error) {
	if _, err := os.Stat(cfg.SecretsKeyFile); err != nil {
		why := err.Error()
		if errors.Is(err, fs.ErrNotExist) {
			why = t.Text(i18n.CLIBackupKeyMissing, "path", cfg.SecretsKeyFile)
		}
		return nil, "", 0, &textError{t.Text(i18n.CLIBackupNoKey, "err", why), err}
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
	from, err = copyStore(ctx, t, cfg, f)
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
func copyStore(ctx context.Context, t *i18n.Printer, cfg config.Config, w io.Writer) (string, error) {
	sock := filepath.Join(filepath.Dir(cfg.DBPath()), control.SocketName)
	ctx, cancel := context.WithTimeout(ctx, copyTimeout)
	defer cancel()
	_, err := control.Fetch(ctx, sock, w)
	switch {
	case err == nil:
		return t.Text(i18n.CLIBackupFromDaemon), nil
	case errors.Is(err, fs.ErrPermission):
		return "", &textError{t.Text(i18n.CLIBackupPermission, "err", err.Error()), err}
	case !control.NoDaemon(err):
		return "", err
	}
	// No daemon listens: nothing was written to w.
	_, err = store.CopyFile(cfg.DBPath(), w, backupLockWait)
	switch {
	case errors.Is(err, store.ErrLocked):
		return "", &textError{t.Text(i18n.CLIBackupInUse, "path", cfg.DBPath(), "socket", sock), err}
	case errors.Is(err, fs.ErrNotExist):
		return "", &textError{t.Text(i18n.CLIBackupNoDatabase, "path", cfg.DBPath()), err}
	case err != nil:
		return "", err
	}
	return t.Text(i18n.CLIBackupFromFile), nil
}

// restoreCmd is "ovos-oauth restore FILE".
func restoreCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := newDataFlags("restore", i18n.CLIUsageRestore, args, getenv, stderr)
	force := flags.fs.Bool("force", false, flags.text.Text(i18n.CLIFlagForce))
	file, cfg, err := flags.parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	t := flags.text
	doc, err := readBackup(t, file, getenv, stderr)
	if err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if _, err := os.Stat(cfg.DataDir); errors.Is(err, fs.ErrNotExist) {
			return &textError{t.Text(i18n.CLIRestoreNoDataDir, "path", cfg.DataDir), err}
		}
	}
	nothing := func(err error) error {
		return &textError{t.Text(i18n.CLIRestoreFailed, "err", err.Error()), err}
	}
	give, err := giveToDataDirOwner(t, cfg)
	if err != nil {
		return nothing(err)
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
		return &textError{t.Text(i18n.CLIRestoreRunning, "path", cfg.DBPath()), err}
	}
	if err != nil {
		return nothing(err)
	}
	defer db.Close()
	apps := make([]store.RestoreApp, len(doc.Apps))
	for i, a := range doc.Apps {
		apps[i] = store.RestoreApp{App: a.App, Token: a.Token, DeviceLogins: a.DeviceLogins}
	}
	results, err := db.Restore(apps, *force, time.Now())
	if err != nil {
		return nothing(err)
	}
	printRestored(t, stdout, results, doc.Created, cfg.DBPath())
	return nil
}

// printRestored tells what a restore of a backup made at created did to
// the database at path, app by app, then in sum.
func printRestored(t *i18n.Printer, stdout io.Writer, results []store.RestoreResult, created time.Time, path string) {
	actions := map[store.RestoreAction]string{
		store.Restored: t.Text(i18n.CLIRestoreActionRestored),
		store.Kept:     t.Text(i18n.CLIRestoreActionKept),
		store.Skipped:  t.Text(i18n.CLIRestoreActionSkipped),
	}
	width := columnWidth(10, slices.Collect(maps.Values(actions))...)
	counts := map[store.RestoreAction]int{}
	for _, r := range results {
		counts[r.Action]++
		action, ok := actions[r.Action]
		if !ok {
			action = string(r.Action)
		}
		fmt.Fprintf(stdout, "%s%s: %s\n", padTo(action, width), r.MungedID, restoredWords(t, r))
	}
	fmt.Fprintln(stdout, t.Text(i18n.CLIRestoreDone, "restored", strconv.Itoa(counts[store.Restored]), "kept", strconv.Itoa(counts[store.Kept]),
		"skipped", strconv.Itoa(counts[store.Skipped]), "apps", plural(t, len(results), i18n.CLICountApp, i18n.CLICountApps),
		"created", created.Local().Format(time.DateTime), "path", path))
	fmt.Fprintln(stdout, t.Text(i18n.CLIRestoreStart))
}

// readBackup reads and checks the whole backup file, so that nothing is
// written for one that does not open.
func readBackup(t *i18n.Printer, file string, getenv func(string) string, stderr io.Writer) (*backup.Document, error) {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &textError{t.Text(i18n.CLIRestoreNoFile, "file", file), fmt.Errorf("restore: %w", err)}
	}
	if err != nil {
		return nil, &textError{t.Text(i18n.CLIRestoreUnreadable, "file", file, "err", systemText(err)), fmt.Errorf("restore: %w", err)}
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, errors.New(t.Text(i18n.CLIRestoreNotAFile, "file", file))
	}
	pass, err := passphrase(t, getenv, stderr, false)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	doc, err := backup.Read(f, pass)
	switch {
	case errors.Is(err, backup.ErrPassphrase):
		return nil, &textError{t.Text(i18n.CLIRestoreWrongPassphrase, "file", file), err}
	case errors.Is(err, backup.ErrDamaged):
		return nil, &textError{t.Text(i18n.CLIRestoreNotWhole, "file", file, "err", err.Error()), err}
	case err != nil:
		return nil, &textError{t.Text(i18n.CLIRestoreUnreadable, "file", file, "err", err.Error()), err}
	}
	return doc, nil
}

// restoredWords says what restore did with an app, never a secret.
func restoredWords(t *i18n.Printer, r store.RestoreResult) string {
	var what []string
	switch {
	case r.AppAdded:
		what = append(what, t.Text(i18n.CLIRestoreAppAdded))
	case r.AppReplaced:
		what = append(what, t.Text(i18n.CLIRestoreAppReplaced))
	}
	if r.TokenRestored {
		what = append(what, t.Text(i18n.CLIBackupTokenIssued, "time", r.Obtained.Local().Format(time.DateTime)))
	}
	if r.Logins > 0 {
		what = append(what, plural(t, r.Logins, i18n.CLICountDeviceLogin, i18n.CLICountDeviceLogins))
	}
	if why := restoreReason(t, r); why != "" {
		what = append(what, why)
	}
	if len(what) == 0 {
		what = append(what, t.Text(i18n.CLIRestoreNothing))
	}
	return strings.Join(what, "; ")
}

// restoreReason says why restore kept or skipped an app, or left its
// token; "" when it did all.
func restoreReason(t *i18n.Printer, r store.RestoreResult) string {
	switch r.Reason {
	case "":
		return ""
	case store.ReasonDamaged:
		return t.Text(i18n.CLIRestoreWhyDamaged)
	case store.ReasonIDTaken:
		return t.Text(i18n.CLIRestoreWhyIDTaken, "skill", strconv.Quote(r.OtherSkillID), "app", strconv.Quote(r.OtherAppID))
	case store.ReasonOtherClient:
		return t.Text(i18n.CLIRestoreWhyOtherClient)
	case store.ReasonNoToken:
		return t.Text(i18n.CLIRestoreWhyNoToken)
	case store.ReasonLoginEnded:
		return t.Text(i18n.CLIRestoreWhyLoginEnded)
	case store.ReasonNewer:
		return t.Text(i18n.CLIRestoreWhyNewer)
	}
	return string(r.Reason)
}

// giveToDataDirOwner is for root restoring into a data directory of
// another user (the system service's ovos-oauth): the database and key
// files that Open creates would be root's, which the daemon cannot open.
// The function it returns gives those created since to the directory's
// owner. For anyone else it does nothing.
func giveToDataDirOwner(t *i18n.Printer, cfg config.Config) (func() error, error) {
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
				return &textError{t.Text(i18n.CLIRestoreChown, "path", p, "uid", strconv.FormatUint(uint64(owner.Uid), 10), "err", err.Error()), err}
			}
		}
		return nil
	}, nil
}

// passphrase is the backup's passphrase: $OVOS_OAUTH_BACKUP_PASSPHRASE
// when set, else asked on the terminal without echo, twice with confirm.
func passphrase(t *i18n.Printer, getenv func(string) string, stderr io.Writer, confirm bool) (string, error) {
	if p := getenv(envPassphrase); p != "" {
		return p, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", errors.New(t.Text(i18n.CLIPassphraseNone))
	}
	fmt.Fprint(stderr, t.Text(i18n.CLIPassphrasePrompt)+" ")
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", &textError{t.Text(i18n.CLIPassphraseRead, "err", err.Error()), err}
	}
	if len(p) == 0 {
		return "", errors.New(t.Text(i18n.CLIPassphraseEmpty))
	}
	if confirm {
		fmt.Fprint(stderr, t.Text(i18n.CLIPassphraseAgain)+" ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", &textError{t.Text(i18n.CLIPassphraseRead, "err", err.Error()), err}
		}
		if string(again) != string(p) {
			return "", errors.New(t.Text(i18n.CLIPassphraseDiffer))
		}
	}
	return string(p), nil
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
