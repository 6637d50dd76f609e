package oauth_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
)

// deviceScript answers a device endpoint with one device code and the token
// endpoint's polls from a list, the last answer repeating; it records when
// each poll arrived (the bubble's clock) and with which device code.
type deviceScript struct {
	mu        sync.Mutex
	authorize string // the device authorization answer
	codes     int    // device codes handed out
	polls     []string
	polledAt  []time.Time
	answers   []func(http.ResponseWriter, *http.Request)
}

func (d *deviceScript) serve(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r.URL.Path == "/device" {
		d.codes++
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"device_code":"DC-`+itoa(d.codes)+`",`+d.authorize[1:])
		return
	}
	if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:device_code" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	d.polls = append(d.polls, r.PostForm.Get("device_code"))
	d.polledAt = append(d.polledAt, time.Now())
	answer := d.answers[0]
	if len(d.answers) > 1 {
		d.answers = d.answers[1:]
	}
	answer(w, r)
}

func (d *deviceScript) snapshot() ([]string, []time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.polls...), append([]time.Time(nil), d.polledAt...)
}

func oauthError(code string) func(http.ResponseWriter, *http.Request) {
	return jsonAnswer(http.StatusBadRequest, `{"error":"`+code+`"}`)
}

const deviceAnswer = `{"user_code":"WDJB-MJHT","verification_uri":"https://provider.test/device","verification_uri_complete":"https://provider.test/device?user_code=WDJB-MJHT","expires_in":600,"interval":5}`

var deviceToken = jsonAnswer(200, `{"access_token":"AT-D","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-D"}`)

// newDeviceFixture is a synctest engine whose provider runs script; the
// app "tv" is registered for device logins.
func newDeviceFixture(t *testing.T, script *deviceScript) *syncFixture {
	t.Helper()
	f := newSyncFixture(t)
	f.te.set(script.serve)
	f.register(t, "tv", func(r *oauth.Registration) {
		r.DeviceEndpoint = "http://provider.test/device"
	})
	return f
}

// sinceStart is each poll's time after t0, in whole seconds.
func sinceStart(t0 time.Time, at []time.Time) []int {
	out := make([]int, len(at))
	for i, a := range at {
		out[i] = int(a.Sub(t0) / time.Second)
	}
	return out
}

func TestDeviceLoginPolls(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		script := &deviceScript{authorize: deviceAnswer, answers: []func(http.ResponseWriter, *http.Request){
			oauthError("authorization_pending"),
			oauthError("authorization_pending"),
			oauthError("slow_down"),
			oauthError("authorization_pending"),
			deviceToken,
		}}
		f := newDeviceFixture(t, script)
		if app, _ := f.e.App("skill.test", "tv"); app.LoginMode() != oauth.LoginDevice || f.e.RedirectURI(app) != "" {
			t.Fatalf("an app with a device_endpoint: login %q, redirect %q; want device, none", app.LoginMode(), f.e.RedirectURI(app))
		}
		f.start(t)
		defer f.stop(t)
		t0 := time.Now()
		fl, _, err := f.e.StartFlow(context.Background(), "skill.test", "tv")
		if err != nil {
			t.Fatalf("StartFlow() = %v", err)
		}
		if fl.Kind != oauth.FlowDevice || fl.UserCode != "WDJB-MJHT" || fl.UserURL() != "https://provider.test/device?user_code=WDJB-MJHT" || fl.Interval != 5*time.Second {
			t.Fatalf("device flow = %+v", fl)
		}
		advance(time.Hour)

		polls, at := script.snapshot()
		// Every 5 s; slow_down at 15 s makes it 10 s from then on.
		want := []int{5, 10, 15, 25, 35}
		if got := sinceStart(t0, at); !equalInts(got, want) {
			t.Errorf("polls at %v s, want %v", got, want)
		}
		for _, dc := range polls {
			if dc != "DC-1" {
				t.Errorf("polled with device code %q, want DC-1", dc)
			}
		}
		ev := f.ev.snapshot()
		if len(ev.issued) != 1 || len(ev.failed) != 0 {
			t.Errorf("events = %+v, want one TokenIssued", ev)
		}
		tok, err := f.db.Token("skill.test_tv")
		if err != nil || tok.AccessToken != "AT-D" || tok.RefreshToken != "RT-D" {
			t.Fatalf("stored token = %v, %v", tok, err)
		}
		if _, err := f.db.Flow(fl.ID); !oauth.IsNotFound(err) {
			t.Errorf("the device login is still pending after it completed: %v", err)
		}
		// The token is planned for refresh like any login's.
		if n := f.e.Scheduled(); n != 1 {
			t.Errorf("%d jobs planned after the login, want 1 (its refresh)", n)
		}
	})
}

func TestDeviceLoginEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		answers []func(http.ResponseWriter, *http.Request)
		code    string
		polls   int
	}{
		{"denied", []func(http.ResponseWriter, *http.Request){oauthError("authorization_pending"), oauthError("access_denied")}, oauth.CodeAccessDenied, 2},
		{"expired at the provider", []func(http.ResponseWriter, *http.Request){oauthError("expired_token")}, oauth.CodeExpiredState, 1},
		// expires_in 600, every 5 s: the last poll at 595 s, then the
		// daemon's own clock ends it.
		{"expired here", []func(http.ResponseWriter, *http.Request){oauthError("authorization_pending")}, oauth.CodeExpiredState, 119},
		{"refused", []func(http.ResponseWriter, *http.Request){oauthError("invalid_client")}, oauth.CodeExchangeFailed, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				script := &deviceScript{authorize: deviceAnswer, answers: tt.answers}
				f := newDeviceFixture(t, script)
				f.start(t)
				defer f.stop(t)
				fl, _, err := f.e.StartFlow(context.Background(), "skill.test", "tv")
				if err != nil {
					t.Fatal(err)
				}
				advance(2 * time.Hour)
				if polls, _ := script.snapshot(); len(polls) != tt.polls {
					t.Errorf("%d polls, want %d", len(polls), tt.polls)
				}
				ev := f.ev.snapshot()
				if len(ev.issued) != 0 || len(ev.failed) != 1 || ev.failed[0] != tt.code {
					t.Errorf("events = %+v, want one LoginFailed %s", ev, tt.code)
				}
				if _, err := f.db.Flow(fl.ID); !oauth.IsNotFound(err) {
					t.Errorf("the ended login is still stored: %v", err)
				}
				if n := f.e.Scheduled(); n != 0 {
					t.Errorf("%d jobs planned after the login ended, want 0", n)
				}
			})
		})
	}
}

// TestDeviceLoginOutlastsFaults: the network, a 5xx or garbage do not end
// a device login: the user may still be typing the code.
func TestDeviceLoginOutlastsFaults(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		script := &deviceScript{authorize: deviceAnswer, answers: []func(http.ResponseWriter, *http.Request){
			jsonAnswer(503, `down`),
			jsonAnswer(200, `{not json`),
			jsonAnswer(200, `{"token_type":"Bearer"}`),
			deviceToken,
		}}
		f := newDeviceFixture(t, script)
		f.start(t)
		defer f.stop(t)
		if _, _, err := f.e.StartFlow(context.Background(), "skill.test", "tv"); err != nil {
			t.Fatal(err)
		}
		advance(time.Hour)
		if polls, _ := script.snapshot(); len(polls) != 4 {
			t.Errorf("%d polls, want 4", len(polls))
		}
		if ev := f.ev.snapshot(); len(ev.issued) != 1 || len(ev.failed) != 0 {
			t.Errorf("events = %+v, want the login to complete", ev)
		}
	})
}

// TestDeviceLoginResumesAfterRestart: a pending device login is in the
// store; the next engine on it polls on, with the interval slow_down left.
func TestDeviceLoginResumesAfterRestart(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		script := &deviceScript{authorize: deviceAnswer, answers: []func(http.ResponseWriter, *http.Request){
			oauthError("slow_down"),
			oauthError("authorization_pending"),
			deviceToken,
		}}
		f := newDeviceFixture(t, script)
		f.start(t)
		if _, _, err := f.e.StartFlow(context.Background(), "skill.test", "tv"); err != nil {
			t.Fatal(err)
		}
		advance(7 * time.Second) // one poll: slow_down
		f.stop(t)

		second := oauth.NewEngine(f.db, f.ev, "http://192.0.2.10:36536", slog.New(slog.DiscardHandler))
		second.HTTPClient = f.e.HTTPClient
		f.e = second
		time.Sleep(time.Minute) // down for a minute
		restarted := time.Now()
		f.start(t)
		defer f.stop(t)
		advance(time.Hour)
		polls, at := script.snapshot()
		if len(polls) != 3 || polls[2] != "DC-1" {
			t.Fatalf("polls = %v, want three with DC-1", polls)
		}
		if got := sinceStart(restarted, at[1:]); !equalInts(got, []int{10, 20}) {
			t.Errorf("polls after the restart at %v s, want [10 20]: the stretched interval is kept", got)
		}
		if ev := f.ev.snapshot(); len(ev.issued) != 1 {
			t.Errorf("events = %+v, want the login to complete after the restart", ev)
		}
	})
}

// TestDeviceLoginReplaced: a new login request for the app replaces the
// pending device login; the old code is never polled again.
func TestDeviceLoginReplaced(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		script := &deviceScript{authorize: deviceAnswer, answers: []func(http.ResponseWriter, *http.Request){oauthError("authorization_pending")}}
		f := newDeviceFixture(t, script)
		f.start(t)
		defer f.stop(t)
		first, _, err := f.e.StartFlow(context.Background(), "skill.test", "tv")
		if err != nil {
			t.Fatal(err)
		}
		advance(6 * time.Second)
		second, _, err := f.e.StartFlow(context.Background(), "skill.test", "tv")
		if err != nil {
			t.Fatal(err)
		}
		advance(60 * time.Second)
		polls, _ := script.snapshot()
		if polls[0] != "DC-1" {
			t.Fatalf("first poll with %q, want DC-1", polls[0])
		}
		for _, dc := range polls[1:] {
			if dc != "DC-2" {
				t.Fatalf("polls = %v: the replaced code DC-1 was polled after the new login", polls)
			}
		}
		if _, err := f.db.Flow(first.ID); !oauth.IsNotFound(err) {
			t.Errorf("the replaced login is still stored: %v", err)
		}
		if _, err := f.db.Flow(second.ID); err != nil {
			t.Errorf("the new login is not stored: %v", err)
		}
		if ev := f.ev.snapshot(); len(ev.failed) != 0 {
			t.Errorf("LoginFailed %v for a replaced login", ev.failed)
		}
	})
}

// TestDeviceAuthorizationRequest: the device code is asked for with the
// client authenticated as at the token endpoint, and the app's scope
// joined by its separator.
func TestDeviceAuthorizationRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		tokenAuth string
		sep       string
		basic     bool
		scope     string
	}{
		{"basic", oauth.TokenAuthBasic, "", true, "read write"},
		{"post", oauth.TokenAuthPost, ",", false, "read,write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			script := &deviceScript{authorize: deviceAnswer, answers: []func(http.ResponseWriter, *http.Request){oauthError("authorization_pending")}}
			f.te.set(script.serve)
			f.register(t, "tv", func(r *oauth.Registration) {
				r.DeviceEndpoint, r.TokenAuth, r.ScopeSeparator = f.te.URL+"/device", tt.tokenAuth, tt.sep
			})
			if _, _, err := f.e.StartFlow(context.Background(), "skill.test", "tv"); err != nil {
				t.Fatal(err)
			}
			req := f.te.last(t)
			if got := req.form.Get("scope"); got != tt.scope {
				t.Errorf("scope = %q, want %q", got, tt.scope)
			}
			if tt.basic && (req.basicUser != "cid" || req.basicPass != "csecret" || req.form.Has("client_secret")) {
				t.Errorf("basic: user %q pass %q form %v", req.basicUser, req.basicPass, req.form)
			}
			if !tt.basic && (req.basicUser != "" || req.form.Get("client_id") != "cid" || req.form.Get("client_secret") != "csecret") {
				t.Errorf("post: user %q form %v", req.basicUser, req.form)
			}
		})
	}
}

func TestDeviceAuthorizationFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		answer func(http.ResponseWriter, *http.Request)
		code   string
	}{
		{"refused", jsonAnswer(400, `{"error":"invalid_client"}`), oauth.CodeExchangeFailed},
		{"down", jsonAnswer(502, `bad gateway`), oauth.CodeProviderUnavailable},
		{"garbage", jsonAnswer(200, `{garbage`), oauth.CodeProviderUnavailable},
		{"no user code", jsonAnswer(200, `{"device_code":"D","verification_uri":"https://p.test/d"}`), oauth.CodeProviderUnavailable},
		{"javascript verification uri", jsonAnswer(200, `{"device_code":"D","user_code":"U","verification_uri":"javascript:alert(1)"}`), oauth.CodeProviderUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.te.set(tt.answer)
			f.register(t, "tv", func(r *oauth.Registration) { r.DeviceEndpoint = f.te.URL + "/device" })
			if _, _, err := f.e.StartFlow(context.Background(), "skill.test", "tv"); oauth.ErrorCode(err) != tt.code {
				t.Fatalf("StartFlow() = %v, want %s", err, tt.code)
			}
			if flows, _ := f.db.Flows(); len(flows) != 0 {
				t.Errorf("%d logins stored for a failed start", len(flows))
			}
		})
	}
}

// TestProviderCallsHaveDeadlines: a token endpoint that never answers, with
// an HTTP client that has no timeout of its own, fails the exchange after
// ProviderTimeout instead of hanging the login.
func TestProviderCallsHaveDeadlines(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newSyncFixture(t)
		f.register(t, "app", nil)
		fl, _, err := f.e.StartFlow(context.Background(), "skill.test", "app")
		if err != nil {
			t.Fatal(err)
		}
		f.e.HTTPClient = &http.Client{Transport: oauthtest.InProcess{Handler: f.te}} // no Timeout
		f.te.set(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		began := time.Now()
		_, err = f.e.Complete(context.Background(), "skill.test_app", map[string][]string{"state": {fl.State.Reveal()}, "code": {"C"}}, "")
		if oauth.ErrorCode(err) != oauth.CodeProviderUnavailable {
			t.Fatalf("Complete() = %v, want provider_unavailable", err)
		}
		if took := time.Since(began); took != f.e.ProviderTimeout {
			t.Errorf("the exchange gave up after %v, want ProviderTimeout %v", took, f.e.ProviderTimeout)
		}
	})
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
