// Package metrics owns the daemon's Prometheus metrics: logins, refreshes,
// apps needing a new login, bus connections and requests, on a registry of
// its own, and the HTTP server that exposes them at /metrics.
//
// Every label takes its values from a fixed set: login modes, the error
// codes of package oauth, and the request types the daemon answers. A value
// outside its set is counted as "other". So no label carries a skill, an
// app, a state, a code or a token, and the number of series is bounded
// whatever the bus sends.
package metrics

import (
	"context"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/OpenVoiceOS/ovos-oauth/internal/api"
	"github.com/OpenVoiceOS/ovos-oauth/internal/graceful"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

var (
	_ oauth.Observer = (*Metrics)(nil)
	_ api.Observer   = (*Metrics)(nil)
)

const namespace = "ovos_oauth"

// Other is the label value of anything outside a label's set.
const Other = "other"

// Modes are the values of the mode label: the login modes.
var Modes = []string{oauth.LoginLAN, oauth.LoginRelay, oauth.LoginLoopback, oauth.LoginDevice}

// Codes are the values of the error label, and with "ok" of the outcome
// label: the error codes of package oauth.
var Codes = []string{
	oauth.CodeInvalidRequest, oauth.CodeUnknownApp, oauth.CodeConflict, oauth.CodeNeedsCredentials,
	oauth.CodeInvalidState, oauth.CodeExpiredState, oauth.CodeAlreadyAnswered, oauth.CodeAccessDenied,
	oauth.CodeExchangeFailed, oauth.CodeProviderUnavailable, oauth.CodeNotAuthorized, oauth.CodeReauthRequired,
	oauth.CodeBusy, oauth.CodeNotAnAnswer, oauth.CodeInterrupted, oauth.CodeInternal,
}

// OK is the outcome of a request answered without an error.
const OK = "ok"

// DurationBuckets are the upper bounds, in seconds, of the request
// duration histogram: an answer from the store takes well under a
// millisecond, one that waits for a provider up to the reply deadline
// (2.5 s).
var DurationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// Server timeouts: a scrape is one small GET.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 16 << 10
	shutdownTimeout   = 5 * time.Second
	// gatherTimeout bounds one scrape, below writeTimeout.
	gatherTimeout = 20 * time.Second
)

// Metrics holds the daemon's metrics. It implements oauth.Observer and
// api.Observer, and is safe for concurrent use.
type Metrics struct {
	reg    *prometheus.Registry
	logger *slog.Logger
	types  []string // request types, sorted

	loginsStarted   *prometheus.CounterVec
	loginsCompleted *prometheus.CounterVec
	loginsFailed    *prometheus.CounterVec
	refreshes       prometheus.Counter
	refreshFailures *prometheus.CounterVec
	busConnects     prometheus.Counter
	busReconnects   prometheus.Counter
	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec

	connected atomic.Bool
}

// New returns the metrics on a registry of their own, with the Go runtime
// and process collectors. requestTypes are the values of the type label
// (api.RequestTypes()); needingReauth counts the apps that need a new login
// (oauth.Engine.AppsNeedingReauth) and is called at every scrape.
func New(requestTypes []string, needingReauth func() (int, error), logger *slog.Logger) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), logger: logger, types: slices.Sorted(slices.Values(requestTypes))}
	m.types = slices.Compact(m.types)
	m.loginsStarted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "logins_started_total",
		Help: "Logins opened (a pending login with its state, or a device code), by login mode.",
	}, []string{"mode"})
	m.loginsCompleted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "logins_completed_total",
		Help: "Logins that ended with a stored token, by login mode.",
	}, []string{"mode"})
	m.loginsFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "logins_failed_total",
		Help: "Pending logins that ended without a token (the skill heard oauth.token.error), by login mode and error code.",
	}, []string{"mode", "error"})
	m.refreshes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "refreshes_total",
		Help: "Refreshed tokens stored and announced.",
	})
	m.refreshFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "refresh_failures_total",
		Help: "Refreshes that failed at the provider (provider_unavailable, reauth_required) or whose token could not be saved (internal_error), by error code.",
	}, []string{"error"})
	m.busConnects = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "bus_connects_total",
		Help: "Connections to the messagebus, the first one included.",
	})
	m.busReconnects = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "bus_reconnects_total",
		Help: "Connections to the messagebus after the first one.",
	})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "requests_total",
		Help: "Bus requests answered, by type and outcome (ok, or the error code of the reply).",
	}, []string{"type", "outcome"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "request_duration_seconds",
		Help:    "Time from a bus request's arrival to its reply, by type.",
		Buckets: DurationBuckets,
	}, []string{"type"})
	reauth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "apps_needing_reauth",
		Help: "Apps whose refresh token the provider refused for good: they need a new login. Read from the store at each scrape.",
	}, m.gauge("apps needing a new login", needingReauth))
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.loginsStarted, m.loginsCompleted, m.loginsFailed,
		m.refreshes, m.refreshFailures, reauth,
		m.busConnects, m.busReconnects,
		m.requests, m.duration,
	)
	m.startSeries()
	return m
}

// startSeries makes the series a dashboard plots from zero exist from the
// start.
func (m *Metrics) startSeries() {
	for _, mode := range Modes {
		m.loginsStarted.WithLabelValues(mode)
		m.loginsCompleted.WithLabelValues(mode)
	}
	for _, typ := range m.types {
		m.requests.WithLabelValues(typ, OK)
	}
}

// CountLoginsEnding adds the gauge of the apps whose login ends within the
// warning window (oauth.Engine.AppsLoginEnding), which count calls at
// every scrape. Call it once, before serving.
func (m *Metrics) CountLoginsEnding(count func() (int, error)) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "apps_login_ending",
		Help: "Apps whose login ends within reauth_warning, or has ended, with no new login yet: their skills are told (oauth.reauth.upcoming). Read from the store at each scrape.",
	}, m.gauge("apps whose login ends", count)))
}

// gauge reads a gauge's value from count at a scrape; a failure, logged
// as what is "not counted", makes it NaN.
func (m *Metrics) gauge(what string, count func() (int, error)) func() float64 {
	return func() float64 {
		n, err := count()
		if err != nil {
			m.logger.Warn(what+" not counted", "err", err)
			return math.NaN()
		}
		return float64(n)
	}
}

// Registry is the registry the metrics are on, for tests and for more
// collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// LoginStarted implements oauth.Observer.
func (m *Metrics) LoginStarted(mode string) {
	m.loginsStarted.WithLabelValues(oneOf(mode, Modes)).Inc()
}

// LoginCompleted implements oauth.Observer.
func (m *Metrics) LoginCompleted(mode string) {
	m.loginsCompleted.WithLabelValues(oneOf(mode, Modes)).Inc()
}

// LoginFailed implements oauth.Observer.
func (m *Metrics) LoginFailed(mode, code string) {
	m.loginsFailed.WithLabelValues(oneOf(mode, Modes), oneOf(code, Codes)).Inc()
}

// Refreshed implements oauth.Observer.
func (m *Metrics) Refreshed() { m.refreshes.Inc() }

// RefreshFailed implements oauth.Observer.
func (m *Metrics) RefreshFailed(code string) {
	m.refreshFailures.WithLabelValues(oneOf(code, Codes)).Inc()
}

// Request implements api.Observer.
func (m *Metrics) Request(msgType, outcome string, took time.Duration) {
	typ := Other
	if _, found := slices.BinarySearch(m.types, msgType); found {
		typ = msgType
	}
	if outcome != OK {
		outcome = oneOf(outcome, Codes)
	}
	m.requests.WithLabelValues(typ, outcome).Inc()
	m.duration.WithLabelValues(typ).Observe(took.Seconds())
}

// BusConnected counts a connection to the bus; every one after the first
// is a reconnect.
func (m *Metrics) BusConnected() {
	m.busConnects.Inc()
	if m.connected.Swap(true) {
		m.busReconnects.Inc()
	}
}

// oneOf is v if set holds it, else Other.
func oneOf(v string, set []string) string {
	if slices.Contains(set, v) {
		return v
	}
	return Other
}

// Handler serves the metrics in the Prometheus exposition formats at
// /metrics and 404 everywhere else.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(m.logger.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg,
		MaxRequestsInFlight: 4,
		Timeout:             gatherTimeout,
	}))
	return mux
}

// Serve serves Handler on ln until ctx ends, then shuts the server down,
// waiting a few seconds for a scrape in progress.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(m.logger.Handler(), slog.LevelDebug),
	}
	return graceful.Serve(ctx, srv, ln, shutdownTimeout)
}
