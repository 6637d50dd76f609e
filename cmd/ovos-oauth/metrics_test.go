package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
)

// scrape fetches a daemon's /metrics and returns its body and its samples
// of ovos-oauth's own metrics: `name{label="value",…}` → value, labels in
// name order, histograms as their _count.
func scrape(t *testing.T, addr string) (string, map[string]float64) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d, %v", resp.StatusCode, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("scrape: not the text exposition format: %v", err)
	}
	samples := map[string]float64{}
	for name, f := range families {
		if !strings.HasPrefix(name, "ovos_oauth_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+`"`+l.GetValue()+`"`)
			}
			sort.Strings(labels)
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				samples[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				samples[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				samples[strings.Replace(key, name, name+"_count", 1)] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return string(body), samples
}

// checkSamples fails for each sample that is not as wanted.
func checkSamples(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

// TestMetrics runs logins and refreshes against the real provider through
// a daemon with --metrics-listen, and reads /metrics as Prometheus does:
// each counter moved once per event, with the mode, error code and request
// type as labels, and nothing that names the skill, the app or a secret.
func TestMetrics(t *testing.T) {
	t.Parallel()
	busURL, stopBus := restartableBus(t)
	dataDir := t.TempDir()
	d := startDaemonTuned(t, busURL, dataDir, homeEnv(t, t.TempDir()), shortMirrorWait, "--metrics-listen", "127.0.0.1:0")
	if d.metrics == "" {
		t.Fatalf("no metrics address in the start-up log line; logs:\n%s", d.logs)
	}
	const appID = "metricsapp"
	munged := skillID + "_" + appID
	p := oauthtest.Start(t, oauthtest.Client{ID: "web", Secret: secret, RedirectURIs: []string{d.baseURL + "/auth/callback/" + munged}})
	proxy := newFaultyTokenEndpoint(t, p.TokenEndpoint)
	s := &setup{d: d, p: p, skill: newSkill(t, busURL, skillID)}
	s.register(t, appID, "web", secret, map[string]any{"token_endpoint": proxy.URL})
	leaks := []string{skillID, appID, munged, secret}
	stateOf := func(authURL string) string {
		t.Helper()
		u, err := url.Parse(authURL)
		if err != nil || u.Query().Get("state") == "" {
			t.Fatalf("authorization URL %q without a state", authURL)
		}
		return u.Query().Get("state")
	}

	// A login that completes.
	authURL := noErr(t, s.skill.request(t, "oauth.get", app(appID), "oauth.url"))["url"].(string)
	leaks = append(leaks, stateOf(authURL))
	resp, _ := p.Login(t, authURL)
	code := resp.Request.URL.Query().Get("code")
	if code == "" {
		t.Fatalf("the phone landed on %s, without a code", resp.Request.URL.Redacted())
	}
	leaks = append(leaks, code)
	leaks = append(leaks, s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+munged))))

	// A login the user refuses: the provider sends the phone back with
	// error=access_denied and the login's state.
	authURL = noErr(t, s.skill.request(t, "oauth.get", app(appID), "oauth.url"))["url"].(string)
	state := stateOf(authURL)
	leaks = append(leaks, state)
	denied, err := http.Get(d.baseURL + "/auth/callback/" + munged + "?error=access_denied&state=" + url.QueryEscape(state))
	if err != nil {
		t.Fatal(err)
	}
	denied.Body.Close()
	if ev := dataOf(t, s.skill.Expect(t, "oauth.token.error."+munged)); ev["error"] != "access_denied" {
		t.Fatalf("oauth.token.error = %v, want access_denied", ev)
	}
	// A forged answer ends no login and counts as none.
	forged, err := http.Get(d.baseURL + "/auth/callback/" + munged + "?code=forged-code&state=forged-state")
	if err != nil {
		t.Fatal(err)
	}
	forged.Body.Close()

	// A refresh, a passing fault, a refusal.
	ref := noErr(t, s.skill.request(t, "oauth.refresh", app(appID), "oauth.refresh.response"))
	leaks = append(leaks, s.checkToken(t, ref["token"].(map[string]any)))
	proxy.set("500")
	wantErr(t, s.skill.request(t, "oauth.refresh", app(appID), "oauth.refresh.response"), "provider_unavailable")
	proxy.set("invalid_grant")
	wantErr(t, s.skill.request(t, "oauth.refresh", app(appID), "oauth.refresh.response"), "reauth_required")
	s.skill.Expect(t, "oauth.reauth.required."+munged)
	wantErr(t, s.skill.request(t, "oauth.token.get", app(appID), "oauth.token.get.response"), "reauth_required")
	wantErr(t, s.skill.request(t, "oauth.token.get", app("nothing"), "oauth.token.get.response"), "unknown_app")

	// The bus goes away and comes back.
	s.skill.Close()
	stopBus()
	_, stopBus = startBus(t, strings.TrimSuffix(strings.TrimPrefix(busURL, "ws://"), "/core"), nil)
	defer stopBus()
	newSkill(t, busURL, skillID).Expect(t, "oauth.ping")

	body, got := scrape(t, d.metrics)
	checkSamples(t, got, map[string]float64{
		`ovos_oauth_logins_started_total{mode="lan"}`:                                    2,
		`ovos_oauth_logins_started_total{mode="device"}`:                                 0,
		`ovos_oauth_logins_completed_total{mode="lan"}`:                                  1,
		`ovos_oauth_logins_failed_total{error="access_denied",mode="lan"}`:               1,
		`ovos_oauth_refreshes_total`:                                                     1,
		`ovos_oauth_refresh_failures_total{error="provider_unavailable"}`:                1,
		`ovos_oauth_refresh_failures_total{error="reauth_required"}`:                     1,
		`ovos_oauth_apps_needing_reauth`:                                                 1,
		`ovos_oauth_apps_login_ending`:                                                   0,
		`ovos_oauth_bus_connects_total`:                                                  2,
		`ovos_oauth_bus_reconnects_total`:                                                1,
		`ovos_oauth_requests_total{outcome="ok",type="oauth.register"}`:                  1,
		`ovos_oauth_requests_total{outcome="ok",type="oauth.get"}`:                       2,
		`ovos_oauth_requests_total{outcome="ok",type="oauth.refresh"}`:                   1,
		`ovos_oauth_requests_total{outcome="provider_unavailable",type="oauth.refresh"}`: 1,
		`ovos_oauth_requests_total{outcome="reauth_required",type="oauth.refresh"}`:      1,
		`ovos_oauth_requests_total{outcome="reauth_required",type="oauth.token.get"}`:    1,
		`ovos_oauth_requests_total{outcome="unknown_app",type="oauth.token.get"}`:        1,
		`ovos_oauth_request_duration_seconds_count{type="oauth.refresh"}`:                3,
		`ovos_oauth_request_duration_seconds_count{type="oauth.get"}`:                    2,
	})
	// The forged answer failed no login.
	var failed float64
	for k, v := range got {
		if strings.HasPrefix(k, "ovos_oauth_logins_failed_total") {
			failed += v
		}
	}
	if failed != 1 {
		t.Errorf("%v logins failed, want 1 (a forged answer is not a failed login)", failed)
	}
	// Nothing that names the skill, the app or a secret, in a label or
	// anywhere else.
	leaks = append(leaks, "forged-code", "forged-state")
	for _, leak := range leaks {
		if leak != "" && strings.Contains(body, leak) {
			t.Errorf("/metrics contains %q", leak)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}

	// After a restart the counters start again, and the app still needs a
	// new login.
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	// Its oauth.ping comes after the connection is counted.
	watcher := newSkill(t, busURL, skillID)
	d = startDaemon(t, busURL, dataDir, "--metrics-listen", "127.0.0.1:0")
	watcher.Expect(t, "oauth.ping")
	_, got = scrape(t, d.metrics)
	checkSamples(t, got, map[string]float64{
		`ovos_oauth_apps_needing_reauth`:                1,
		`ovos_oauth_logins_completed_total{mode="lan"}`: 0,
		`ovos_oauth_bus_connects_total`:                 1,
		`ovos_oauth_bus_reconnects_total`:               0,
	})
}

// TestMetricsOffByDefault: without --metrics-listen no metrics server is
// started (the start-up line names none), and the callback server does not
// serve them either.
func TestMetricsOffByDefault(t *testing.T) {
	t.Parallel()
	busURL, _ := startBus(t, "127.0.0.1:0", nil)
	d := startDaemon(t, busURL, t.TempDir())
	if d.metrics != "" {
		t.Errorf("metrics server at %s without --metrics-listen", d.metrics)
	}
	if !strings.Contains(d.logs.String(), `"metrics":""`) {
		t.Errorf("the start-up line does not say the metrics are off; logs:\n%s", d.logs)
	}
	resp, err := http.Get(d.baseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the callback server: %d, want 404", resp.StatusCode)
	}
}

// TestMetricsPortTaken: a taken metrics port stops start-up with a message
// that names it.
func TestMetricsPortTaken(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	env := map[string]string{"HOME": t.TempDir(), "OVOS_OAUTH_SYSTEM_CONFIG_DIR": t.TempDir(), "MYCROFT_SYSTEM_CONFIG": "/nonexistent", "XDG_CONFIG_DIRS": t.TempDir()}
	err = run(context.Background(), []string{"serve", "--listen", "127.0.0.1:0", "--public-host", "127.0.0.1",
		"--data-dir", t.TempDir(), "--bus-url", "ws://127.0.0.1:1/core", "--metrics-listen", taken.Addr().String()},
		func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "metrics") || !strings.Contains(err.Error(), "taken") || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Errorf("run() with the metrics port taken = %v, want an error naming the metrics port as taken", err)
	}
}
