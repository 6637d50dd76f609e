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
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/OpenVoiceOS/ovos-oauth/internal/api"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/callback"
	"github.com/OpenVoiceOS/ovos-oauth/internal/config"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
	"github.com/OpenVoiceOS/ovos-oauth/internal/metrics"
	"github.com/OpenVoiceOS/ovos-oauth/internal/migrate"
	"github.com/OpenVoiceOS/ovos-oauth/internal/mirror"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/qr"
	"github.com/OpenVoiceOS/ovos-oauth/internal/sdnotify"
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

const usage = `Usage: ovos-oauth <command> [flags]

The daemon:
  serve     run the daemon (ovos-oauth serve --help lists its flags)
  import    bring over ovos-PHAL-plugin-oauth's apps and tokens

Talking to a running daemon over the bus:
  status    list the apps: login mode, token, expiry, next refresh, what each needs
  login     log in an app: prints the link and its QR code, waits until done
  token     print a valid access token of an app, for scripts
  revoke    revoke and forget an app's tokens (--unregister: the app too)
  bus       bus listen [PATTERN] prints frames; bus emit TYPE [JSON] sends one

  version   print the version

Every command takes --help. Exit status: 0 done, 1 failed, 2 wrong usage,
3 the bus or the daemon did not answer.
`

// run is main without the process: tests call it with their own arguments,
// environment and writers.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageErr("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stderr)
	case "import":
		return importCmd(args[1:], getenv, stdout, stderr)
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
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageErr("unknown command %q", args[0])
}

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) (err error) {
	profile, args, err := cpuProfileFlag(args)
	if err != nil {
		return err
	}
	cfg, err := config.Load(args, getenv, stderr)
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
	if loopbackHost(cfg.PublicHost) {
		logger.Warn("public_host is this device's loopback address: no phone can reach it, so lan and relay logins and QR links work only on this device; set --public-host to its LAN address", "public_host", cfg.PublicHost)
	}

	// Listen before anything serves, so a taken port fails start-up with a
	// clear message instead of a half-running daemon.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return listenError(cfg.Listen, err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	baseURL := "http://" + net.JoinHostPort(cfg.PublicHost, strconv.Itoa(port))

	var metricsLn net.Listener
	if cfg.MetricsListen != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("listen for metrics on %s: the port is taken; choose another with --metrics-listen: %w", cfg.MetricsListen, err)
			}
			return fmt.Errorf("listen for metrics on %s (--metrics-listen): %w", cfg.MetricsListen, err)
		}
		defer metricsLn.Close()
	}

	busURL := cfg.BusURL
	var hub *bus.Hub
	var busLn net.Listener
	if cfg.EmbeddedBus != "" {
		busLn, err = net.Listen("tcp", cfg.EmbeddedBus)
		if err != nil {
			return fmt.Errorf("listen for the embedded bus on %s (is ovos-messagebus running?): %w", cfg.EmbeddedBus, err)
		}
		defer busLn.Close()
		hub = bus.NewHub(logger.With("component", "hub"))
		if _, p, _ := net.SplitHostPort(cfg.EmbeddedBus); p == "0" {
			busURL = "ws://" + busLn.Addr().String() + hub.Route
		}
	}

	db := store.New(cfg.DBPath())
	db.KeyFile = cfg.SecretsKeyFile
	if err := db.Open(); err != nil {
		return err
	}
	var storeOpen atomic.Bool
	storeOpen.Store(true)
	defer func() {
		storeOpen.Store(false)
		db.Close()
	}()
	// Before the engine exists, so before anything writes the ovos_utils
	// mirror, which shares the plugin's files.
	importOnStart(db, cfg, getenv, logger.With("component", "import"))

	engine := oauth.NewEngine(db, baseURL, logger.With("component", "oauth"))
	engine.FlowTTL = cfg.FlowTTL
	engine.RelayURL = cfg.RelayURL
	if cfg.RelayURL != "" && engine.RelayRefusesHost() {
		logger.Warn("the relay page will not send phones on to public_host: it sends them only to a private, link-local or loopback IP address, localhost, or a name ending in .local or .home.arpa, so every relay login would end on its page saying \"This link cannot be used\"; set --public-host to this device's LAN IP address", "public_host", cfg.PublicHost, "relay_url", cfg.RelayURL)
	}
	mirrorDir := ""
	var mirrorWriter *mirror.Writer
	if cfg.MirrorOVOSUtils {
		mirrorDir = mirror.DefaultDir(getenv)
		if mirrorDir == "" {
			return errors.New("mirror_ovos_utils is on, but neither XDG_CACHE_HOME nor HOME is set; set one or turn the mirror off")
		}
		// Written behind the replies: a request never waits for the files
		// or for another process's lock on them.
		mirrorWriter = mirror.NewWriter(mirror.New(mirrorDir), logger.With("component", "mirror"))
		engine.Mirror = mirrorWriter
	}
	images := qr.NewDir(cfg.QRDir)
	images.TTL = cfg.FlowTTL
	svc := api.New(engine, images, cfg.PublicHost, port, logger.With("component", "api"))
	engine.Events = svc
	var stats *metrics.Metrics
	if metricsLn != nil {
		stats = metrics.New(api.RequestTypes(), engine.AppsNeedingReauth, logger.With("component", "metrics"))
		engine.Observer = stats
		svc.Observer = stats
	}
	cfg.BusURL = busURL
	client, err := newBusClient(cfg, svc, logger.With("component", "bus"))
	if err != nil {
		return err
	}
	// systemd (Type=notify) hears READY=1 once the store is open, the
	// callback port bound and the bus attached: the first connection.
	notifier := sdnotify.New(getenv, os.Getpid())
	var ready sync.Once
	client.OnConnect = func() {
		if stats != nil {
			stats.BusConnected()
		}
		svc.Ping()
		ready.Do(func() {
			if err := notifier.Notify(sdnotify.Ready); err != nil {
				logger.Warn("systemd not told the daemon is ready", "err", err)
			}
		})
	}
	svc.Sender = client
	web := callback.New(engine, logger.With("component", "http"))
	web.Printer = i18n.For(cfg.Lang)
	health := func() string {
		switch {
		case !storeOpen.Load():
			return "the store is closed"
		case !client.Connected():
			return "not attached to the bus at " + busURL
		}
		return ""
	}
	web.Health = health

	g, gctx := errgroup.WithContext(ctx)
	if hub != nil {
		g.Go(func() error { return hub.Serve(gctx, busLn) })
	}
	g.Go(func() error { return engine.Run(gctx) })
	if mirrorWriter != nil {
		g.Go(func() error { return mirrorWriter.Run(gctx) })
	}
	g.Go(func() error { return svc.Run(gctx) })
	g.Go(func() error { return client.Run(gctx) })
	g.Go(func() error { return web.Serve(gctx, ln) })
	if stats != nil {
		g.Go(func() error { return stats.Serve(gctx, metricsLn) })
	}
	g.Go(func() error { return notifier.RunWatchdog(gctx, func() bool { return health() == "" }) })
	g.Go(func() error {
		<-gctx.Done()
		if err := notifier.Notify(sdnotify.Stopping); err != nil {
			logger.Warn("systemd not told the daemon is stopping", "err", err)
		}
		return nil
	})
	logger.Info("ovos-oauth started", "version", version, "bus", busURL, "embedded_bus", embeddedAddr(busLn),
		"callback", baseURL, "listen", ln.Addr().String(), "data_dir", cfg.DataDir, "qr_dir", cfg.QRDir, "ovos_utils_mirror", mirrorDir, "metrics", listenAddr(metricsLn))
	err = g.Wait()
	if mirrorWriter != nil {
		// After the engine's last change: refreshes in flight end before
		// engine.Run returns.
		if ferr := mirrorWriter.Flush(); ferr != nil {
			logger.Warn("ovos_utils mirror not written at shutdown", "err", ferr)
		}
	}
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		logger.Info("ovos-oauth stopped")
		return nil
	}
	return err
}

// loopbackHost reports whether host names this device's loopback.
func loopbackHost(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listenError says why the callback port could not be had, in words that
// point at the fix.
func listenError(addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("listen for callbacks on %s: the port is taken (is the Python OAuth plugin or another ovos-oauth running?): %w", addr, err)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("listen for callbacks on %s: a port below 1024 needs privileges (CAP_NET_BIND_SERVICE); choose another with --listen: %w", addr, err)
	}
	return fmt.Errorf("listen for callbacks on %s: %w", addr, err)
}

func embeddedAddr(ln net.Listener) string { return listenAddr(ln) }

// listenAddr is where ln listens, "" for none.
func listenAddr(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevelValue()}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// importDir is where the plugin's files are: import_from, else ovos_utils'
// directory; "" when neither is known.
func importDir(cfg config.Config, getenv func(string) string) string {
	if cfg.ImportFrom != "" {
		return cfg.ImportFrom
	}
	return mirror.DefaultDir(getenv)
}

// importOnStart imports ovos-PHAL-plugin-oauth's apps and tokens while the
// store has none: the first start after the plugin. Once the store has an
// app it never runs again, so the daemon's own mirror, written to the same
// files, is not read back. A failed import is logged and the daemon starts
// all the same; the next start tries again while the store is empty.
func importOnStart(db *store.DB, cfg config.Config, getenv func(string) string, logger *slog.Logger) {
	has, err := db.HasApps()
	if err != nil {
		logger.Error("import of ovos-PHAL-plugin-oauth's apps skipped: cannot list the store's apps", "err", err)
		return
	}
	if has {
		return
	}
	dir := importDir(cfg, getenv)
	if dir == "" {
		logger.Debug("import of ovos-PHAL-plugin-oauth's apps skipped: neither import_from, XDG_CACHE_HOME nor HOME is set")
		return
	}
	rep, err := migrate.Import(db, dir, time.Now())
	for _, imp := range rep.Imported {
		logger.Info("imported an app of ovos-PHAL-plugin-oauth", "app", imp.MungedID, "skill_id", imp.SkillID, "app_id", imp.AppID,
			"token", imp.Token, "expires", imp.Expiry, "split_guessed", imp.Guessed)
	}
	for _, sk := range rep.Skipped {
		logger.Warn("skipped an entry of ovos-PHAL-plugin-oauth's files", "file", sk.File, "entry", sk.Name, "reason", sk.Reason)
	}
	if err != nil {
		logger.Error("import of ovos-PHAL-plugin-oauth's apps failed", "dir", dir, "err", err)
		return
	}
	if len(rep.Imported) > 0 || len(rep.Skipped) > 0 {
		logger.Info("import of ovos-PHAL-plugin-oauth's apps done", "dir", dir, "imported", len(rep.Imported), "skipped", len(rep.Skipped))
	}
}

const importUsage = `Usage: ovos-oauth import [--from DIR] [serve's flags]

Copies the apps and tokens of ovos-PHAL-plugin-oauth (ovos_oauth_apps.json
and ovos_oauth.json in DIR, default $XDG_CACHE_HOME/mycroft/json_database,
else ~/.cache/mycroft/json_database) into ovos-oauth's database, which it
finds as "ovos-oauth serve" does (--data-dir, --secrets-key-file, config
files, the environment). Apps the database has already are left as they are,
with their tokens; the plugin's files are only read. Stop the daemon first:
it holds the database's lock.
`

// importCmd is "ovos-oauth import": the import on start, on demand, also
// into a store that has apps. It fails only when the import cannot run;
// entries it skips are listed.
func importCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	// --from is import_from; everything else is serve's configuration.
	conf := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case a == "-h" || a == "--help":
			fmt.Fprint(stderr, importUsage)
			return config.ErrHelp
		case a == "--from":
			a = "--import-from"
		case strings.HasPrefix(a, "--from="):
			a = "--import-from=" + strings.TrimPrefix(a, "--from=")
		}
		conf = append(conf, a)
	}
	cfg, err := config.Load(conf, getenv, stderr)
	if err != nil {
		return err
	}
	dir := importDir(cfg, getenv)
	if dir == "" {
		return errors.New("import: no directory: give --from, or set XDG_CACHE_HOME or HOME")
	}
	db := store.New(cfg.DBPath())
	db.KeyFile = cfg.SecretsKeyFile
	if err := db.Open(); err != nil {
		return fmt.Errorf("import (if the daemon runs, stop it first: it holds the database's lock): %w", err)
	}
	defer db.Close()

	fmt.Fprintf(stdout, "importing from %s into %s\n", dir, cfg.DBPath())
	rep, err := migrate.Import(db, dir, time.Now())
	for _, imp := range rep.Imported {
		token := "no token: log in again"
		if imp.Token {
			token = "with its token"
			if !imp.Expiry.IsZero() {
				token += ", expires " + imp.Expiry.Format(time.RFC3339)
			}
		}
		fmt.Fprintf(stdout, "imported  %s (%s)\n", imp.MungedID, token)
		if imp.Guessed {
			fmt.Fprintf(stdout, "          taken as skill_id %q, app_id %q: a skill that registers it split otherwise gets a conflict\n", imp.SkillID, imp.AppID)
		}
	}
	for _, id := range rep.Kept {
		fmt.Fprintf(stdout, "kept      %s: already in ovos-oauth's database, left as it is (and its token)\n", id)
	}
	for _, sk := range rep.Skipped {
		if sk.Name == "" {
			fmt.Fprintf(stdout, "skipped   %s: %s\n", sk.File, sk.Reason)
			continue
		}
		fmt.Fprintf(stdout, "skipped   %q in %s: %s\n", sk.Name, sk.File, sk.Reason)
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
	fmt.Fprintf(stdout, "%d apps imported (%d with a token), %d kept, %d entries skipped; %s was not changed\n",
		len(rep.Imported), tokens, len(rep.Kept), len(rep.Skipped), dir)
	return nil
}
