package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/wire"
)

// TestExpiresInIsTimeLeft: oauth.token.get and token --json give in
// expires_in the seconds the token has left, not the lifetime the provider
// gave it when it was issued: a token issued for two hours an hour and a
// half ago has half an hour left.
func TestExpiresInIsTimeLeft(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	pluginDir := filepath.Join(t.TempDir(), "json_database")
	// The plugin's token: expires_in 7200, expiring in 30 minutes.
	expiresAt := time.Now().Add(30 * time.Minute)
	writePluginFiles(t, pluginDir, expiresAt, "https://provider.invalid/token")
	startDaemon(t, busURL, t.TempDir(), "--import-from", pluginDir)

	// left is what expires_in should say now, give or take a second.
	left := func() float64 {
		return float64(expiresAt.Unix()) + 0.5 - float64(time.Now().UnixMicro())/1e6
	}
	check := func(what string, got float64) {
		t.Helper()
		if want := left(); math.Abs(got-want) > 2 {
			t.Errorf("%s expires_in = %v, want the time left, about %.0f s", what, got, want)
		}
	}
	tok := noErr(t, newSkill(t, busURL, skillID).request(t, "oauth.token.get", app(importedApp), "oauth.token.get.response"))
	in, ok := tok["expires_in"].(float64)
	if !ok || in != math.Trunc(in) {
		t.Fatalf("oauth.token.get expires_in = %#v, want whole seconds", tok["expires_in"])
	}
	check("oauth.token.get", in)

	r := runCLI(t, "token", skillID, importedApp, "--json", "--bus-url="+busURL).want(t, exitOK)
	var rep wire.TokenGetReply
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("token --json = %s: %v", r.stdout, err)
	}
	check("token --json", float64(rep.ExpiresIn))
}
