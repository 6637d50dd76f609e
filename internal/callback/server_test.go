package callback_test

import (
	"context"
	"errors"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/callback"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// otherLogin is the engine's answer to the address of another pending
// login than the page's.
var otherLogin = &oauth.Error{Code: oauth.CodeInvalidState, Description: "that address is the answer to another login", Err: oauth.ErrOtherLogin}

const (
	expiredFlow  = "EXPIREDEXPIREDEXPIREDEXPIR"
	loopbackFlow = "LOOPLOOPLOOPLOOPLOOPLOOPLO"
	finishedFlow = "FINISHEDFINISHEDFINISHEDFI"
)

// musicApp is the app a login of the fake engine is for.
var musicApp = oauth.App{SkillID: "skill-music.openvoiceos", AppID: "music", Provider: "spotify"}

// fakeEngine answers as the engine would for each case, so every error code
// can be put in front of the server. The real engine is behind the
// end-to-end tests in cmd/ovos-oauth.
type fakeEngine struct{}

func (fakeEngine) Complete(ctx context.Context, id string, q url.Values, landed string) (*oauth.App, error) {
	switch {
	case id == "nobody_here":
		return nil, &oauth.Error{Code: oauth.CodeUnknownApp, Description: "no app"}
	case q.Get("error") != "":
		return nil, &oauth.Error{Code: oauth.CodeAccessDenied, Description: "the login was refused or cancelled"}
	case q.Get("state") == "boom":
		return nil, errors.New("disk on fire: secret-detail")
	case q.Get("state") == "interrupted":
		return nil, &oauth.Error{Code: oauth.CodeInterrupted, Description: "the login was cut short"}
	case q.Get("state") == "provider":
		return nil, &oauth.Error{Code: oauth.CodeExchangeFailed, Description: "refused"}
	case q.Get("state") == "finished":
		return nil, &oauth.Error{Code: oauth.CodeAlreadyAnswered, Description: "you are logged in already", Err: oauth.ErrLoginFinished}
	case q.Get("state") == "finishing":
		return nil, &oauth.Error{Code: oauth.CodeAlreadyAnswered, Description: "being finished", Err: oauth.ErrLoginFinishing}
	case q.Get("state") == "ended":
		return nil, &oauth.Error{Code: oauth.CodeAlreadyAnswered, Description: "already answered", Err: oauth.ErrLoginFailed}
	case q.Get("state") == "unavailable":
		return nil, &oauth.Error{Code: oauth.CodeProviderUnavailable, Description: "try again later"}
	case q.Get("state") == "incomplete":
		return nil, &oauth.Error{Code: oauth.CodeInvalidRequest, Description: "no code"}
	case q.Get("state") == "elsewhere":
		return nil, &oauth.Error{Code: oauth.CodeNotAnAnswer, Description: "not the redirect URI"}
	case q.Get("state") == "modechanged":
		return nil, &oauth.Error{Code: oauth.CodeInvalidState, Description: "this login was ended", Err: oauth.ErrLoginEnded}
	case q.Get("state") == "custom":
		return &oauth.App{SkillID: "skill-custom", AppID: "custom-app"}, nil
	case q.Get("state") != "ok":
		return nil, &oauth.Error{Code: oauth.CodeInvalidState, Description: "unknown"}
	}
	app := musicApp
	return &app, nil
}

func (fakeEngine) PendingFlow(ctx context.Context, id string) (*oauth.Flow, error) {
	if id == expiredFlow {
		return nil, &oauth.Error{Code: oauth.CodeExpiredState, Description: "this login link has expired; ask for a new one"}
	}
	if id == finishedFlow {
		return nil, &oauth.Error{Code: oauth.CodeAlreadyAnswered, Description: "you are logged in already", Err: oauth.ErrLoginFinished}
	}
	if id == "GOODGOODGOODGOODGOODGOODGO" {
		return &oauth.Flow{ID: id, Kind: oauth.FlowCode, AuthURL: "https://provider.example/authorize?state=abc"}, nil
	}
	if id == loopbackFlow {
		return &oauth.Flow{ID: id, Kind: oauth.FlowLoopback, MungedID: "skill_app", RedirectURI: "http://127.0.0.1:36536/auth/callback/skill_app", AuthURL: "https://provider.example/authorize?state=abc"}, nil
	}
	return nil, &oauth.Error{Code: oauth.CodeInvalidState, Description: "unknown"}
}

// PendingSetup and FinishSetup know no setup: the setup page is tested
// against the real engine (setup_test.go).
func (fakeEngine) PendingSetup(ctx context.Context, id string) (*oauth.Setup, error) {
	return nil, &oauth.Error{Code: oauth.CodeInvalidState, Description: "unknown"}
}

func (fakeEngine) FinishSetup(ctx context.Context, id, key, clientID string, secret oauth.Secret) (*oauth.Flow, *oauth.App, error) {
	return nil, nil, &oauth.Error{Code: oauth.CodeInvalidState, Description: "unknown"}
}

// CompleteFlow is Complete bound to the page's login: an answer whose
// state is "other" belongs to another pending login.
func (e fakeEngine) CompleteFlow(ctx context.Context, flowID, id string, q url.Values, landed string) (*oauth.App, error) {
	if q.Get("state") == "other" {
		return nil, otherLogin
	}
	return e.Complete(ctx, id, q, landed)
}

// counting counts the answers that reach the engine.
type counting struct {
	fakeEngine
	n atomic.Int32
}

func (e *counting) Complete(ctx context.Context, id string, q url.Values, landed string) (*oauth.App, error) {
	e.n.Add(1)
	return e.fakeEngine.Complete(ctx, id, q, landed)
}

func (e *counting) CompleteFlow(ctx context.Context, flowID, id string, q url.Values, landed string) (*oauth.App, error) {
	e.n.Add(1)
	return e.fakeEngine.CompleteFlow(ctx, flowID, id, q, landed)
}

func newServer(t testing.TB, e callback.Engine) *callback.Server {
	t.Helper()
	return callback.New(e, slog.New(slog.DiscardHandler))
}

func TestStatusesAndPages(t *testing.T) {
	t.Parallel()
	h := newServer(t, fakeEngine{}).Handler()
	tests := []struct {
		method, target string
		status         int
		location       string
	}{
		{"GET", "/auth/callback/skill_app?state=ok&code=c", 200, ""},
		{"GET", "/auth/callback/skill_app?state=bad&code=c", 400, ""},
		{"GET", "/auth/callback/skill_app?state=ok&error=access_denied", 403, ""},
		{"GET", "/auth/callback/nobody_here?state=ok&code=c", 404, ""},
		{"GET", "/auth/callback/skill_app?state=provider&code=c", 502, ""},
		{"GET", "/auth/callback/skill_app?state=boom&code=c", 500, ""},
		{"GET", "/auth/callback/skill_app?state=interrupted&code=c", 410, ""},
		{"GET", "/auth/start/GOODGOODGOODGOODGOODGOODGO", 303, "https://provider.example/authorize?state=abc"},
		{"GET", "/auth/start/" + expiredFlow, 410, ""},
		// A loopback login's link shows the page; its Log in button goes on.
		{"GET", "/auth/start/" + loopbackFlow, 200, ""},
		{"GET", "/auth/start/" + loopbackFlow + "?login", 303, "https://provider.example/authorize?state=abc"},
		{"GET", "/auth/start/unknown", 400, ""},
		{"GET", "/healthz", 200, ""},
		{"GET", "/", 404, ""},
		{"POST", "/auth/callback/skill_app", 405, ""},
		{"GET", "/auth/callback/skill_app?code=" + strings.Repeat("x", 9<<10), 414, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target[:min(len(tt.target), 50)], func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d", rec.Code, tt.status)
			}
			if rec.Header().Get("Location") != tt.location {
				t.Errorf("Location = %q, want %q", rec.Header().Get("Location"), tt.location)
			}
			referrer := "no-referrer"
			if tt.target == "/auth/start/"+loopbackFlow {
				referrer = "same-origin" // the paste page: its posts carry their Origin
			}
			for k, v := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": referrer, "X-Frame-Options": "DENY"} {
				if rec.Header().Get(k) != v {
					t.Errorf("%s = %q, want %q", k, rec.Header().Get(k), v)
				}
			}
			body := rec.Body.String()
			if tt.target != "/healthz" && tt.status != 303 && !strings.Contains(body, "<title>") {
				t.Errorf("no human page: %q", body)
			}
			if strings.Contains(body, "secret-detail") || strings.Contains(body, "disk on fire") {
				t.Errorf("an internal error's text reached the page")
			}
		})
	}
}

func TestServeShutsDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- newServer(t, fakeEngine{}).Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok\n" {
		t.Errorf("healthz = %q", b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve() after cancel = %v, want nil", err)
	}
}

// FuzzRequest sends arbitrary paths and queries: every answer is a page
// with a proper status, and none echoes what was sent.
func FuzzRequest(f *testing.F) {
	f.Add("/auth/callback/skill_app", "state=ok&code=c")
	f.Add("/auth/start/GOODGOODGOODGOODGOODGOODGO", "")
	f.Add("/auth/callback/..%2f..%2fetc", "code=<script>")
	f.Add("/%zz", "a=%zz")
	h := newServer(f, fakeEngine{}).Handler()
	f.Fuzz(func(t *testing.T, path, query string) {
		target := "http://device.test" + path
		if query != "" {
			target += "?" + query
		}
		req, err := http.NewRequest(http.MethodGet, target, nil)
		if err != nil || req.URL.Path == "" || req.URL.Path[0] != '/' {
			return
		}
		req.RequestURI = req.URL.RequestURI()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code < 200 || rec.Code > 599 {
			t.Fatalf("status %d", rec.Code)
		}
		if rec.Code != http.StatusSeeOther && req.URL.Path != "/healthz" && !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("%s: status %d without a page", target, rec.Code)
		}
		for _, vs := range req.URL.Query() {
			for _, v := range vs {
				if len(v) >= 16 && strings.Contains(rec.Body.String(), v) {
					t.Fatalf("the page echoes %q", v)
				}
			}
		}
	})
}

// FuzzPaste posts whatever a user might paste into a loopback login's
// form: every answer is a page with a proper status, and none echoes a
// value of the pasted address's query but the form's field, which gives
// the phone back what it pasted, escaped.
func FuzzPaste(f *testing.F) {
	f.Add("http://127.0.0.1:36536/auth/callback/skill_app?state=ok&code=c")
	f.Add("http://127.0.0.1:36536/auth/callback/?state=" + strings.Repeat("s", 20))
	f.Add("javascript:alert(1)")
	f.Add("  ")
	f.Add("%zz://\x00")
	h := newServer(f, fakeEngine{}).Handler()
	f.Fuzz(func(t *testing.T, pasted string) {
		for _, flow := range []string{"GOODGOODGOODGOODGOODGOODGO", expiredFlow} {
			body := url.Values{"url": {pasted}}.Encode()
			req := httptest.NewRequest(http.MethodPost, "http://device.test/auth/start/"+flow, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code < 200 || rec.Code > 599 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				t.Fatalf("paste %q: status %d, Content-Type %q", pasted, rec.Code, rec.Header().Get("Content-Type"))
			}
			page := rec.Body.String()
			if m := fieldRE.FindStringSubmatchIndex(page); m != nil {
				// html/template writes NUL as U+FFFD.
				want := strings.ReplaceAll(strings.TrimSpace(pasted), "\x00", "\uFFFD")
				if got := html.UnescapeString(page[m[2]:m[3]]); got != "" && got != want {
					t.Fatalf("paste %q: the field holds %q", pasted, got)
				}
				page = page[:m[2]] + page[m[3]:]
			}
			if u, err := url.Parse(strings.TrimSpace(pasted)); err == nil {
				for _, vs := range u.Query() {
					for _, v := range vs {
						if len(v) >= 16 && strings.Contains(page, v) {
							t.Fatalf("the page echoes %q", v)
						}
					}
				}
			}
		}
	})
}

// TestPaste: a loopback login's page takes the pasted address and hands
// its query to the engine with the address it names; what is not such an
// address is refused on the page, without asking the engine.
func TestPaste(t *testing.T) {
	t.Parallel()
	h := newServer(t, fakeEngine{}).Handler()
	tests := []struct {
		name, pasted string
		status       int
		words        string
	}{
		{"the login's address", "http://127.0.0.1:36536/auth/callback/skill_app?state=ok&code=c", 200, "logged in"},
		{"with spaces around", "  http://127.0.0.1:36536/auth/callback/skill_app?state=ok&code=c\n", 200, "logged in"},
		{"a bad state", "http://127.0.0.1:36536/auth/callback/skill_app?state=bad&code=c", 400, "incomplete"},
		{"another app's address", "http://127.0.0.1:36536/auth/callback/other_app?state=ok&code=c", 400, "another app"},
		{"another login's address", "http://127.0.0.1:36536/auth/callback/skill_app?state=other&code=c", 400, "another login"},
		{"not a callback", "https://example.com/?state=ok&code=c", 400, "not the address"},
		{"empty", "", 400, "Nothing was pasted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := url.Values{"url": {tt.pasted}}.Encode()
			req := httptest.NewRequest(http.MethodPost, "/auth/start/"+loopbackFlow, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.words) {
				t.Errorf("status %d, want %d with %q:\n%s", rec.Code, tt.status, tt.words, rec.Body)
			}
		})
	}
	t.Run("the page's form may post only to itself", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/auth/start/"+loopbackFlow, nil))
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("CSP = %q", csp)
		}
		if p := rec.Header().Get("Referrer-Policy"); p != "same-origin" || !strings.Contains(rec.Body.String(), `<meta name="referrer" content="same-origin">`) {
			t.Errorf("Referrer-Policy %q: want same-origin in the header and the page, so that the form's posts carry their Origin", p)
		}
		if b := rec.Body.String(); !strings.Contains(b, `action="/auth/start/`+loopbackFlow+`"`) || strings.Contains(b, "state=abc") {
			t.Errorf("page: want a form posting to itself and no state:\n%s", b)
		}
	})
	t.Run("too large", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/auth/start/"+loopbackFlow, strings.NewReader("url="+strings.Repeat("x", 20<<10)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", rec.Code)
		}
	})
}

// TestRefusalsLoggedRarely: a flood of refused callbacks from the LAN
// leaves one log line, not one per request.
func TestRefusalsLoggedRarely(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	srv := callback.New(fakeEngine{}, slog.New(slog.NewTextHandler(&logs, nil)))
	h := srv.Handler()
	for range 1000 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/auth/callback/skill_app?error=access_denied", nil))
		if rec.Code != http.StatusForbidden {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if n := strings.Count(logs.String(), "callback refused"); n != 1 {
		t.Errorf("%d log lines for 1000 refused callbacks, want 1", n)
	}
}

// TestPasteFromAnotherSite: the paste form takes only what its own page
// posts. A browser says where a POST comes from (Sec-Fetch-Site, and
// Origin, which the page's referrer policy lets through for its own
// posts); a POST from another site, or one whose Origin is not this
// server's, is refused before the engine hears of it. A POST with neither
// header (an old browser, or no browser) is taken.
func TestPasteFromAnotherSite(t *testing.T) {
	t.Parallel()
	const own = "http://device.test:36536"
	tests := []struct {
		name    string
		headers map[string]string
		status  int
	}{
		{"no headers", nil, 200},
		{"same origin", map[string]string{"Origin": own, "Sec-Fetch-Site": "same-origin"}, 200},
		{"same origin, origin withheld", map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}, 200},
		{"user-initiated", map[string]string{"Sec-Fetch-Site": "none"}, 200},
		{"own origin, no Sec-Fetch-Site", map[string]string{"Origin": own}, 200},
		{"own origin, host in capitals", map[string]string{"Origin": "http://DEVICE.test:36536"}, 200},
		{"cross-site", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 403},
		{"cross-site without origin", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"cross-site, opaque origin", map[string]string{"Origin": "null", "Sec-Fetch-Site": "cross-site"}, 403},
		{"same site, another port", map[string]string{"Origin": "http://device.test:8080", "Sec-Fetch-Site": "same-site"}, 403},
		{"another origin, no Sec-Fetch-Site", map[string]string{"Origin": "https://evil.example"}, 403},
		{"another port, no Sec-Fetch-Site", map[string]string{"Origin": "http://device.test:8080"}, 403},
		{"opaque origin, no Sec-Fetch-Site", map[string]string{"Origin": "null"}, 403},
		{"same-origin claimed, another origin", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"}, 403},
		{"unknown Sec-Fetch-Site", map[string]string{"Sec-Fetch-Site": "elsewhere"}, 403},
		{"origin not a URL", map[string]string{"Origin": "%zz"}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &counting{}
			h := newServer(t, e).Handler()
			body := url.Values{"url": {"http://127.0.0.1:36536/auth/callback/skill_app?state=ok&code=c"}}.Encode()
			req := httptest.NewRequest(http.MethodPost, own+"/auth/start/"+loopbackFlow, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d:\n%s", rec.Code, tt.status, rec.Body)
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || !strings.Contains(rec.Body.String(), "<title>") {
				t.Errorf("no human page: %q", rec.Body)
			}
			if got, want := e.n.Load(), int32(0); tt.status == 403 && got != want {
				t.Errorf("the engine got %d answers from a refused paste, want none", got)
			}
			if tt.status == 403 && !strings.Contains(rec.Body.String(), "on the page") {
				t.Errorf("the refusal does not say where to paste:\n%s", rec.Body)
			}
		})
	}
}
