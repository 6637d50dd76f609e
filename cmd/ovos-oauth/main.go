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
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sync/errgroup"

	"github.com/OpenVoiceOS/ovos-oauth/internal/api"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/callback"
	"github.com/OpenVoiceOS/ovos-oauth/internal/config"
	"github.com/OpenVoiceOS/ovos-oauth/internal/control"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
	"github.com/OpenVoiceOS/ovos-oauth/internal/metrics"
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

// run is main without the process: tests call it with their own arguments,
// environment and writers.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
	db.Logger = logger.With("component", "store")
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
	imported := importOnStart(db, cfg, getenv, logger.With("component", "import"))
	restored := takeRestored(db, logger.With("component", "restore"))
	// Backups while the daemon runs, whose lock keeps every other process
	// from the file: a copy goes out on a socket only its user reaches.
	ctlLn, lerr := control.Listen(filepath.Join(filepath.Dir(cfg.DBPath()), control.SocketName))
	if lerr != nil {
		logger.Warn("no control socket: ovos-oauth backup works only while the daemon is stopped", "err", lerr)
	} else {
		defer ctlLn.Close()
	}

	engine := oauth.NewEngine(db, baseURL, logger.With("component", "oauth"))
	engine.FlowTTL = cfg.FlowTTL
	engine.Monotonic = oauth.BootClock
	engine.ReauthWarning = cfg.ReauthWarning
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
		files := mirror.New(mirrorDir)
		files.Owner = mirrorOwner(cfg.DBPath())
		mirrorWriter = mirror.NewWriter(files, logger.With("component", "mirror"))
		engine.Mirror = mirrorWriter
		// A token a Python program refreshed itself and wrote back.
		mirrorWriter.Changed = engine.MirrorChanged
		mirrorImported(db, engine, mirrorWriter, imported, logger.With("component", "import"))
		mirrorImported(db, engine, mirrorWriter, restored, logger.With("component", "restore"))
	}
	images := qr.NewDir(cfg.QRDir)
	images.TTL = cfg.FlowTTL
	svc := api.New(engine, images, cfg.PublicHost, port, logger.With("component", "api"))
	svc.Text = i18n.For(cfg.Lang)
	engine.Events = svc
	var stats *metrics.Metrics
	if metricsLn != nil {
		stats = metrics.New(api.RequestTypes(), engine.AppsNeedingReauth, logger.With("component", "metrics"))
		stats.CountLoginsEnding(engine.AppsLoginEnding)
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
			// Anyone who reaches the port reads this: the log has the
			// bus's address.
			return "not connected to the messagebus"
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
	if ctlLn != nil {
		ctl := &control.Server{Copy: db.Copy, Logger: logger.With("component", "control")}
		g.Go(func() error { return ctl.Serve(gctx, ctlLn) })
	}
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
	logger.Info("ovos-oauth started", "version", version, "bus", bus.RedactURL(busURL), "embedded_bus", embeddedAddr(busLn),
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
