package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/config"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
)

const doctorUsage = `Usage: ovos-oauth doctor [--remove] [--data-dir DIR] [serve's flags]

Checks ovos-oauth's database as a repair tool, like fsck: that the file is
whole (not cut short, every page readable, bbolt's consistency check), and
lists the records that were damaged (a bad card, a hand edit) and set aside
so that the other apps kept working: which app, when, why; never their
content. With --remove it deletes them. It needs no key file.

Stop the daemon first: it holds the database's lock
(sudo systemctl stop ovos-oauth, or systemctl --user stop ovos-oauth).

Exit status: 0 the file is sound (damaged records may be listed, or were
removed); 1 the file is damaged, in use by the daemon or missing; 2 wrong
usage.
`

// doctorLockWait is how long doctor waits for the daemon's lock: a running
// daemon holds it for good, so waiting longer tells nothing more.
const doctorLockWait = 500 * time.Millisecond

// doctorCmd is "ovos-oauth doctor": it opens the database file directly,
// as import does, and never writes but with --remove.
func doctorCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	remove := false
	conf := make([]string, 0, len(args))
	for _, a := range args {
		switch a {
		case "-h", "--help":
			fmt.Fprint(stderr, doctorUsage)
			return config.ErrHelp
		case "--remove":
			remove = true
		default:
			conf = append(conf, a)
		}
	}
	cfg, err := config.Load(conf, getenv, stderr)
	if err != nil {
		return &exitError{exitUsage, err}
	}
	path := cfg.DBPath()
	rep, err := store.Inspect(path, doctorLockWait)
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("doctor: %s is in use, most likely by the daemon: stop it first (sudo systemctl stop ovos-oauth, or systemctl --user stop ovos-oauth), run ovos-oauth doctor, then start it again", path)
	}
	if err != nil {
		return fmt.Errorf("doctor: %w", err)
	}
	fmt.Fprintf(stdout, "%s: %d bytes, %d apps, %d tokens, %d pending logins\n", path, rep.Size,
		rep.Records[oauth.RecordApp], rep.Records[oauth.RecordToken], rep.Records[oauth.RecordLogin])
	if len(rep.Problems) > 0 {
		for _, p := range rep.Problems {
			fmt.Fprintf(stdout, "  problem: %s\n", p)
		}
		return fmt.Errorf("doctor: bbolt's consistency check found problems in %s (listed above): the daemon may lose data when it next writes. Keep a copy of the file as it is (cp %s %s.damaged), then restore a backup (with the key file backed up with it), or move it aside (mv %s %s.damaged) to start with an empty store, in which every app needs a new login",
			path, path, path, path, path)
	}
	fmt.Fprintln(stdout, "the file is whole: every page reads, and bbolt's consistency check finds nothing")
	if len(rep.Damaged) == 0 {
		fmt.Fprintln(stdout, "no damaged records")
		return nil
	}
	fmt.Fprintf(stdout, "%d damaged records, set aside (their content is never shown):\n", len(rep.Damaged))
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "  SET ASIDE\tAPP\tRECORD\tWHY\tFOR THE APP")
	for _, d := range rep.Damaged {
		app := d.MungedID
		if app == "" {
			app = "(unknown)"
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\n", d.At.Local().Format("2006-01-02 15:04:05"), app, d.Record, d.Reason, meaning(d.Record))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if !remove {
		fmt.Fprintln(stdout, "They are kept in the file until you remove them: ovos-oauth doctor --remove")
		return nil
	}
	n, err := store.RemoveDamaged(path, doctorLockWait)
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("doctor: %s was taken by another process meanwhile: stop the daemon first, then run ovos-oauth doctor --remove again", path)
	}
	if err != nil {
		return fmt.Errorf("doctor: %w", err)
	}
	fmt.Fprintf(stdout, "removed %d damaged records\n", n)
	return nil
}

// meaning says what a damaged record of a kind cost its app.
func meaning(record string) string {
	switch record {
	case oauth.RecordToken:
		return "it needs a new login"
	case oauth.RecordApp:
		return "its skill registers it again, then it needs a new login"
	case oauth.RecordLogin:
		return "a pending login ended: start it again"
	}
	return strings.TrimSpace(record)
}
