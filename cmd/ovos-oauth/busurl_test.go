package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
)

// TestHealthzHidesBusURL: /healthz, which anyone on the LAN can fetch, says
// the bus is gone without naming its URL, and no log line shows the token a
// bus URL carries in its query, whether the bus is up, lost or unreachable.
func TestHealthzHidesBusURL(t *testing.T) {
	t.Parallel()
	const token = "bus-query-t0ken-s3cr3t"
	busURL, stopBus := startBus(t, "127.0.0.1:0", nil)
	d := startDaemon(t, busURL+"?token="+token, t.TempDir())
	health := d.baseURL + "/healthz"
	if status, body := fetch(t, health); status != http.StatusOK {
		t.Fatalf("/healthz on the bus = %d %q, want 200", status, body)
	}

	stopBus()
	var body string
	polltest.Until(t, "/healthz to say the bus is gone", func() bool {
		var status int
		status, body = fetch(t, health)
		return status == http.StatusServiceUnavailable
	})
	if body != "not connected to the messagebus\n" {
		t.Errorf("/healthz without a bus = %q, want %q", body, "not connected to the messagebus\n")
	}
	for _, leak := range []string{token, "ws://", hostOf(t, busURL)} {
		if strings.Contains(body, leak) {
			t.Errorf("/healthz shows %q: %q", leak, body)
		}
	}
	polltest.Until(t, "the log of the lost bus", func() bool {
		return len(logRecords(d, msgHasPrefix("bus connection lost"))) > 0 && len(logRecords(d, msgHasPrefix("cannot reach bus"))) > 0
	})
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	logs := d.logs.String()
	if strings.Contains(logs, token) {
		t.Errorf("the log shows the bus URL's query:\n%s", logs)
	}
	// The URL still says which bus, without its query.
	for _, msg := range []string{"ovos-oauth started", "connected to bus", "bus connection lost"} {
		recs := logRecords(d, msgHasPrefix(msg))
		if len(recs) == 0 || !strings.Contains(mustJSON(t, recs[0]), busURL+"?REDACTED") {
			t.Errorf("%q log lines = %v, want the bus URL as %s?REDACTED", msg, recs, busURL)
		}
	}
}

// TestBusURLWithUserInfo: a websocket client cannot send a bus URL's user
// info, so the daemon refuses it at start-up, saying so without showing it.
func TestBusURLWithUserInfo(t *testing.T) {
	t.Parallel()
	const password = "bus-passw0rd-s3cr3t"
	out, err := runFailing(t, t.TempDir(), "--bus-url", "ws://ovos:"+password+"@127.0.0.1:1/core")
	if !strings.Contains(err.Error(), "bus_url") || !strings.Contains(err.Error(), "user info") {
		t.Errorf("run() = %q, want an error about bus_url's user info", err)
	}
	if strings.Contains(err.Error()+out, password) || strings.Contains(err.Error()+out, "ovos:") {
		t.Errorf("the error or the output shows the user info: %q\n%s", err, out)
	}
}
