package main

import (
	"image"
	_ "image/png"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
)

const (
	skillID = "skill-demo.test"
	secret  = "s3cr3t-client-secret"
)

// setup starts a bus, a daemon on it and a provider that knows the given
// clients, whose redirect URIs are the daemon's callbacks for apps.
type setup struct {
	d     *runningDaemon
	p     *oauthtest.Provider
	skill *skill
}

func newSetup(t *testing.T, clients map[string]string, apps ...string) *setup {
	t.Helper()
	return newSetupHub(t, nil, clients, apps...)
}

// newSetupHub is newSetup on a bus whose Hub configure, if not nil, sets
// up before it serves (bustest.StartHub).
func newSetupHub(t *testing.T, configure func(*bus.Hub), clients map[string]string, apps ...string) *setup {
	t.Helper()
	var hubSetup []func(*bus.Hub)
	if configure != nil {
		hubSetup = append(hubSetup, configure)
	}
	busURL, _ := bustest.StartHub(t, hubSetup...)
	d := startDaemon(t, busURL, t.TempDir())
	var cs []oauthtest.Client
	for id, sec := range clients {
		var uris []string
		for _, app := range apps {
			uris = append(uris, d.baseURL+"/auth/callback/"+skillID+"_"+app)
		}
		cs = append(cs, oauthtest.Client{ID: id, Secret: sec, RedirectURIs: uris})
	}
	return &setup{d: d, p: oauthtest.Start(t, cs...), skill: newSkill(t, busURL, skillID)}
}

func (s *setup) register(t *testing.T, appID, clientID, clientSecret string, extra map[string]any) map[string]any {
	t.Helper()
	data := map[string]any{
		"skill_id": skillID, "app_id": appID,
		"auth_endpoint": s.p.AuthEndpoint, "token_endpoint": s.p.TokenEndpoint,
		"scope": "openid offline_access",
	}
	if clientID != "" {
		data["client_id"] = clientID
	}
	if clientSecret != "" {
		data["client_secret"] = clientSecret
	}
	for k, v := range extra {
		data[k] = v
	}
	return noErr(t, s.skill.request(t, "oauth.register", data, "oauth.register.response"))
}

func app(appID string) map[string]any { return map[string]any{"skill_id": skillID, "app_id": appID} }

// checkToken checks a token event's data: an access token the provider
// accepts, and no refresh token on the bus.
func (s *setup) checkToken(t *testing.T, d map[string]any) string {
	t.Helper()
	at, _ := d["access_token"].(string)
	if at == "" {
		t.Fatalf("token without access_token: %v", keys(d))
	}
	if _, ok := d["refresh_token"]; ok {
		t.Errorf("refresh_token on the bus")
	}
	if _, ok := d["expires_at"].(float64); !ok {
		t.Errorf("expires_at = %#v, want a float", d["expires_at"])
	}
	if d["token_type"] == nil {
		t.Errorf("no token_type")
	}
	if got := s.p.Userinfo(t, at); got != http.StatusOK {
		t.Errorf("userinfo with the bus's access token: status %d, want 200", got)
	}
	return at
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestLoginConfidentialClientViaGetURL(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{"web": secret}, "demoapp")
	reg := s.register(t, "demoapp", "web", secret, nil)
	if reg["munged_id"] != skillID+"_demoapp" || reg["client_id"] != "web" || reg["needs_creds"] != false {
		t.Fatalf("oauth.register.response = %v", reg)
	}

	got := noErr(t, s.skill.request(t, "oauth.get", app("demoapp"), "oauth.url"))
	authURL, _ := got["url"].(string)
	u, err := url.Parse(authURL)
	if err != nil || !strings.HasPrefix(authURL, s.p.AuthEndpoint+"?") {
		t.Fatalf("oauth.url url = %q, want the provider's authorization endpoint", authURL)
	}
	q := u.Query()
	want := map[string]string{
		"response_type":         "code",
		"client_id":             "web",
		"redirect_uri":          s.d.baseURL + "/auth/callback/" + skillID + "_demoapp",
		"scope":                 "openid offline_access",
		"code_challenge_method": "S256",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("authorization URL %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(q.Get("state")) < 32 || len(q.Get("code_challenge")) != 43 {
		t.Errorf("state %q / code_challenge %q: want a random state and an S256 challenge", q.Get("state"), q.Get("code_challenge"))
	}
	if q.Get("state") == skillID+"_demoapp" {
		t.Errorf("state is the munged id (upstream defect)")
	}
	if strings.Contains(authURL, secret) {
		t.Errorf("client secret in the authorization URL")
	}

	resp, body := s.p.Login(t, authURL)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "logged in") {
		t.Fatalf("callback page: status %d, body %q", resp.StatusCode, body)
	}
	for _, leak := range []string{q.Get("state"), resp.Request.URL.Query().Get("code")} {
		if leak != "" && strings.Contains(body, leak) {
			t.Errorf("callback page echoes the state or code")
		}
	}
	tok := dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_demoapp"))
	s.checkToken(t, tok)
	if tok["scope"] == nil {
		t.Errorf("token event without scope")
	}
}

func TestLoginPublicClientViaQRShortLink(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{"native": ""}, "pub")
	reg := s.register(t, "pub", "native", "", nil)
	if reg["needs_creds"] != false {
		t.Fatalf("register: %v", reg)
	}
	got := noErr(t, s.skill.request(t, "oauth.generate.qr.request", app("pub"), "oauth.generate.qr.response"))
	path, _ := got["qr"].(string)
	if !filepath.IsAbs(path) || strings.Contains(filepath.Base(path), "pub") || strings.Contains(path, skillID) {
		t.Fatalf("qr = %q, want an absolute path not named from the request", path)
	}
	shown := dataOf(t, s.skill.expectFor(t, "ovos.shell.oauth.display.qr.code", app("pub")))
	if shown["qr"] != path {
		t.Errorf("display.qr.code qr = %v, want %v", shown["qr"], path)
	}

	link := decodeQR(t, path)
	if !strings.HasPrefix(link, s.d.baseURL+"/auth/start/") || len(link) > 100 {
		t.Fatalf("QR code holds %q, want a short link to %s/auth/start/", link, s.d.baseURL)
	}
	resp, body := s.p.Login(t, link)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "logged in") {
		t.Fatalf("callback page: status %d, body %q", resp.StatusCode, body)
	}
	s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_pub")))
}

func decodeQR(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open QR image: %v", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("decode QR PNG: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	// The image is a bare code on a plain background, as drawn.
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		t.Fatalf("read QR code: %v", err)
	}
	return res.GetText()
}

// TestLoginViaShellForward: the app has no client id; ovos-shell asks the
// user for one, opens the login in its browser, and forwards the URL its
// browser lands on instead of letting it load.
func TestLoginViaShellForward(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{"typed-id": "typed-secret"}, "nocreds")
	reg := s.register(t, "nocreds", "", "", nil)
	if reg["needs_creds"] != true || reg["client_id"] != nil {
		t.Fatalf("register without client_id = %v, want needs_creds and client_id null", reg)
	}
	start := noErr(t, s.skill.request(t, "oauth.start", app("nocreds"), "ovos.shell.oauth.start.authentication"))
	if start["needs_credentials"] != true {
		t.Fatalf("oauth.start = %v, want needs_credentials", start)
	}
	creds := app("nocreds")
	creds["client_id"], creds["client_secret"] = "typed-id", "typed-secret"
	start = noErr(t, s.skill.request(t, "ovos.shell.oauth.register.credentials", creds, "ovos.shell.oauth.start.authentication"))
	if start["needs_credentials"] != false {
		t.Errorf("after credentials: needs_credentials = %v, want false (upstream defect)", start["needs_credentials"])
	}
	authURL, _ := start["url"].(string)
	if !strings.Contains(authURL, "client_id=typed-id") || strings.Contains(authURL, "typed-secret") {
		t.Fatalf("start url = %q, want the typed client id and no secret", authURL)
	}

	phone := noRedirect(s.p.Phone(t), hostOf(t, s.d.baseURL))
	resp, _ := s.p.LoginWith(t, phone, authURL)
	landed := resp.Header.Get("Location")
	if resp.StatusCode/100 != 3 || !strings.HasPrefix(landed, s.d.baseURL+"/auth/callback/") {
		t.Fatalf("provider answered %d to %q, want a redirect to the callback", resp.StatusCode, landed)
	}
	fwd := app("nocreds")
	fwd["redirectURL"] = landed
	got := noErr(t, s.skill.request(t, "ovos.shell.oauth.authentication.forward", fwd, "ovos.shell.oauth.authentication.forward.response"))
	if got["authorized"] != true {
		t.Fatalf("forward reply = %v", got)
	}
	s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_nocreds")))

	// Registering again without credentials, as the skill does on every
	// start, keeps what the user typed.
	reg = s.register(t, "nocreds", "", "", nil)
	if reg["needs_creds"] != false || reg["client_id"] != "typed-id" {
		t.Errorf("re-register = %v, want the typed credentials kept", reg)
	}
}

func TestRefreshAndRestartKeepTokens(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	dataDir := t.TempDir()
	d := startDaemon(t, busURL, dataDir)
	p := oauthtest.Start(t, oauthtest.Client{ID: "web", Secret: secret, RedirectURIs: []string{d.baseURL + "/auth/callback/" + skillID + "_demoapp"}})
	s := &setup{d: d, p: p, skill: newSkill(t, busURL, skillID)}
	s.register(t, "demoapp", "web", secret, nil)
	authURL := noErr(t, s.skill.request(t, "oauth.get", app("demoapp"), "oauth.url"))["url"].(string)
	p.Login(t, authURL)
	first := s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_demoapp")))

	ref := noErr(t, s.skill.request(t, "oauth.refresh", app("demoapp"), "oauth.refresh.response"))
	if ref["result"] != "Ok" || ref["client_id"] != "web" {
		t.Fatalf("oauth.refresh.response = %v", ref)
	}
	tok, _ := ref["token"].(map[string]any)
	second := s.checkToken(t, tok)
	if second == first {
		t.Errorf("oauth.refresh returned the old access token")
	}

	if err := d.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	d2 := startDaemon(t, busURL, dataDir)
	s.skill.Expect(t, "oauth.ping")
	_ = d2
	got := noErr(t, s.skill.request(t, "oauth.token.get", app("demoapp"), "oauth.token.get.response"))
	if got["access_token"] != second {
		t.Errorf("after restart oauth.token.get gave another token than the last one")
	}
	ref = noErr(t, s.skill.request(t, "oauth.refresh", app("demoapp"), "oauth.refresh.response"))
	if ref["result"] != "Ok" {
		t.Fatalf("refresh after restart = %v", ref)
	}
	s.checkToken(t, ref["token"].(map[string]any))
}
