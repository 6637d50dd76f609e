package oauth

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Events receives what happens to apps outside any request: a login
// completed at the callback, a background refresh, a refusal. The bus layer
// turns these into oauth.token.* messages. Methods must not block.
type Events interface {
	TokenIssued(app *App, tok *Token)
	TokenRefreshed(app *App, tok *Token)
	LoginFailed(app *App, err *Error)
	ReauthRequired(app *App, reason string)
	// ReauthUpcoming: the app's login ends at ends, for reason (in
	// words), within ReauthWarning; told once a day until a new login or
	// the end.
	ReauthUpcoming(app *App, ends time.Time, reason string)
}

// Observer is told how logins and refreshes go, for metrics. It hears login
// modes (the Login constants) and error codes (the Code constants) only,
// never an app or a secret. Methods are called from any goroutine and must
// not block.
type Observer interface {
	// LoginStarted: a pending login was opened.
	LoginStarted(mode string)
	// LoginCompleted: a login ended with a stored token.
	LoginCompleted(mode string)
	// LoginFailed: a pending login ended without a token, and the skill
	// was told (oauth.token.error).
	LoginFailed(mode, code string)
	// Refreshed: a refreshed token was stored and announced.
	Refreshed()
	// RefreshFailed: a refresh at the provider failed, or its token could
	// not be saved.
	RefreshFailed(code string)
}

// Engine registers apps, runs logins and refreshes tokens. It is safe for
// concurrent use; operations on one app are serialised.
type Engine struct {
	// FlowTTL is how long a pending login stays valid. Default 10 minutes.
	FlowTTL time.Duration
	// FlowsPerApp bounds the pending logins kept per app; older ones are
	// dropped. Default 4.
	FlowsPerApp int
	// HTTPClient talks to providers. Default: a client with a 30 s timeout.
	HTTPClient *http.Client
	// ProviderTimeout bounds every call to a provider, whatever
	// HTTPClient's own timeout (none, for a client built elsewhere).
	// Default 30 s.
	ProviderTimeout time.Duration
	// RelayURL is the HTTPS relay page that apps in relay mode without one
	// of their own use as their redirect URI; "" means none.
	RelayURL string
	// PollInterval is the device-login poll interval when the provider
	// names none, and SlowDown what each slow_down adds to it (RFC 8628
	// §3.5). Defaults 5 s and 5 s.
	PollInterval, SlowDown time.Duration
	// RefreshMargin: a token expiring within it is refreshed before it is
	// handed out. Default 60 s.
	RefreshMargin time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Monotonic measures time passing, where Now may jump: a Raspberry Pi
	// boots with the time it saved last (fake-hwclock) and jumps, by days,
	// when NTP answers. The engine tells a jump of Now from time passing
	// by comparing the two, and moves what it read off Now before the jump
	// with it. nil means Now itself, whose readings time.Now gives a
	// monotonic part that Go compares by; a test whose Now stands for time
	// passing leaves it nil. The daemon sets BootClock, which counts time
	// spent suspended too.
	Monotonic func() time.Time
	// Mirror, if set, gets a copy of every app and token change. It is
	// called inside requests, with the app's lock held: it should queue,
	// not write (mirror.Writer).
	Mirror Mirror
	// MirrorWait bounds how long the event of a new token waits for the
	// Mirror to hold that token before it goes out all the same (replies to
	// requests never wait), and how long a refresh whose refresh token the
	// provider refused waits for another program's token to come into the
	// Mirror (see MirrorChanged). Default 2 s.
	MirrorWait time.Duration
	// Observer, if set, is told of logins and refreshes (metrics).
	Observer Observer
	// MaxRefreshes bounds the background refreshes run at once, so that a
	// start-up after a long outage does not storm the providers. Default 4.
	MaxRefreshes int
	// MaxPolls bounds the device-login polls run at once, apart from
	// MaxRefreshes: polls whose provider never answers do not hold back
	// refreshes. Default 4.
	MaxPolls int
	// MinRefreshGap is the least time from an app's token being issued to
	// its next scheduled refresh, whatever lifetime the provider announces:
	// a one-second token is not refreshed twice a second. A refresh a
	// skill asks for is not held back by it. Default 30 s.
	MinRefreshGap time.Duration
	// RetryMin and RetryMax bound the backoff of a background refresh that
	// met a passing fault. Defaults 30 s and 30 min.
	RetryMin, RetryMax time.Duration
	// TokenWait bounds how long Token waits for a refresh while the token
	// in hand is still valid; skills wait about 3 s for an answer.
	// Default 2 s.
	TokenWait time.Duration
	// ReauthWarning is how long before a login ends (see Status's
	// LoginExpiry) the skill is told, and then once a day until a new
	// login or the end (Events.ReauthUpcoming). Default 14 days.
	ReauthWarning time.Duration

	store   Store
	events  Events
	baseURL string
	logger  *slog.Logger
	// run tells this run's spent logins from those a run that died left:
	// random, so that neither a restart nor the clock can confuse the two.
	run string

	locks   keyedMutex
	refresh singleflight.Group
	sched   *schedule
	flights flights
	unsaved unsavedTokens
	recent  recentStates
	clock   clockWatch
	// checkClock is clockCheck but in tests that span months.
	checkClock time.Duration

	// announcer holds token events until the Mirror holds their tokens.
	announcer announcer
	links     linkMemory
}

// NewEngine returns an engine keeping its state in store, which tells
// events of logins, refreshes and failures (nil: no one). baseURL is how
// phones reach this device's callback server, "http://192.168.1.23:36536":
// redirect URIs and short login links start with it.
func NewEngine(store Store, events Events, baseURL string, logger *slog.Logger) *Engine {
	if events == nil {
		events = nopEvents{}
	}
	return &Engine{
		FlowTTL:         10 * time.Minute,
		FlowsPerApp:     4,
		HTTPClient:      &http.Client{Timeout: 30 * time.Second},
		ProviderTimeout: 30 * time.Second,
		PollInterval:    5 * time.Second,
		SlowDown:        5 * time.Second,
		RefreshMargin:   60 * time.Second,
		Now:             time.Now,
		MaxRefreshes:    4,
		MaxPolls:        4,
		MinRefreshGap:   30 * time.Second,
		RetryMin:        30 * time.Second,
		RetryMax:        30 * time.Minute,
		TokenWait:       2 * time.Second,
		ReauthWarning:   14 * 24 * time.Hour,
		MirrorWait:      2 * time.Second,
		sched:           newSchedule(),
		checkClock:      clockCheck,
		store:           store,
		events:          events,
		baseURL:         baseURL,
		logger:          logger,
		run:             rand.Text(),
	}
}

// App returns the app registered under skillID and appID.
func (e *Engine) App(skillID, appID string) (*App, error) {
	if err := checkIDs(skillID, appID); err != nil {
		return nil, err
	}
	app, err := e.app(MungedID(skillID, appID))
	if err != nil {
		return nil, err
	}
	// "a"+"b_c" and "a_b"+"c" share a munged id; one never reaches the
	// other's app.
	if app.SkillID != skillID || app.AppID != appID {
		return nil, errorf(CodeUnknownApp, "no app %q is registered for skill %q", appID, skillID)
	}
	return app, nil
}

// app loads an app by munged id, mapping a miss to CodeUnknownApp.
func (e *Engine) app(mungedID string) (*App, error) {
	app, err := e.store.App(mungedID)
	if errors.Is(err, ErrNotFound) {
		return nil, errorf(CodeUnknownApp, "no app %q is registered", mungedID)
	}
	if err != nil {
		return nil, &Error{Code: CodeInternal, Description: "the store could not be read", Err: err}
	}
	return app, nil
}

// mirror hands a change to the Mirror, if there is one. The store is the
// truth: a mirror that fails is logged, not an error of the operation.
func (e *Engine) mirror(what, id string, write func(Mirror) error) {
	if e.Mirror == nil {
		return
	}
	if err := write(e.Mirror); err != nil {
		e.logger.Warn("ovos_utils mirror not updated", "what", what, "app", id, "err", err)
	}
}

// providerCall returns a context for one call to a provider: never
// cancelled by the caller going away (a single-use code or a rotated refresh
// token must not be lost half-way), always with a deadline.
func (e *Engine) providerCall(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), e.ProviderTimeout)
}

func internalErr(what string, err error) *Error {
	return &Error{Code: CodeInternal, Description: "ovos-oauth could not " + what + "; see its log", Err: err}
}

// keyedMutex serialises work per key without keeping a lock per key forever.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	refs int
}

// Lock locks key and returns its unlock function.
func (k *keyedMutex) Lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = make(map[string]*keyedLock)
	}
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()

	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// observer is the Observer, or one that does nothing.
func (e *Engine) observer() Observer {
	if e.Observer == nil {
		return nopObserver{}
	}
	return e.Observer
}

// AppsNeedingReauth counts the apps whose refresh token the provider
// refused for good: they need a new login. It reads the store, so it is
// right after a restart too.
func (e *Engine) AppsNeedingReauth() (int, error) {
	apps, err := e.store.Apps()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range apps {
		if a.NeedsReauth {
			n++
		}
	}
	return n, nil
}

type nopObserver struct{}

func (nopObserver) LoginStarted(string)        {}
func (nopObserver) LoginCompleted(string)      {}
func (nopObserver) LoginFailed(string, string) {}
func (nopObserver) Refreshed()                 {}
func (nopObserver) RefreshFailed(string)       {}

type nopEvents struct{}

func (nopEvents) TokenIssued(*App, *Token)               {}
func (nopEvents) TokenRefreshed(*App, *Token)            {}
func (nopEvents) LoginFailed(*App, *Error)               {}
func (nopEvents) ReauthRequired(*App, string)            {}
func (nopEvents) ReauthUpcoming(*App, time.Time, string) {}
