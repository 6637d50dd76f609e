package main

// The import of ovos-PHAL-plugin-oauth's apps and tokens: at start, on
// demand (ovos-oauth import), and for the system unit (import --service).

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/config"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
	"github.com/OpenVoiceOS/ovos-oauth/internal/migrate"
	"github.com/OpenVoiceOS/ovos-oauth/internal/mirror"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
)

// importDir is where the plugin's files are: import_from, else ovos_utils'
// directory; "" when neither is known.
func importDir(cfg config.Config, getenv func(string) string) string {
	if cfg.ImportFrom != "" {
		return cfg.ImportFrom
	}
	return mirror.DefaultDir(getenv)
}

// importOnStart imports ovos-PHAL-plugin-oauth's apps and tokens while the
// store has none: the first start after the plugin, unless import_on_start
// is off. Once the store has an app it never runs again. What ovos-oauth's
// mirror wrote there is never imported (see package migrate), so a daemon
// with a new data dir beside another takes none of the other's logins. A
// failed import is logged and the daemon starts all the same; the next start
// tries again while the store is empty. It returns the munged ids of the
// apps it imported.
func importOnStart(db *store.DB, cfg config.Config, getenv func(string) string, logger *slog.Logger) []string {
	if !cfg.ImportOnStart {
		return nil
	}
	has, err := db.HasApps()
	if err != nil {
		logger.Error("import of ovos-PHAL-plugin-oauth's apps skipped: cannot list the store's apps", "err", err)
		return nil
	}
	if has {
		return nil
	}
	dir := importDir(cfg, getenv)
	if dir == "" {
		logger.Info("no import of ovos-PHAL-plugin-oauth's apps: neither import_from, XDG_CACHE_HOME nor HOME is set")
		return nil
	}
	f, err := migrate.Read(dir)
	if err != nil {
		logger.Error("import of ovos-PHAL-plugin-oauth's apps failed", "dir", dir, "err", err)
		return nil
	}
	return importLogged(db, f, []string{dir}, logger)
}

// importLogged imports f into st and logs it: a line for each app imported
// and each entry skipped, and one that says what was imported from where,
// or where it looked (looked) and found nothing. It returns the munged ids
// of the apps imported.
func importLogged(st oauth.Store, f migrate.Files, looked []string, logger *slog.Logger) []string {
	if !f.Found {
		logger.Info("no ovos-PHAL-plugin-oauth files to import", "looked_in", strings.Join(looked, ", "))
		return nil
	}
	rep, err := migrate.ImportFiles(st, f, time.Now())
	ids := make([]string, 0, len(rep.Imported))
	tokens := 0
	for _, imp := range rep.Imported {
		logger.Info("imported an app of ovos-PHAL-plugin-oauth", "app", imp.MungedID, "skill_id", imp.SkillID, "app_id", imp.AppID,
			"token", imp.Token, "expires", imp.Expiry, "split_guessed", imp.Guessed)
		ids = append(ids, imp.MungedID)
		if imp.Token {
			tokens++
		}
	}
	for _, sk := range rep.Skipped {
		logger.Warn("skipped an entry of ovos-PHAL-plugin-oauth's files", "file", sk.File, "entry", sk.Name, "reason", sk.Reason)
	}
	if err != nil {
		logger.Error("import of ovos-PHAL-plugin-oauth's apps failed", "dir", f.Dir, "err", err)
		return ids
	}
	attrs := []any{"dir", f.Dir, "imported", len(rep.Imported), "tokens", tokens, "skipped", len(rep.Skipped),
		"written_by_ovos_oauth", len(rep.Mirrored)}
	if len(rep.Imported) == 0 && len(rep.Mirrored) > 0 {
		attrs = append(attrs, "note", "the apps there are another ovos-oauth database's (its ovos_utils mirror), which keeps them: "+
			"log them in here again, or run this daemon on that database's data_dir")
	}
	logger.Info("import of ovos-PHAL-plugin-oauth's apps done", attrs...)
	return ids
}

// mirrorImported writes the apps just imported, and their tokens, to the
// ovos_utils mirror at once, marked as this daemon's. Until a skill
// registers again or a token is refreshed, the files would otherwise hold
// them as the plugin wrote them, for a daemon started beside this one to
// import as well.
func mirrorImported(db *store.DB, engine *oauth.Engine, m oauth.Mirror, ids []string, logger *slog.Logger) {
	for _, id := range ids {
		app, err := db.App(id)
		if err != nil {
			logger.Warn("imported app not mirrored", "app", id, "err", err)
			continue
		}
		if err := m.PutApp(app, engine.RedirectURI(app)); err != nil {
			logger.Warn("imported app not mirrored", "app", id, "err", err)
		}
		tok, err := db.Token(id)
		switch {
		case errors.Is(err, oauth.ErrNotFound):
			continue
		case err != nil:
			logger.Warn("imported token not mirrored", "app", id, "err", err)
			continue
		}
		if err := m.PutToken(app, tok); err != nil {
			logger.Warn("imported token not mirrored", "app", id, "err", err)
		}
	}
}

// mirrorOwner names the database at dbPath in the mark of every entry its
// mirror writes: a hash of the path, the same at every start and another
// for every data directory, which tells nothing of the path.
func mirrorOwner(dbPath string) string {
	sum := sha256.Sum256([]byte(dbPath))
	return "db-" + hex.EncodeToString(sum[:6])
}

// importOpts are the flags of "ovos-oauth import" that are not serve's.
type importOpts struct {
	service bool
	ifEmpty bool
	// The steps of --service, each in a process of its own: read is the
	// folder whose files are printed (as their owner), bundle takes them on
	// stdin into the store (as its owner).
	read   string
	bundle bool
}

// parseImportArgs takes the import's own flags out of args, and turns
// --from into serve's --import-from.
func parseImportArgs(args []string) (opts importOpts, conf []string, err error) {
	conf = make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-h" || a == "--help":
			return opts, nil, config.ErrHelp
		case a == "--service":
			opts.service = true
		case a == "--if-empty":
			opts.ifEmpty = true
		case a == "--internal-bundle":
			opts.bundle = true
		case a == "--internal-read":
			if i+1 == len(args) {
				return opts, nil, usageErr("import: --internal-read needs a folder")
			}
			i++
			opts.read = args[i]
		case a == "--from":
			conf = append(conf, "--import-from")
		case strings.HasPrefix(a, "--from="):
			conf = append(conf, "--import-from="+strings.TrimPrefix(a, "--from="))
		default:
			conf = append(conf, a)
		}
	}
	return opts, conf, nil
}

// importCmd is "ovos-oauth import": the import on start, on demand, also
// into a store that has apps. It fails only when the import cannot run;
// entries it skips are listed.
func importCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	opts, conf, err := parseImportArgs(args)
	if errors.Is(err, config.ErrHelp) {
		fmt.Fprintln(stderr, textFor(args, getenv).Text(i18n.CLIUsageImport))
		return err
	}
	if err != nil {
		return err
	}
	switch {
	case opts.read != "":
		return importReadStep(opts.read, conf, stdout)
	case opts.bundle:
		return importStoreStep(conf, opts.ifEmpty, stdout, stderr)
	}
	cfg, origin, err := config.LoadCommand(conf, getenv, stderr)
	if err != nil {
		return err
	}
	if err := needDatabase(i18n.For(cfg.Lang), "import", cfg, origin); err != nil {
		return err
	}
	if opts.service {
		return importService(cfg, opts.ifEmpty, getenv, stdout, stderr, serviceHost)
	}
	t := i18n.For(cfg.Lang)
	dir := importDir(cfg, getenv)
	if dir == "" {
		return errors.New(t.Text(i18n.CLIImportNoDir))
	}
	db := store.New(cfg.DBPath())
	db.KeyFile = cfg.SecretsKeyFile
	if err := db.Open(); err != nil {
		return &textError{t.Text(i18n.CLIImportOpen, "err", err.Error()), err}
	}
	defer db.Close()
	if opts.ifEmpty {
		return importIfEmpty(db, func() (migrate.Files, []string, error) {
			f, err := migrate.Read(dir)
			return f, []string{dir}, err
		}, newLogger(cfg, stderr).With("component", "import"))
	}
	f, err := migrate.Read(dir)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return importPrinted(t, db, f, cfg.DBPath(), stdout)
}

// importIfEmpty imports what read returns into db, logged, if db has no
// apps.
func importIfEmpty(db *store.DB, read func() (migrate.Files, []string, error), logger *slog.Logger) error {
	has, err := db.HasApps()
	if err != nil {
		return fmt.Errorf("import: list the database's apps: %w", err)
	}
	if has {
		return nil
	}
	f, looked, err := read()
	if err != nil {
		logger.Error("import of ovos-PHAL-plugin-oauth's apps failed", "looked_in", strings.Join(looked, ", "), "err", logText(err))
		return fmt.Errorf("import: %w", err)
	}
	importLogged(db, f, looked, logger)
	return nil
}

// importPrinted imports f into db and lists what it did for a person.
func importPrinted(t *i18n.Printer, db *store.DB, f migrate.Files, dbPath string, stdout io.Writer) error {
	fmt.Fprintln(stdout, t.Text(i18n.CLIImportFrom, "dir", f.Dir, "path", dbPath))
	rep, err := migrate.ImportFiles(db, f, time.Now())
	imported, kept, skipped, left := t.Text(i18n.CLIImportActionImported), t.Text(i18n.CLIImportActionKept),
		t.Text(i18n.CLIImportActionSkipped), t.Text(i18n.CLIImportActionLeft)
	width := columnWidth(10, imported, kept, skipped, left)
	for _, imp := range rep.Imported {
		token := t.Text(i18n.CLIImportNoToken)
		switch {
		case imp.Token && imp.Expiry.IsZero():
			token = t.Text(i18n.CLIImportWithToken)
		case imp.Token:
			token = t.Text(i18n.CLIImportWithTokenExpires, "time", imp.Expiry.Format(time.RFC3339))
		}
		fmt.Fprintf(stdout, "%s%s (%s)\n", padTo(imported, width), imp.MungedID, token)
		if imp.Guessed {
			fmt.Fprintln(stdout, padTo("", width)+t.Text(i18n.CLIImportGuessed, "skill", strconv.Quote(imp.SkillID), "app", strconv.Quote(imp.AppID)))
		}
	}
	for _, id := range rep.Kept {
		fmt.Fprintf(stdout, "%s%s: %s\n", padTo(kept, width), id, t.Text(i18n.CLIImportKept))
	}
	for _, sk := range rep.Skipped {
		if sk.Name == "" {
			fmt.Fprintf(stdout, "%s%s: %s\n", padTo(skipped, width), sk.File, skipWords(t, sk))
			continue
		}
		fmt.Fprintln(stdout, padTo(skipped, width)+t.Text(i18n.CLIImportSkippedEntry, "entry", strconv.Quote(sk.Name), "file", sk.File, "reason", skipWords(t, sk)))
	}
	if n := len(rep.Mirrored); n > 0 {
		fmt.Fprintln(stdout, padTo(left, width)+t.Text(i18n.CLIImportLeft, "n", strconv.Itoa(n)))
	}
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	tokens := 0
	for _, imp := range rep.Imported {
		if imp.Token {
			tokens++
		}
	}
	fmt.Fprintln(stdout, t.Text(i18n.CLIImportDone, "imported", strconv.Itoa(len(rep.Imported)), "tokens", strconv.Itoa(tokens),
		"kept", strconv.Itoa(len(rep.Kept)), "skipped", strconv.Itoa(len(rep.Skipped)), "dir", f.Dir))
	return nil
}

// skipWords says in t's language why an entry or a file was skipped.
func skipWords(t *i18n.Printer, sk migrate.Skipped) string {
	if len(sk.Problems) == 0 {
		return sk.Reason
	}
	words := make([]string, len(sk.Problems))
	for i, p := range sk.Problems {
		words[i] = problemWords(t, p)
	}
	return strings.Join(words, "; ")
}

// problemWords says one reason of a skip in t's language.
func problemWords(t *i18n.Printer, p migrate.Problem) string {
	switch p.Reason {
	case migrate.SkipFileNotObject:
		return t.Text(i18n.CLIImportWhyFileNotObject)
	case migrate.SkipBadID:
		return t.Text(i18n.CLIImportWhyBadID)
	case migrate.SkipNotObject:
		return t.Text(i18n.CLIImportWhyNotObject)
	case migrate.SkipMissing:
		return t.Text(i18n.CLIImportWhyMissing, "field", p.Field)
	case migrate.SkipNotURL:
		return t.Text(i18n.CLIImportWhyNotURL, "field", p.Field)
	case migrate.SkipNotString:
		return t.Text(i18n.CLIImportWhyNotString, "field", p.Field)
	case migrate.SkipNotBool:
		return t.Text(i18n.CLIImportWhyNotBool, "field", p.Field)
	case migrate.SkipNotNumber:
		return t.Text(i18n.CLIImportWhyNotNumber, "field", p.Field)
	case migrate.SkipNoApp:
		return t.Text(i18n.CLIImportWhyNoApp, "file", migrate.AppsFile)
	case migrate.SkipAppSkipped:
		return t.Text(i18n.CLIImportWhyAppSkipped, "file", migrate.AppsFile)
	}
	return p.String()
}
