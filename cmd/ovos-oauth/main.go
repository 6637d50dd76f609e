// Command ovos-oauth is the OAuth companion of an OpenVoiceOS device: it
// answers the oauth.* messages of the OVOS messagebus, serves the callback
// that finishes a login from the user's phone, and keeps the tokens.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/OpenVoiceOS/ovos-oauth/internal/config"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, config.ErrHelp) {
		fmt.Fprintln(os.Stderr, "ovos-oauth:", err)
	}
	os.Exit(exitCode(err))
}

// run is main without the process: tests call it with their own arguments,
// environment and writers. The errors a person can act on that stop a
// command come back in the settings' language (startError).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return startError(args, getenv, command(ctx, args, getenv, stdout, stderr))
}

// damagedFileText says what is wrong with a damaged database file and
// what to do, in t's language.
func damagedFileText(t *i18n.Printer, e *store.DamagedFileError) string {
	problem := t.Text(i18n.CLIDamagedFileInconsistent)
	switch e.Reason {
	case store.FileCutShort:
		problem = t.Text(i18n.CLIDamagedFileCutShort)
	case store.FileOverwritten:
		problem = t.Text(i18n.CLIDamagedFileOverwritten)
	}
	return t.Text(i18n.CLIDamagedFile, "path", e.Path, "problem", problem)
}

// command runs the command args name.
func command(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return noCommand(getenv, stderr)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stderr)
	case "import":
		return importCmd(args[1:], getenv, stdout, stderr)
	case "doctor":
		return doctorCmd(args[1:], getenv, stdout, stderr)
	case "backup":
		return backupCmd(ctx, args[1:], getenv, stdout, stderr)
	case "restore":
		return restoreCmd(args[1:], getenv, stdout, stderr)
	case "status":
		return statusCmd(ctx, args[1:], getenv, stdout, stderr)
	case "login":
		return loginCmd(ctx, args[1:], getenv, stdout, stderr)
	case "token":
		return tokenCmd(ctx, args[1:], getenv, stdout, stderr)
	case "revoke":
		return revokeCmd(ctx, args[1:], getenv, stdout, stderr)
	case "bus":
		return busCmd(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "ovos-oauth", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, mainUsage(args[1:], getenv))
		return nil
	}
	return unknownCommand(args, getenv, stderr)
}

// serve runs the daemon its flags and configuration describe until ctx
// ends.
func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) (err error) {
	profile, args, err := cpuProfileFlag(args)
	if err != nil {
		return err
	}
	cfg, origin, err := config.LoadOrigin(args, getenv, stderr)
	if err != nil {
		return err
	}
	if profile != "" {
		stop, perr := startCPUProfile(profile)
		if perr != nil {
			return perr
		}
		defer func() { err = errors.Join(err, stop()) }()
	}
	logger := newLogger(cfg, stderr)
	logDataDir(logger, cfg, origin)
	d := newDaemon(cfg, logger, getenv)
	defer func() {
		if cerr := d.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	if err := d.Open(); err != nil {
		return err
	}
	return d.Run(ctx)
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevelValue()}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
