package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/wire"
)

// TestCLILoginDeviceWithoutAuthEndpoint: a device login needs no
// authorization endpoint: login --login-mode device with the device and
// token endpoints registers the app and finishes when the user enters the
// code; --revocation-endpoint registers where revoke tells the provider.
func TestCLILoginDeviceWithoutAuthEndpoint(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	startDaemon(t, busURL, t.TempDir())
	p := oauthtest.StartWith(t, oauthtest.Options{DevicePollInterval: time.Second}, oauthtest.Client{ID: "tv", Secret: secret})

	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"login", skillID, "tv", "--bus-url", busURL, "--json", "--no-qr",
			"--login-mode", "device", "--device-endpoint", p.DeviceEndpoint, "--token-endpoint", p.TokenEndpoint,
			"--revocation-endpoint", p.RevocationEndpoint, "--client-id", "tv", "--scope", "openid offline_access"},
			func(k string) string {
				if k == "OVOS_OAUTH_CLIENT_SECRET" {
					return secret
				}
				return cliEnv(t)(k)
			}, &stdout, &stderr)
	}()
	// With --json the command prints the login's reply, then the outcome.
	var u wire.URLReply
	polltest.UntilNil(t, func() error {
		select {
		case err := <-done:
			t.Fatalf("login ended before the code was shown: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		default:
		}
		if _ = json.NewDecoder(strings.NewReader(stdout.String())).Decode(&u); u.UserCode == "" {
			return fmt.Errorf("no login printed:\n%s", stdout.String())
		}
		return nil
	})
	p.ApproveDevice(t, u.UserCode)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("login = %v\n%s%s", err, stdout.String(), stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("login did not return after the user entered the code:\n%s", stdout.String())
	}
	dec := json.NewDecoder(strings.NewReader(stdout.String()))
	var outcome struct{ Authorized bool }
	for {
		if err := dec.Decode(&outcome); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("login --json printed %q: %v", stdout.String(), err)
		}
	}
	if !outcome.Authorized {
		t.Errorf("login --json ended with %q, want authorized", stdout.String())
	}

	r := runCLI(t, "revoke", skillID, "tv", "--json", "--bus-url="+busURL).want(t, exitOK)
	if !bytes.Contains([]byte(r.stdout), []byte(`"revoked": true`)) {
		t.Errorf("revoke --json = %s, want revoked at the provider given by --revocation-endpoint", r.stdout)
	}
}
