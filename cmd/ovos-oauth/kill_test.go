package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/proctest"
)

// TestSIGKILLLosesNothingAcknowledged kills the daemon (this test binary
// run as ovos-oauth, see TestMain) with SIGKILL at a random moment while skills register, log in and refresh, 20 times:
// after each restart every registration that was answered, and every token
// that was announced, is there.
func TestSIGKILLLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	dataDir, home := t.TempDir(), t.TempDir()
	logFile, err := os.Create(filepath.Join(t.TempDir(), "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	// One port for every run, so the provider knows the callback.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	skill := newSkill(t, busURL, skillID)
	start := func() *proctest.Child {
		cmd := proctest.Command("ovos-oauth", "serve", "--bus-url", busURL, "--listen", "127.0.0.1:"+port, "--public-host", "127.0.0.1",
			"--data-dir", dataDir, "--log-format", "json", "--mirror-ovos-utils=false")
		cmd.Env = append([]string{"HOME=" + home, "OVOS_OAUTH_SYSTEM_CONFIG_DIR=" + t.TempDir(), "MYCROFT_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_DIRS=" + t.TempDir()},
			proctest.Env("ovos-oauth")...)
		cmd.Stderr = logFile
		daemon := proctest.Start(t, cmd)
		skill.Expect(t, "oauth.ping") // on the bus
		return daemon
	}

	daemon := start()
	base := "http://127.0.0.1:" + port
	p := oauthtest.Start(t, oauthtest.Client{ID: "web", Secret: secret, RedirectURIs: []string{base + "/auth/callback/" + skillID + "_login", base + "/auth/callback/" + skillID + "_fresh"}})
	s := &setup{p: p, skill: skill}
	s.register(t, "login", "web", secret, nil)
	s.register(t, "fresh", "web", secret, nil)
	authURL := noErr(t, skill.request(t, "oauth.get", app("login"), "oauth.url"))["url"].(string)
	p.Login(t, authURL)
	skill.Expect(t, "oauth.token.response."+skillID+"_login")
	acked := []string{"login", "fresh"}
	lastToken := ""

	for round := range 20 {
		// A login whose token was announced (acknowledged), and another
		// in flight at the kill on odd rounds.
		authURL := noErr(t, skill.request(t, "oauth.get", app("fresh"), "oauth.url"))["url"].(string)
		p.Login(t, authURL)
		fresh := dataOf(t, skill.Expect(t, "oauth.token.response."+skillID+"_fresh"))["access_token"].(string)
		if round%2 == 1 {
			// Opened on the phone, not finished: pending at the kill.
			inflight := noErr(t, skill.request(t, "oauth.get", app("fresh"), "oauth.url"))["url"].(string)
			if resp, err := p.Phone(t).Get(inflight); err == nil {
				resp.Body.Close()
			}
		}
		// A refresh whose answer came (the rotated token is acknowledged),
		// then work in flight when the kill comes: registrations sent
		// without waiting, and one whose answer we await.
		ref := noErr(t, skill.request(t, "oauth.refresh", app("login"), "oauth.refresh.response"))
		lastToken = ref["token"].(map[string]any)["access_token"].(string)
		for i := range 5 {
			data := app(fmt.Sprintf("r%02d-%d", round, i))
			data["auth_endpoint"], data["token_endpoint"] = p.AuthEndpoint, p.TokenEndpoint
			skill.Send(t, withSource(bus.NewMessage("oauth.register", data)))
		}
		id := fmt.Sprintf("acked-%02d", round)
		data := app(id)
		data["auth_endpoint"], data["token_endpoint"] = p.AuthEndpoint, p.TokenEndpoint
		skill.Send(t, withSource(bus.NewMessage("oauth.register", data)))
		// Its own answer: register replies name the app by munged_id.
		skill.ExpectFunc(t, func(r bus.Message) bool {
			var d map[string]any
			return r.Type == "oauth.register.response" && r.DecodeData(&d) == nil && d["munged_id"] == skillID+"_"+id && d["error"] == nil
		})
		acked = append(acked, id)
		time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
		daemon.Kill(t)
		daemon = start()

		st := noErr(t, skill.request(t, "oauth.status", map[string]any{}, "oauth.status.response"))
		have := map[string]bool{}
		for _, a := range st["apps"].([]any) {
			have[a.(map[string]any)["app_id"].(string)] = true
		}
		for _, a := range acked {
			if !have[a] {
				t.Fatalf("round %d: acknowledged app %q lost after SIGKILL", round, a)
			}
		}
		tok := noErr(t, skill.request(t, "oauth.token.get", app("login"), "oauth.token.get.response"))
		if tok["access_token"] != lastToken || s.p.Userinfo(t, lastToken) != 200 {
			t.Fatalf("round %d: after SIGKILL the daemon hands out another token than the last one acknowledged, or one the provider refuses", round)
		}
		if tok := noErr(t, skill.request(t, "oauth.token.get", app("fresh"), "oauth.token.get.response")); tok["access_token"] != fresh {
			t.Fatalf("round %d: the token of the login announced before the SIGKILL is gone", round)
		}
	}
	daemon.Kill(t)
	if total, reused := p.Refreshes(); reused != 0 {
		t.Errorf("%d of %d refreshes presented a refresh token twice: a rotated one was lost", reused, total)
	}
}

// withSource gives a request the context a skill's has.
func withSource(m bus.Message) bus.Message {
	m.Context = map[string]json.RawMessage{"source": json.RawMessage(`"` + skillID + `"`), "destination": json.RawMessage(`"PHAL"`)}
	return m
}
