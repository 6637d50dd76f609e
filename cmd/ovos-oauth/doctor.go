package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/config"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
)

// doctorLockWait is how long doctor waits for the daemon's lock: a running
// daemon holds it for good, so waiting longer tells nothing more.
const doctorLockWait = 500 * time.Millisecond

// doctorCmd is "ovos-oauth doctor": it opens the database file directly,
// as import does, and never writes but with --remove.
func doctorCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, remove, err := doctorArgs(args, getenv, stderr)
	if err != nil {
		return err
	}
	t := i18n.For(cfg.Lang)
	path := cfg.DBPath()
	rep, err := store.Inspect(path, doctorLockWait)
	if err != nil {
		return inspectError(t, path, err)
	}
	fmt.Fprintln(stdout, t.Text(i18n.CLIDoctorSummary, "path", path, "bytes", strconv.FormatInt(rep.Size, 10),
		"apps", plural(t, rep.Records[oauth.RecordApp], i18n.CLICountApp, i18n.CLICountApps),
		"tokens", plural(t, rep.Records[oauth.RecordToken], i18n.CLICountToken, i18n.CLICountTokens),
		"logins", plural(t, rep.Records[oauth.RecordLogin], i18n.CLICountLogin, i18n.CLICountLogins)))
	if len(rep.Problems) > 0 {
		for _, p := range rep.Problems {
			fmt.Fprintln(stdout, "  "+t.Text(i18n.CLIDoctorProblem, "problem", p))
		}
		return errors.New(t.Text(i18n.CLIDoctorProblems, "path", path))
	}
	fmt.Fprintln(stdout, t.Text(i18n.CLIDoctorWhole))
	if len(rep.Damaged) == 0 {
		fmt.Fprintln(stdout, t.Text(i18n.CLIDoctorNoDamaged))
		return nil
	}
	if err := printSetAside(t, stdout, rep.Damaged); err != nil {
		return err
	}
	if !remove {
		fmt.Fprintln(stdout, t.Text(i18n.CLIDoctorKept))
		return nil
	}
	n, err := store.RemoveDamaged(path, doctorLockWait)
	if errors.Is(err, store.ErrLocked) {
		return &textError{t.Text(i18n.CLIDoctorTaken, "path", path), err}
	}
	if err != nil {
		return fmt.Errorf("doctor: %w", err)
	}
	fmt.Fprintln(stdout, t.Text(i18n.CLIDoctorRemoved, "n", strconv.Itoa(n)))
	return nil
}

// doctorArgs reads doctor's arguments: serve's flags, which find the
// database as the other commands on it do, and --remove.
func doctorArgs(args []string, getenv func(string) string, stderr io.Writer) (cfg config.Config, remove bool, err error) {
	conf := make([]string, 0, len(args))
	for _, a := range args {
		switch a {
		case "-h", "--help":
			fmt.Fprintln(stderr, textFor(args, getenv).Text(i18n.CLIUsageDoctor))
			return cfg, false, config.ErrHelp
		case "--remove":
			remove = true
		default:
			conf = append(conf, a)
		}
	}
	cfg, origin, err := config.LoadCommand(conf, getenv, stderr)
	if err != nil {
		return cfg, false, &exitError{exitUsage, err}
	}
	return cfg, remove, needDatabase(i18n.For(cfg.Lang), "doctor", cfg, origin)
}

// inspectError is doctor's error for err, Inspect's of the file at path.
func inspectError(t *i18n.Printer, path string, err error) error {
	switch {
	case errors.Is(err, store.ErrLocked):
		return &textError{t.Text(i18n.CLIDoctorInUse, "path", path), err}
	case errors.Is(err, fs.ErrNotExist):
		return &textError{t.Text(i18n.CLIBackupNoDatabase, "path", path), fmt.Errorf("doctor: %w", err)}
	}
	return fmt.Errorf("doctor: %w", err)
}

// printSetAside lists the damaged records set aside in the file, in a table.
func printSetAside(t *i18n.Printer, stdout io.Writer, damaged []oauth.DamagedRecord) error {
	fmt.Fprintln(stdout, t.Text(i18n.CLIDoctorDamaged, "n", strconv.Itoa(len(damaged))))
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "  "+strings.Join([]string{t.Text(i18n.CLIDoctorColSetAside), t.Text(i18n.CLIStatusApp), t.Text(i18n.CLIDoctorColRecord),
		t.Text(i18n.CLIDoctorColWhy), t.Text(i18n.CLIDoctorColMeaning)}, "\t"))
	for _, d := range damaged {
		app := d.MungedID
		if app == "" {
			app = t.Text(i18n.CLIDoctorUnknownApp)
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\n", d.At.Local().Format("2006-01-02 15:04:05"), app, recordWord(t, d.Record), damageWords(t, d.Reason), meaning(t, d.Record))
	}
	return w.Flush()
}

// meaning says what a damaged record of a kind cost its app.
func meaning(t *i18n.Printer, record string) string {
	switch record {
	case oauth.RecordToken:
		return t.Text(i18n.CLIDoctorMeaningToken)
	case oauth.RecordApp:
		return t.Text(i18n.CLIDoctorMeaningApp)
	case oauth.RecordLogin:
		return t.Text(i18n.CLIDoctorMeaningLogin)
	}
	return strings.TrimSpace(record)
}

// recordWord names a kind of record in t's language.
func recordWord(t *i18n.Printer, record string) string {
	switch record {
	case oauth.RecordToken:
		return t.Text(i18n.CLIRecordToken)
	case oauth.RecordApp:
		return t.Text(i18n.CLIRecordApp)
	case oauth.RecordLogin:
		return t.Text(i18n.CLIRecordLogin)
	}
	return strings.TrimSpace(record)
}

// damageWords says in t's language why a record was set aside, from the
// reason the store keeps; words of another version as they are.
func damageWords(t *i18n.Printer, reason string) string {
	switch store.DamageReasonOf(reason) {
	case store.DamageNotAuthentic:
		return t.Text(i18n.CLIDamageNotAuthentic)
	case store.DamageNotSealed:
		return t.Text(i18n.CLIDamageNotSealed)
	case store.DamageNotRecord:
		return t.Text(i18n.CLIDamageNotRecord)
	case store.DamageAppDamaged:
		return t.Text(i18n.CLIDamageAppDamaged)
	}
	return reason
}
