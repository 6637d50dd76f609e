package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/OpenVoiceOS/ovos-oauth/internal/config"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
)

// needDatabase is the error of command, on the daemon's database, when
// config.LoadCommand searched for the data directory and found no
// database: it says where it looked and what to pass, in t's language.
// A folder a setting or systemd names is taken as it is (restore and
// import may make a database there), so for it, and for a database that
// is there, it is nil.
func needDatabase(t *i18n.Printer, command string, cfg config.Config, origin config.DataDirOrigin) error {
	if origin.Searched == nil {
		return nil
	}
	if _, err := os.Stat(cfg.DBPath()); !errors.Is(err, fs.ErrNotExist) {
		return nil // there, or unreadable: the command says which
	}
	looked := strings.Join(origin.Searched, ", ")
	return &textError{t.Text(i18n.CLINoDatabase, "command", command, "looked", looked),
		fmt.Errorf("%s: no database in %s: %w", command, looked, fs.ErrNotExist)}
}

// logDataDir says once, at start, that the daemon runs on the database
// an older version kept in its default folder: it stays there, and
// nothing is moved behind the user's back.
func logDataDir(logger *slog.Logger, cfg config.Config, origin config.DataDirOrigin) {
	if origin.Source != config.DataDirFormer {
		return
	}
	logger.Info("the database is in the data directory of older versions, and stays there", "data_dir", cfg.DataDir,
		"default", origin.Searched[0], "hint", "to use the default, stop the daemon and move this folder's files there; or set data_dir to this folder")
}
