package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/qr/qrtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/wire"
)

// syncBuffer is a bytes.Buffer that a command writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the buffer holds s.
func (b *syncBuffer) waitFor(t *testing.T, s string) string {
	t.Helper()
	polltest.UntilNil(t, func() error {
		if out := b.String(); !strings.Contains(out, s) {
			return fmt.Errorf("no %q in the output:\n%s", s, out)
		}
		return nil
	})
	return b.String()
}

// cliResult is what a command printed and how it ended.
type cliResult struct {
	stdout, stderr string
	code           int
	err            error
}

// cliEnv is a machine without config files of its own, as the daemon's tests
// use: the CLI finds the bus through --bus-url.
func cliEnv(t *testing.T) func(string) string {
	env := map[string]string{"HOME": t.TempDir(), "OVOS_OAUTH_SYSTEM_CONFIG_DIR": t.TempDir(), "MYCROFT_SYSTEM_CONFIG": "/nonexistent", "XDG_CONFIG_DIRS": t.TempDir()}
	return func(k string) string { return env[k] }
}

// runCLI runs one command as main does and returns what it printed.
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	var stdout, stderr syncBuffer
	err := run(context.Background(), args, cliEnv(t), &stdout, &stderr)
	return cliResult{stdout.String(), stderr.String(), exitCode(err), err}
}

func (r cliResult) want(t *testing.T, code int) cliResult {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d (%v), want %d\nstdout:\n%s\nstderr:\n%s", r.code, r.err, code, r.stdout, r.stderr)
	}
	return r
}

// login completes a login of app through the skill's oauth.get, as a user
// on a phone would.
func (s *setup) login(t *testing.T, appID string) {
	t.Helper()
	got := noErr(t, s.skill.request(t, "oauth.get", app(appID), "oauth.url"))
	s.p.Login(t, got["url"].(string))
	s.skill.Expect(t, "oauth.token.response."+skillID+"_"+appID)
}

// TestCLIStatusTokenRevoke: status lists what the daemon keeps, token
// prints a token the provider accepts, revoke ends it.
func TestCLIStatusTokenRevoke(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{"web": secret}, "demo", "other")
	s.register(t, "demo", "web", secret, nil)
	s.register(t, "other", "web", secret, nil)
	s.login(t, "demo")
	bus := "--bus-url=" + s.d.busURL

	r := runCLI(t, "status", "--json", bus).want(t, exitOK)
	var st wire.StatusReply
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st.Apps) != 2 {
		t.Fatalf("status --json = %s (%v), want two apps", r.stdout, err)
	}
	for _, a := range st.Apps {
		logged := a.AppID == "demo"
		if a.Authorized != logged || (a.ExpiresAt != nil) != logged || (a.NextRefreshAt != nil) != logged {
			t.Errorf("%s: authorized %v, expires_at %v, next_refresh_at %v; want all set only for the app logged in", a.AppID, a.Authorized, a.ExpiresAt, a.NextRefreshAt)
		}
		if logged && *a.NextRefreshAt >= *a.ExpiresAt {
			t.Errorf("next refresh %v is not before expiry %v", *a.NextRefreshAt, *a.ExpiresAt)
		}
	}
	if strings.Contains(r.stdout, secret) {
		t.Error("status prints the client secret")
	}

	table := runCLI(t, "status", bus).want(t, exitOK).stdout
	rows := strings.Split(strings.TrimSpace(table), "\n")
	if len(rows) != 3 || !strings.HasPrefix(rows[0], "APP") {
		t.Fatalf("status table:\n%s", table)
	}
	for _, row := range rows[1:] {
		switch {
		case strings.HasPrefix(row, skillID+" demo "):
			if !regexp.MustCompile(`lan +yes +in \S+ \(.*\) +in \S+ \(.*\) +- +-$`).MatchString(row) {
				t.Errorf("row of the app logged in: %q", row)
			}
		case strings.HasPrefix(row, skillID+" other "):
			if !strings.Contains(row, " no ") || !strings.Contains(row, "a login (ovos-oauth login "+skillID+" other)") {
				t.Errorf("row of the app never logged in: %q", row)
			}
		default:
			t.Errorf("unexpected row %q", row)
		}
	}

	tok := strings.TrimSpace(runCLI(t, "token", skillID, "demo", bus).want(t, exitOK).stdout)
	if got := s.p.Userinfo(t, tok); got != 200 {
		t.Errorf("userinfo with the printed token: %d, want 200", got)
	}
	never := runCLI(t, "token", skillID, "other", bus).want(t, exitFailed)
	if msg := never.err.Error(); !strings.Contains(msg, "not_authorized") || !strings.Contains(msg, "ovos-oauth login "+skillID+" other") {
		t.Errorf("token of an app never logged in: %q", msg)
	}

	runCLI(t, "revoke", skillID, "demo", bus).want(t, exitOK)
	runCLI(t, "token", skillID, "demo", bus).want(t, exitFailed)
	r = runCLI(t, "revoke", skillID, "other", "--unregister", "--json", bus).want(t, exitOK)
	if !strings.Contains(r.stdout, `"removed": true`) {
		t.Errorf("revoke --unregister --json = %s", r.stdout)
	}
	if r := runCLI(t, "status", "--json", bus).want(t, exitOK); strings.Contains(r.stdout, `"other"`) {
		t.Errorf("the unregistered app is still listed: %s", r.stdout)
	}
}

// TestCLILoginRegistersForOVOSUtilsReaders: "ovos-oauth login ocp spotify
// --provider spotify …" registers the app itself, prints the link and its
// QR code, waits for the login and leaves the ocp_spotify entries that
// ovos-media-plugin-spotify reads through ovos_utils: the token with its
// refresh token, and the app with its client secret.
func TestCLILoginRegistersForOVOSUtilsReaders(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	d := startDaemon(t, busURL, t.TempDir())
	p := oauthtest.Start(t, oauthtest.Client{ID: "web", Secret: secret, RedirectURIs: []string{d.baseURL + "/auth/callback/ocp_spotify"}})

	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"login", "ocp", "spotify", "--bus-url", busURL,
			"--provider", "spotify", "--auth-endpoint", p.AuthEndpoint, "--token-endpoint", p.TokenEndpoint,
			"--login-mode", "lan", "--client-id", "web", "--scope", "openid offline_access"},
			func(k string) string {
				if k == "OVOS_OAUTH_CLIENT_SECRET" {
					return secret
				}
				return cliEnv(t)(k)
			}, &stdout, &stderr)
	}()
	out := stdout.waitFor(t, "Waiting for the login")
	link := regexp.MustCompile(`(?m)^  (http://\S+/auth/start/\S+)$`).FindStringSubmatch(out)
	if link == nil {
		t.Fatalf("no start link in:\n%s", out)
	}
	if got := decodeTerminalQR(t, out); got != link[1] {
		t.Errorf("the terminal QR code reads %q, want the link %q", got, link[1])
	}
	if strings.Contains(out, secret) {
		t.Error("login prints the client secret")
	}
	p.Login(t, link[1])
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("login = %v\n%s%s", err, stdout.String(), stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("login did not return after the user logged in:\n%s", stdout.String())
	}
	if !strings.Contains(stdout.String(), "Logged in.") {
		t.Errorf("no success line:\n%s", stdout.String())
	}

	dir := filepath.Join(d.home, ".cache", "mycroft", "json_database")
	has := func(m map[string]any) bool { return m["ocp_spotify"] != nil }
	tok, _ := waitJSON(t, filepath.Join(dir, "ovos_oauth.json"), has)["ocp_spotify"].(map[string]any)
	appEntry, _ := waitJSON(t, filepath.Join(dir, "ovos_oauth_apps.json"), has)["ocp_spotify"].(map[string]any)
	if rt, _ := tok["refresh_token"].(string); rt == "" {
		t.Errorf("ovos_oauth.json ocp_spotify = %v, want a refresh token", keys(tok))
	}
	if at, _ := tok["access_token"].(string); p.Userinfo(t, at) != 200 {
		t.Errorf("the mirrored access token is not accepted")
	}
	if appEntry["client_secret"] != secret || appEntry["client_id"] != "web" {
		t.Errorf("ovos_oauth_apps.json ocp_spotify has client_id %v, client_secret set %v", appEntry["client_id"], appEntry["client_secret"] == secret)
	}
}

// decodeTerminalQR reads the half-block QR code a command drew back,
// module by module as a dark and as a light terminal show it (see
// qrtest.DecodeModules), and fails the test unless both read the same text.
func decodeTerminalQR(t *testing.T, out string) string {
	t.Helper()
	var texts []string
	for _, th := range []qrtest.Theme{qrtest.Dark, qrtest.Light} {
		term, err := qrtest.ReadTerminal(out, th)
		if err != nil {
			t.Fatalf("%s: %v\n%s", th, err, out)
		}
		text, err := qrtest.DecodeModules(term.Modules)
		if err != nil {
			t.Fatalf("%s: the terminal QR code does not decode: %v", th, err)
		}
		texts = append(texts, text)
	}
	if texts[0] != texts[1] {
		t.Fatalf("the terminal QR code reads %q on a dark terminal, %q on a light one", texts[0], texts[1])
	}
	return texts[0]
}

// TestCLIExitCodes: usage errors are 2, no bus or no daemon 3, the
// daemon's refusal 1, --help 0.
func TestCLIExitCodes(t *testing.T) {
	t.Parallel()
	hubOnly, _ := bustest.StartHub(t) // a bus without ovos-oauth on it
	tests := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"no command", nil, exitUsage, ""},
		{"unknown command", []string{"frobnicate"}, exitUsage, "unknown command"},
		{"unknown flag", []string{"status", "--bogus"}, exitUsage, "unknown flag"},
		{"missing app", []string{"token", "skill"}, exitUsage, "wrong number of arguments"},
		{"bad id", []string{"token", "a/b", "c", "--bus-url", hubOnly}, exitUsage, "is not a skill_id"},
		{"bad data", []string{"bus", "emit", "x.y", "[1]", "--bus-url", hubOnly}, exitUsage, "not a JSON object"},
		{"bad bus url", []string{"status", "--bus-url", "http://x"}, exitUsage, "bus_url"},
		{"secret alone", []string{"login", "a", "b", "--client-secret", "x"}, exitUsage, "--client-id"},
		{"help", []string{"status", "--help"}, exitOK, ""},
		{"no bus", []string{"status", "--bus-url", "ws://127.0.0.1:1/core", "--timeout", "300ms"}, exitNoDaemon, "cannot reach the bus"},
		{"no daemon", []string{"token", "a", "b", "--bus-url", hubOnly, "--timeout", "300ms"}, exitNoDaemon, "ovos-oauth did not answer"},
		{"no reply", []string{"bus", "emit", "x.y", "--reply", "x.y.response", "--bus-url", hubOnly, "--timeout", "300ms"}, exitNoDaemon, "no x.y.response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, tt.args...).want(t, tt.code)
			if r.err != nil && !strings.Contains(r.err.Error()+r.stderr, tt.says) {
				t.Errorf("error %q, stderr %q; want %q in it", r.err, r.stderr, tt.says)
			}
		})
	}
	if help := runCLI(t, "login", "--help"); !strings.Contains(help.stderr, "--client-id") || !strings.Contains(help.stderr, "Exit status") {
		t.Errorf("login --help:\n%s", help.stderr)
	}
}

// TestCLIBusListenAndEmit: what emit sends, listen prints, filtered by the
// pattern; emit --reply prints the daemon's answer.
func TestCLIBusListenAndEmit(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	d := startDaemon(t, busURL, t.TempDir())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"bus", "listen", "test.*", "--count", "2", "--bus-url", busURL}, cliEnv(t), &stdout, &stderr)
	}()
	stderr.waitFor(t, "listening on")
	for _, typ := range []string{"test.a", "other.b", "test.c"} {
		runCLI(t, "bus", "emit", typ, `{"n": 1}`, "--bus-url", busURL).want(t, exitOK)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("listen did not stop after 2 frames:\n%s", stdout.String())
	}
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		m, err := bus.Decode([]byte(line))
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if string(m.Data) != `{"n":1}` {
			t.Errorf("%s data %s", m.Type, m.Data)
		}
		types = append(types, m.Type)
	}
	if strings.Join(types, " ") != "test.a test.c" {
		t.Errorf("listen printed %v, want test.a test.c", types)
	}

	r := runCLI(t, "bus", "emit", "oauth.get.app.host.info", "--reply", "oauth.app.host.info.response", "--bus-url", busURL).want(t, exitOK)
	m, err := bus.Decode([]byte(strings.TrimSpace(r.stdout)))
	if err != nil {
		t.Fatalf("emit --reply printed %q: %v", r.stdout, err)
	}
	var info wire.HostInfoReply
	if err := m.DecodeData(&info); err != nil || "http://"+info.Host+":"+strconv.Itoa(info.Port) != d.baseURL {
		t.Errorf("host info %+v (%v), want %s", info, err, d.baseURL)
	}
}
