package main

import (
	"log/slog"
	"net"
	"net/http"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
)

// startBus runs a hub on addr ("127.0.0.1:0" for any port) until stop.
// Until open is closed, only clients whose URL has ?first=1 get in; the
// others wait at the door (a nil open lets everyone in).
func startBus(t *testing.T, addr string, open <-chan struct{}) (url string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return serveBus(t, ln, open)
}

// restartableBus is startBus at a port that stays free for the bus to
// start again there (see bustest.ListenRestartable).
func restartableBus(t *testing.T) (url string, stop func()) {
	t.Helper()
	return serveBus(t, bustest.ListenRestartable(t), nil)
}

// serveBus is startBus on ln.
func serveBus(t *testing.T, ln net.Listener, open <-chan struct{}) (url string, stop func()) {
	t.Helper()
	hub := bus.NewHub(slog.New(slog.DiscardHandler))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if open != nil && r.URL.Query().Get("first") == "" {
			<-open
		}
		hub.ServeHTTP(w, r)
	})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	var stopped bool
	stop = func() {
		if !stopped {
			stopped = true
			hub.Close()
			srv.Close()
			<-done
		}
	}
	t.Cleanup(stop)
	return "ws://" + ln.Addr().String() + "/core", stop
}

// TestBusRestartLosesNothing: the bus goes away while a login completes on
// the phone; when it comes back the daemon reconnects, says oauth.ping, and
// the token event it could not send reaches the skill.
func TestBusRestartLosesNothing(t *testing.T) {
	t.Parallel()
	busURL, stopBus := restartableBus(t)
	d := startDaemon(t, busURL, t.TempDir())
	p := oauthtest.Start(t, oauthtest.Client{ID: "web", Secret: secret, RedirectURIs: []string{d.baseURL + "/auth/callback/" + skillID + "_demoapp"}})
	s := &setup{d: d, p: p, skill: newSkill(t, busURL, skillID)}
	s.register(t, "demoapp", "web", secret, nil)
	authURL := noErr(t, s.skill.request(t, "oauth.get", app("demoapp"), "oauth.url"))["url"].(string)

	stopBus()
	if resp, _ := p.Login(t, authURL); resp.StatusCode != 200 {
		t.Fatalf("login while the bus is down: status %d", resp.StatusCode)
	}

	// The skill is on the new bus before the daemon may reconnect, so it
	// sees everything the daemon sends there.
	open := make(chan struct{})
	startBus(t, hostOf(t, busURL), open)
	skill := newSkill(t, busURL+"?first=1", skillID)
	close(open)
	skill.Expect(t, "oauth.ping")
	s.skill = skill
	s.checkToken(t, dataOf(t, skill.Expect(t, "oauth.token.response."+skillID+"_demoapp")))
}

// TestEmbeddedBus: with --embedded-bus the daemon hosts the bus itself and
// skills talk to it there.
func TestEmbeddedBus(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", t.TempDir(), "--embedded-bus", "127.0.0.1:0")
	if d.busURL == "" || d.busURL == "ws://127.0.0.1:0/core" {
		t.Fatalf("bus URL = %q, want the embedded bus's real address", d.busURL)
	}
	sk := newSkill(t, d.busURL, skillID)
	info := noErr(t, sk.request(t, "oauth.get.app.host.info", map[string]any{}, "oauth.app.host.info.response"))
	if info["host"] != "127.0.0.1" {
		t.Errorf("host info = %v", info)
	}
}
