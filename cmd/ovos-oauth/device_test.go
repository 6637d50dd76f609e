package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
	qrimage "github.com/OpenVoiceOS/ovos-oauth/internal/qr"
	"github.com/OpenVoiceOS/ovos-oauth/internal/qr/qrtest"
)

// deviceSetup is a daemon and a real provider with the device grant
// (zitadel's, RFC 8628), polls announced every second.
func deviceSetup(t *testing.T, opts oauthtest.Options) (*setup, string) {
	t.Helper()
	return deviceSetupTuned(t, opts, nil)
}

// deviceSetupTuned is deviceSetup with tune called on the daemon before it
// runs (startDaemonTuned).
func deviceSetupTuned(t *testing.T, opts oauthtest.Options, tune func(*daemon)) (*setup, string) {
	t.Helper()
	busURL, _ := bustest.StartHub(t)
	d := startDaemonTuned(t, busURL, t.TempDir(), homeEnv(t, t.TempDir()), tune)
	if opts.DevicePollInterval == 0 {
		opts.DevicePollInterval = time.Second
	}
	s := &setup{d: d, p: oauthtest.StartWith(t, opts, oauthtest.Client{ID: "tv", Secret: secret}), skill: newSkill(t, busURL, skillID)}
	reg := s.register(t, "tv", "tv", secret, map[string]any{"device_endpoint": s.p.DeviceEndpoint})
	if reg["login"] != "device" || reg["redirect_uri"] != "" {
		t.Fatalf("register with a device_endpoint = %v, want login device and no redirect URI", reg)
	}
	return s, busURL
}

// TestDeviceLogin: the QR code is the verification URI; while the user has
// not entered the code the daemon polls on, slows down when told, and once
// the user approved it announces a token the provider accepts.
func TestDeviceLogin(t *testing.T) {
	t.Parallel()
	// Polls closer than 1.5 s apart are answered slow_down: the announced
	// 1 s interval earns one, after which the daemon waits slowDown more.
	// The daemon's is RFC 8628's 5 s, which internal/oauth's tests hold it
	// to; here 1 s, so that the login ends 4 s sooner.
	const slowDown = time.Second
	s, _ := deviceSetupTuned(t, oauthtest.Options{DeviceMinPollInterval: 1500 * time.Millisecond}, func(d *daemon) { d.engine.SlowDown = slowDown })
	qr := noErr(t, s.skill.request(t, "oauth.generate.qr.request", app("tv"), "oauth.generate.qr.response"))
	userCode, _ := qr["user_code"].(string)
	verification, _ := qr["verification_uri"].(string)
	complete, _ := qr["verification_uri_complete"].(string)
	if userCode == "" || !strings.HasPrefix(verification, s.p.Issuer) || qr["interval"] != float64(1) || qr["expires_in"] == nil {
		t.Fatalf("qr reply = %v, want user_code, verification_uri, interval and expires_in", qr)
	}
	want := verification
	if complete != "" {
		want = complete
	}
	// The image holds the code and the address to type beside the QR
	// code: a phone reads the link, a person the code. It is the image
	// whose text internal/qr's tests read back with tesseract, for this
	// code; the code is random, and OCR of a random code is right only
	// nearly always.
	png, err := os.ReadFile(qr["qr"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := qrtest.DecodePNG(png); err != nil || got != want {
		t.Errorf("QR code holds %q (%v), want the verification URI %q", got, err, want)
	}
	captioned, err := qrimage.EncodeCaptioned(want, qrimage.Caption{Address: verification, Code: userCode}, qrimage.DefaultDirSize)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(png, captioned) {
		t.Errorf("the image (%d bytes) is not the QR code captioned with %s and %s (%d bytes)", len(png), verification, userCode, len(captioned))
	}
	shown := dataOf(t, s.skill.expectFor(t, "ovos.shell.oauth.display.qr.code", app("tv")))
	if shown["user_code"] != userCode || shown["verification_uri"] != verification || shown["qr"] != qr["qr"] {
		t.Errorf("display.qr.code = %v, want the reply's code and URI", shown)
	}

	// The user takes a while: polls go on, one of them too fast.
	polltest.Until(t, "a slow_down answer", func() bool { return countPolls(s.p, "slow_down") > 0 })
	if countPolls(s.p, "authorization_pending") == 0 {
		t.Errorf("polls = %v, want authorization_pending before the user acted", s.p.DevicePolls())
	}
	s.p.ApproveDevice(t, userCode)
	s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_tv")))

	polls := s.p.DevicePolls()
	for i, p := range polls {
		if p.Error == "slow_down" && i+1 < len(polls) {
			if gap := polls[i+1].At.Sub(p.At); gap < time.Second+slowDown {
				t.Errorf("after slow_down the next poll came %v later, want the 1 s interval stretched by %v", gap, slowDown)
			}
		}
	}
	if last := polls[len(polls)-1]; last.Error != "" {
		t.Errorf("last poll answered %q, want the token", last.Error)
	}
	n := len(polls)
	got := noErr(t, s.skill.request(t, "oauth.token.get", app("tv"), "oauth.token.get.response"))
	s.checkToken(t, got)
	if len(s.p.DevicePolls()) != n {
		t.Errorf("the daemon polled again after the login completed")
	}
	if n := s.count("oauth.token.error." + skillID + "_tv"); n != 0 {
		t.Errorf("%d token.error events", n)
	}

	// oauth.get answers with the verification URI and the code too.
	url := noErr(t, s.skill.request(t, "oauth.get", app("tv"), "oauth.url"))
	if url["url"] != url["verification_uri_complete"] && url["url"] != url["verification_uri"] || url["user_code"] == "" || url["user_code"] == userCode {
		t.Errorf("oauth.url for a device login = %v, want a new code and its verification URI", url)
	}
}

func TestDeviceLoginFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts oauthtest.Options
		act  func(t *testing.T, s *setup, userCode string)
		code string
	}{
		{"denied", oauthtest.Options{}, func(t *testing.T, s *setup, userCode string) { s.p.DenyDevice(t, userCode) }, "access_denied"},
		{"expired", oauthtest.Options{DeviceCodeLifetime: 2 * time.Second}, func(*testing.T, *setup, string) {}, "expired_state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := deviceSetup(t, tt.opts)
			got := noErr(t, s.skill.request(t, "oauth.get", app("tv"), "oauth.url"))
			tt.act(t, s, got["user_code"].(string))
			ev := wantErr(t, s.skill.Expect(t, "oauth.token.error."+skillID+"_tv"), tt.code)
			if ev["app_id"] != "tv" {
				t.Errorf("token.error = %v", ev)
			}
			n := len(s.p.DevicePolls())
			s.noTokenEvent(t, "tv")
			st := noErr(t, s.skill.request(t, "oauth.status", map[string]any{}, "oauth.status.response"))
			apps := st["apps"].([]any)
			if a := apps[0].(map[string]any); a["flow"] != nil || a["login"] != "device" {
				t.Errorf("status after the failed login = %v, want no pending login", a)
			}
			if len(s.p.DevicePolls()) != n {
				t.Errorf("polls went on after the login ended")
			}
		})
	}
}

// TestDeviceLoginSurvivesRestart: the daemon restarts while the user is
// entering the code; the new one polls on and finishes the login.
func TestDeviceLoginSurvivesRestart(t *testing.T) {
	t.Parallel()
	s, busURL := deviceSetup(t, oauthtest.Options{})
	got := noErr(t, s.skill.request(t, "oauth.get", app("tv"), "oauth.url"))
	polltest.Until(t, "a first poll", func() bool { return countPolls(s.p, "authorization_pending") > 0 })
	if err := s.d.stop(); err != nil {
		t.Fatal(err)
	}
	before := len(s.p.DevicePolls())
	startDaemon(t, busURL, s.d.dataDir)
	s.skill.Expect(t, "oauth.ping")
	s.p.ApproveDevice(t, got["user_code"].(string))
	s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_tv")))
	if len(s.p.DevicePolls()) <= before {
		t.Errorf("the token came without a poll from the new daemon")
	}
}

func countPolls(p *oauthtest.Provider, code string) int {
	n := 0
	for _, poll := range p.DevicePolls() {
		if poll.Error == code {
			n++
		}
	}
	return n
}

// TestCLIDeviceLogin: "ovos-oauth login" for a device login prints, under
// the terminal QR code, the address to open and the code to enter there,
// plainly, and finishes when the user entered that code.
func TestCLIDeviceLogin(t *testing.T) {
	t.Parallel()
	s, busURL := deviceSetup(t, oauthtest.Options{})
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"login", skillID, "tv", "--bus-url", busURL}, cliEnv(t), &stdout, &stderr)
	}()
	out := stdout.waitFor(t, "Waiting for the login")
	m := regexp.MustCompile(`(?m)^Open (\S+) and enter the code (\S+)$`).FindStringSubmatchIndex(out)
	if m == nil {
		t.Fatalf("no line \"Open ADDRESS and enter the code CODE\" in:\n%s", out)
	}
	address, code := out[m[2]:m[3]], out[m[4]:m[5]]
	issuer := strings.TrimSuffix(s.p.Issuer, "/")
	if !strings.HasPrefix(address, issuer) {
		t.Errorf("address %q, want the provider's verification URI (%s…)", address, issuer)
	}
	qrAt := strings.Index(out, "\x1b[")
	if qrAt < 0 || qrAt > m[0] {
		t.Errorf("the address and the code are not under the QR code:\n%s", out)
	}
	link := decodeTerminalQR(t, out)
	if !strings.HasPrefix(link, address) {
		t.Errorf("the terminal QR code reads %q, want the verification URI %s", link, address)
	}
	s.p.ApproveDevice(t, code)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("login = %v\n%s%s", err, stdout.String(), stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("login did not return after the user entered the code:\n%s", stdout.String())
	}
	if !strings.Contains(stdout.String(), "Logged in.") {
		t.Errorf("no success line:\n%s", stdout.String())
	}
}

// TestDeviceQRInLang: the words beside a device login's code are in the
// language the device speaks.
func TestDeviceQRInLang(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	d := startDaemon(t, busURL, t.TempDir(), "--lang", "de-de")
	s := &setup{d: d, p: oauthtest.StartWith(t, oauthtest.Options{DevicePollInterval: time.Second}, oauthtest.Client{ID: "tv", Secret: secret}), skill: newSkill(t, busURL, skillID)}
	s.register(t, "tv", "tv", secret, map[string]any{"device_endpoint": s.p.DeviceEndpoint})
	qr := noErr(t, s.skill.request(t, "oauth.generate.qr.request", app("tv"), "oauth.generate.qr.response"))
	png, err := os.ReadFile(qr["qr"].(string))
	if err != nil {
		t.Fatal(err)
	}
	link, _ := qr["verification_uri_complete"].(string)
	if link == "" {
		link, _ = qr["verification_uri"].(string)
	}
	de := i18n.For("de-de")
	caption := qrimage.Caption{Address: qr["verification_uri"].(string), Code: qr["user_code"].(string), Open: de.Text(i18n.QRGoTo), Enter: de.Text(i18n.QREnterCode)}
	if caption.Open == i18n.For("en").Text(i18n.QRGoTo) {
		t.Fatalf("the German words are the English ones: %q", caption.Open)
	}
	want, err := qrimage.EncodeCaptioned(link, caption, qrimage.DefaultDirSize)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(png, want) {
		t.Errorf("the image (%d bytes) is not the QR code captioned in German, %q … %q (%d bytes)", len(png), caption.Open, caption.Enter, len(want))
	}
}
