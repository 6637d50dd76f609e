package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
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

// daemon is what ovos-oauth serve runs: Open binds its ports and opens the
// store, Run serves until its context ends, Close lets go of what Open
// took. Close is safe on a daemon never opened, or opened in part. The
// address accessors answer once Open has succeeded.
type daemon struct {
	cfg    config.Config
	logger *slog.Logger
	getenv func(string) string

	// The listeners, bound before anything serves, so that a taken port
	// fails start-up with a clear message instead of a half-running daemon.
	ln        net.Listener // callbacks
	metricsLn net.Listener // nil: no metrics
	busLn     net.Listener // nil: no embedded bus
	ctlLn     *net.UnixListener
	baseURL   string // the callback server as phones reach it
	busURL    string // the bus attached to, the embedded one's real port

	db        *store.DB
	storeOpen atomic.Bool
	hub       *bus.Hub
	client    *bus.Client
	events    *api.Publisher
	engine    *oauth.Engine
	mirror    *mirror.Writer // nil: no ovos_utils mirror
	mirrorDir string
	svc       *api.Service
	stats     *metrics.Metrics // nil: no metrics
	web       *callback.Server
	notifier  *sdnotify.Notifier

	readyOnce sync.Once
	ready     chan struct{}
	// pagesOnce drops the start-up's pages at the first connection.
	pagesOnce sync.Once
}

// newDaemon returns a daemon of cfg that logs to logger. getenv is the
// process's environment: the mirror's folder, systemd's socket, the
// import's default folder.
func newDaemon(cfg config.Config, logger *slog.Logger, getenv func(string) string) *daemon {
	return &daemon{cfg: cfg, logger: logger, getenv: getenv, ready: make(chan struct{})}
}

// CallbackURL is the callback server as phones reach it,
// "http://192.168.1.23:36536".
func (d *daemon) CallbackURL() string { return d.baseURL }

// BusURL is the bus the daemon attaches to: the embedded bus's, with the
// port it got, when it runs one.
func (d *daemon) BusURL() string { return d.busURL }

// MetricsAddr is where the metrics server listens, host:port; "" for none.
func (d *daemon) MetricsAddr() string { return listenAddr(d.metricsLn) }

// Ready is closed once the daemon is first on the bus, when systemd hears
// that it is ready.
func (d *daemon) Ready() <-chan struct{} { return d.ready }

// Open binds the daemon's ports, opens its store, brings over what is to
// be imported or restored, and builds its parts. On an error the caller
// still calls Close.
func (d *daemon) Open() error {
	if loopbackHost(d.cfg.PublicHost) {
		d.logger.Warn("public_host is this device's loopback address: no phone can reach it, so lan and relay logins and QR links work only on this device; set --public-host to its LAN address", "public_host", d.cfg.PublicHost)
	}
	if err := d.listen(); err != nil {
		return err
	}
	imported, restored, err := d.openStore()
	if err != nil {
		return err
	}
	return d.build(imported, restored)
}

// listen binds the callback port, the metrics port and the embedded bus's.
func (d *daemon) listen() (err error) {
	cfg := d.cfg
	if d.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return listenError(cfg.Listen, err)
	}
	port := d.ln.Addr().(*net.TCPAddr).Port
	d.baseURL = "http://" + net.JoinHostPort(cfg.PublicHost, strconv.Itoa(port))

	if cfg.MetricsListen != "" {
		if d.metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			english := fmt.Errorf("listen for metrics on %s (--metrics-listen): %w", cfg.MetricsListen, err)
			if errors.Is(err, syscall.EADDRINUSE) {
				english = fmt.Errorf("listen for metrics on %s: the port is taken; choose another with --metrics-listen: %w", cfg.MetricsListen, err)
			}
			return &portError{useMetrics, cfg.MetricsListen, english}
		}
	}

	d.busURL = cfg.BusURL
	if cfg.EmbeddedBus != "" {
		if d.busLn, err = net.Listen("tcp", cfg.EmbeddedBus); err != nil {
			return &portError{useBus, cfg.EmbeddedBus, fmt.Errorf("listen for the embedded bus on %s (is ovos-messagebus running?): %w", cfg.EmbeddedBus, err)}
		}
		d.hub = bus.NewHub(d.logger.With("component", "hub"))
		if _, p, _ := net.SplitHostPort(cfg.EmbeddedBus); p == "0" {
			d.busURL = "ws://" + d.busLn.Addr().String() + d.hub.Route
		}
	}
	return nil
}

// openStore opens the store, brings into it what is to be imported or
// restored, whose apps it returns, and opens the control socket beside it.
func (d *daemon) openStore() (imported, restored []string, err error) {
	cfg, logger := d.cfg, d.logger
	db := store.New(cfg.DBPath())
	db.KeyFile = cfg.SecretsKeyFile
	db.Logger = logger.With("component", "store")
	if err := db.Open(); err != nil {
		return nil, nil, err
	}
	d.db = db
	d.storeOpen.Store(true)
	// Before the engine exists, so before anything writes the ovos_utils
	// mirror, which shares the plugin's files.
	imported = importOnStart(db, cfg, d.getenv, logger.With("component", "import"))
	restored = takeRestored(db, logger.With("component", "restore"))
	// Backups while the daemon runs, whose lock keeps every other process
	// from the file: a copy goes out on a socket only its user reaches.
	ctlLn, err := control.Listen(filepath.Join(filepath.Dir(cfg.DBPath()), control.SocketName))
	if err != nil {
		logger.Warn("no control socket: ovos-oauth backup works only while the daemon is stopped", "err", err)
	} else {
		d.ctlLn = ctlLn
	}
	return imported, restored, nil
}

// build makes the daemon's parts, each given what it depends on: the bus
// client, the events it carries, the engine that tells them, the service
// that answers requests over the engine, the callback server. imported and
// restored are the apps to copy to the ovos_utils mirror.
func (d *daemon) build(imported, restored []string) (err error) {
	cfg, logger := d.cfg, d.logger
	if d.client, err = newBusClient(cfg, d.busURL, logger.With("component", "bus")); err != nil {
		return err
	}
	// Events go out on the bus; requests come in from it once the client
	// runs, with the service as its handler.
	d.events = api.NewPublisher(d.client, logger.With("component", "api"))
	d.engine = oauth.NewEngine(d.db, d.events, d.baseURL, logger.With("component", "oauth"))
	d.engine.FlowTTL = cfg.FlowTTL
	d.engine.Monotonic = oauth.BootClock
	d.engine.ReauthWarning = cfg.ReauthWarning
	d.engine.RelayURL = cfg.RelayURL
	if cfg.RelayURL != "" && d.engine.RelayRefusesHost() {
		logger.Warn("the relay page will not send phones on to public_host: it sends them only to a private, link-local or loopback IP address, localhost, or a name ending in .local or .home.arpa, so every relay login would end on its page saying \"This link cannot be used\"; set --public-host to this device's LAN IP address", "public_host", cfg.PublicHost, "relay_url", cfg.RelayURL)
	}
	if cfg.MirrorOVOSUtils {
		d.mirrorDir = mirror.DefaultDir(d.getenv)
		if d.mirrorDir == "" {
			return errNoMirrorDir
		}
		// Written behind the replies: a request never waits for the files
		// or for another process's lock on them.
		files := mirror.New(d.mirrorDir)
		files.Owner = mirrorOwner(cfg.DBPath())
		d.mirror = mirror.NewWriter(files, logger.With("component", "mirror"))
		d.engine.Mirror = d.mirror
		// A token a Python program refreshed itself and wrote back.
		d.mirror.Changed = d.engine.MirrorChanged
		mirrorImported(d.db, d.engine, d.mirror, imported, logger.With("component", "import"))
		mirrorImported(d.db, d.engine, d.mirror, restored, logger.With("component", "restore"))
	}
	images := qr.NewDir(cfg.QRDir)
	images.TTL = cfg.FlowTTL
	port := d.ln.Addr().(*net.TCPAddr).Port
	d.svc = api.New(d.engine, d.client, images, cfg.PublicHost, port, logger.With("component", "api"))
	d.svc.Text = i18n.For(cfg.Lang)
	if d.metricsLn != nil {
		d.stats = metrics.New(api.RequestTypes(), d.engine.AppsNeedingReauth, logger.With("component", "metrics"))
		d.stats.CountLoginsEnding(d.engine.AppsLoginEnding)
		d.engine.Observer = d.stats
		d.svc.Observer = d.stats
	}
	// systemd (Type=notify) hears READY=1 once the store is open, the
	// callback port bound and the bus attached: the first connection.
	d.notifier = sdnotify.New(d.getenv, os.Getpid())
	d.client.OnConnect = d.connected
	d.web = callback.New(d.engine, logger.With("component", "http"))
	d.web.Health = d.health
	d.web.Printer = i18n.For(cfg.Lang)
	return nil
}

// connected runs on every (re)connect to the bus.
func (d *daemon) connected() {
	if d.stats != nil {
		d.stats.BusConnected()
	}
	// Up: what only start-up read of the binary need not stay mapped.
	// Before the first oauth.ping (a fraction of a millisecond), so that
	// the daemon the skills see is the one that runs on.
	d.pagesOnce.Do(dropStartPages)
	d.events.Ping()
	d.readyOnce.Do(func() {
		if err := d.notifier.Notify(sdnotify.Ready); err != nil {
			d.logger.Warn("systemd not told the daemon is ready", "err", err)
		}
		close(d.ready)
	})
}

// health is "" while the daemon works, else what is wrong.
func (d *daemon) health() string {
	switch {
	case !d.storeOpen.Load():
		return "the store is closed"
	case !d.client.Connected():
		// Anyone who reaches the port reads this: the log has the bus's
		// address.
		return "not connected to the messagebus"
	}
	return ""
}

// Run serves until ctx ends, then stops every part and writes the last of
// the ovos_utils mirror. Its end by ctx is not an error.
func (d *daemon) Run(ctx context.Context) error {
	// Before any part runs, so before the bus connects: its ports are
	// bound already.
	cfg := d.cfg
	d.logger.Info("ovos-oauth started", "version", version, "bus", bus.RedactURL(d.busURL), "embedded_bus", listenAddr(d.busLn),
		"callback", d.baseURL, "listen", d.ln.Addr().String(), "data_dir", cfg.DataDir, "qr_dir", cfg.QRDir, "ovos_utils_mirror", d.mirrorDir, "metrics", listenAddr(d.metricsLn))
	g, gctx := errgroup.WithContext(ctx)
	if d.hub != nil {
		g.Go(func() error { return d.hub.Serve(gctx, d.busLn) })
	}
	g.Go(func() error { return d.engine.Run(gctx) })
	if d.mirror != nil {
		g.Go(func() error { return d.mirror.Run(gctx) })
	}
	g.Go(func() error { return d.svc.Run(gctx) })
	g.Go(func() error { return d.client.Run(gctx, d.svc) })
	g.Go(func() error { return d.web.Serve(gctx, d.ln) })
	if d.ctlLn != nil {
		ctl := &control.Server{Copy: d.db.Copy, Logger: d.logger.With("component", "control")}
		g.Go(func() error { return ctl.Serve(gctx, d.ctlLn) })
	}
	if d.stats != nil {
		g.Go(func() error { return d.stats.Serve(gctx, d.metricsLn) })
	}
	g.Go(func() error { return d.notifier.RunWatchdog(gctx, func() bool { return d.health() == "" }) })
	g.Go(func() error {
		<-gctx.Done()
		if err := d.notifier.Notify(sdnotify.Stopping); err != nil {
			d.logger.Warn("systemd not told the daemon is stopping", "err", err)
		}
		return nil
	})
	err := g.Wait()
	if d.mirror != nil {
		// After the engine's last change: refreshes in flight end before
		// engine.Run returns.
		if ferr := d.mirror.Flush(); ferr != nil {
			d.logger.Warn("ovos_utils mirror not written at shutdown", "err", ferr)
		}
	}
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		d.logger.Info("ovos-oauth stopped")
		return nil
	}
	return err
}

// Close closes the listeners and the store, those that Open opened. The
// servers close their listeners as they stop; a listener closed already is
// not an error.
func (d *daemon) Close() error {
	var errs []error
	closeLn := func(ln net.Listener) {
		if ln != nil {
			if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
	}
	if d.ctlLn != nil {
		closeLn(d.ctlLn)
	}
	if d.db != nil {
		d.storeOpen.Store(false)
		if err := d.db.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	closeLn(d.busLn)
	closeLn(d.metricsLn)
	closeLn(d.ln)
	return errors.Join(errs...)
}

// loopbackHost reports whether host names this device's loopback.
func loopbackHost(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// errNoMirrorDir stops a daemon that is to mirror into ovos_utils' files
// but cannot tell where they are.
var errNoMirrorDir = errors.New("mirror_ovos_utils is on, but neither XDG_CACHE_HOME nor HOME is set; set one or turn the mirror off")

// portError is the error of a port the daemon could not listen on. Its
// Error is English, for logs, and wraps net.Listen's; run words it for a
// person (startError).
type portError struct {
	use  portUse
	addr string
	err  error
}

func (e *portError) Error() string { return e.err.Error() }
func (e *portError) Unwrap() error { return e.err }

// portUse is what a port of the daemon is for.
type portUse int

const (
	useCallbacks portUse = iota
	useMetrics
	useBus
)

// flag is the flag that sets the port of use.
func (use portUse) flag() string {
	switch use {
	case useMetrics:
		return "--metrics-listen"
	case useBus:
		return "--embedded-bus"
	}
	return "--listen"
}

// listenError says why the callback port could not be had, in words that
// point at the fix.
func listenError(addr string, err error) error {
	english := fmt.Errorf("listen for callbacks on %s: %w", addr, err)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		english = fmt.Errorf("listen for callbacks on %s: the port is taken (is the Python OAuth plugin or another ovos-oauth running?): %w", addr, err)
	case errors.Is(err, syscall.EACCES):
		english = fmt.Errorf("listen for callbacks on %s: a port below 1024 needs privileges (CAP_NET_BIND_SERVICE); choose another with --listen: %w", addr, err)
	}
	return &portError{useCallbacks, addr, english}
}

// listenAddr is where ln listens, "" for none.
func listenAddr(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}
