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
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sync/errgroup"

	"github.com/OpenVoiceOS/ovos-oauth/internal/api"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/callback"
	"github.com/OpenVoiceOS/ovos-oauth/internal/config"
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
	if errors.Is(err, config.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ovos-oauth:", err)
		os.Exit(1)
	}
}

const usage = `Usage: ovos-oauth <command> [flags]

Commands:
  serve     run the daemon (ovos-oauth serve --help lists its flags)
  version   print the version
`

// run is main without the process: tests call it with their own arguments,
// environment and writers.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "ovos-oauth", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := config.Load(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)

	// Listen before anything serves, so a taken port fails start-up with a
	// clear message instead of a half-running daemon.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen for callbacks on %s (is the Python OAuth plugin or another ovos-oauth running?): %w", cfg.Listen, err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	baseURL := "http://" + net.JoinHostPort(cfg.PublicHost, strconv.Itoa(port))

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

	engine := oauth.NewEngine(db, baseURL, logger.With("component", "oauth"))
	engine.FlowTTL = cfg.FlowTTL
	engine.RelayURL = cfg.RelayURL
	mirrorDir := ""
	if cfg.MirrorOVOSUtils {
		mirrorDir = mirror.DefaultDir(getenv)
		if mirrorDir == "" {
			return errors.New("mirror_ovos_utils is on, but neither XDG_CACHE_HOME nor HOME is set; set one or turn the mirror off")
		}
		engine.Mirror = mirror.New(mirrorDir)
	}
	images := qr.NewDir(cfg.QRDir)
	images.TTL = cfg.FlowTTL
	svc := api.New(engine, images, cfg.PublicHost, port, logger.With("component", "api"))
	engine.Events = svc
	client := bus.NewClient(busURL, svc, logger.With("component", "bus"))
	if key := cfg.BusSecretKey.Reveal(); key != "" {
		if client.Cipher, err = bus.NewCipher(key); err != nil {
			return fmt.Errorf("bus_secret_key: %w", err) // Load has checked it: unreachable
		}
		client.AllowUnencrypted = cfg.BusAllowUnencrypted
	}
	// systemd (Type=notify) hears READY=1 once the store is open, the
	// callback port bound and the bus attached: the first connection.
	notifier := sdnotify.New(getenv, os.Getpid())
	var ready sync.Once
	client.OnConnect = func() {
		svc.Ping()
		ready.Do(func() {
			if err := notifier.Notify(sdnotify.Ready); err != nil {
				logger.Warn("systemd not told the daemon is ready", "err", err)
			}
		})
	}
	svc.Sender = client
	web := callback.New(engine, logger.With("component", "http"))
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
	g.Go(func() error { return svc.Run(gctx) })
	g.Go(func() error { return client.Run(gctx) })
	g.Go(func() error { return web.Serve(gctx, ln) })
	g.Go(func() error { return notifier.RunWatchdog(gctx, func() bool { return health() == "" }) })
	g.Go(func() error {
		<-gctx.Done()
		if err := notifier.Notify(sdnotify.Stopping); err != nil {
			logger.Warn("systemd not told the daemon is stopping", "err", err)
		}
		return nil
	})
	logger.Info("ovos-oauth started", "version", version, "bus", busURL, "embedded_bus", embeddedAddr(busLn),
		"callback", baseURL, "listen", ln.Addr().String(), "data_dir", cfg.DataDir, "qr_dir", cfg.QRDir, "ovos_utils_mirror", mirrorDir)
	err = g.Wait()
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		logger.Info("ovos-oauth stopped")
		return nil
	}
	return err
}

func embeddedAddr(ln net.Listener) string {
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
