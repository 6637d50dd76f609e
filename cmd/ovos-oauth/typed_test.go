package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/wire"
)

// requester is a bus client of the tests' own, attached to busURL, for
// wire.Call.
func requester(t *testing.T, busURL string) *bus.Client {
	t.Helper()
	c := bus.NewClient(busURL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx, noFrames{}) }()
	t.Cleanup(func() { cancel(); <-done })
	polltest.Until(t, "the test client to connect", c.Connected)
	return c
}

func callOK[R any, PR interface {
	*R
	wire.Failer
}](t *testing.T, c *bus.Client, typ string, req any) *R {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := wire.Call[R, PR](ctx, c, typ, req)
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	return rep
}

// TestTypedCalls drives every request through bus.Client.Request and the
// reply types of package wire: what the daemon sends decodes into them,
// and each field means what the types say.
func TestTypedCalls(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{"web": secret}, "typed")
	c := requester(t, s.d.busURL)
	ref := wire.AppRef{SkillID: skillID, AppID: "typed"}

	reg := callOK[wire.RegisterReply](t, c, wire.TypeRegister, wire.RegisterRequest{AppRef: ref, ClientID: "web", ClientSecret: secret,
		AuthEndpoint: s.p.AuthEndpoint, TokenEndpoint: s.p.TokenEndpoint, Scope: "openid offline_access"})
	if reg.MungedID != ref.MungedID() || reg.ClientID == nil || *reg.ClientID != "web" || reg.Login != "lan" ||
		reg.RedirectURI != s.d.baseURL+"/auth/callback/"+ref.MungedID() {
		t.Errorf("register = %+v", reg)
	}
	info := callOK[wire.HostInfoReply](t, c, wire.TypeHostInfo, nil)
	if info.Host != "127.0.0.1" || info.Port == 0 {
		t.Errorf("host info = %+v", info)
	}
	qr := callOK[wire.QRReply](t, c, wire.TypeQR, ref)
	if qr.QR == nil || qr.AppRef != ref {
		t.Fatalf("qr = %+v", qr)
	}
	if _, err := os.Stat(*qr.QR); err != nil {
		t.Errorf("qr image: %v", err)
	}
	u := callOK[wire.URLReply](t, c, wire.TypeGet, ref)
	if u.URL == nil || !strings.HasPrefix(*u.URL, s.p.AuthEndpoint+"?") || u.Link == nil || !strings.HasPrefix(*u.Link, s.d.baseURL+"/auth/start/") {
		t.Fatalf("url = %+v", u)
	}
	if got := decodeQR(t, *qr.QR); !strings.HasPrefix(got, s.d.baseURL+"/auth/start/") {
		t.Errorf("the QR image holds %q, want a start link like oauth.url's link", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := wire.Call[wire.TokenGetReply](ctx, c, wire.TypeTokenGet, ref); !isCode(err, "not_authorized") {
		t.Errorf("token.get before the login: %v, want not_authorized", err)
	}
	events, stop := c.Watch(func(typ string) bool { return typ == wire.PrefixTokenResponse+ref.MungedID() }, 1)
	defer stop()
	s.p.Login(t, *u.Link)
	var ev wire.Token
	select {
	case m := <-events:
		if err := m.DecodeData(&ev); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no token event")
	}
	if ev.AccessToken == "" || ev.ExpiresAt == 0 || ev.TokenType == "" {
		t.Errorf("token event = %+v", ev)
	}
	if _, leaked := ev.Extra["refresh_token"]; leaked {
		t.Error("refresh_token on the bus")
	}

	tok := callOK[wire.TokenGetReply](t, c, wire.TypeTokenGet, ref)
	if tok.AccessToken != ev.AccessToken || tok.AppRef != ref {
		t.Errorf("token.get = %+v, want the token of the login", tok)
	}
	ref2 := callOK[wire.RefreshReply](t, c, wire.TypeRefresh, ref)
	if ref2.Result != "Ok" || ref2.Token == nil || ref2.Token.AccessToken == "" || ref2.Token.AccessToken == ev.AccessToken {
		t.Errorf("refresh = %+v, want a new token", ref2)
	}
	if s.p.Userinfo(t, ref2.Token.AccessToken) != 200 {
		t.Error("the refreshed token is not accepted")
	}
	st := callOK[wire.StatusReply](t, c, wire.TypeStatus, wire.StatusRequest{SkillID: skillID})
	if len(st.Apps) != 1 || !st.Apps[0].Authorized || st.Apps[0].ExpiresAt == nil || st.Apps[0].NextRefreshAt == nil {
		t.Errorf("status = %+v", st.Apps)
	}
	// Registered without a revocation endpoint: forgotten here only.
	if rv := callOK[wire.RevokeReply](t, c, wire.TypeRevoke, ref); rv.Revoked || !rv.Forgotten || rv.Reason == "" {
		t.Errorf("revoke = %+v, want the token forgotten, the provider not told, and why", rv)
	}
	if un := callOK[wire.UnregisterReply](t, c, wire.TypeUnregister, ref); !un.Removed {
		t.Errorf("unregister = %+v", un)
	}
	if _, err := wire.Call[wire.URLReply](ctx, c, wire.TypeGet, ref); !isCode(err, "unknown_app") {
		t.Errorf("get after unregister: %v, want unknown_app", err)
	}
}

func isCode(err error, code string) bool {
	re, ok := errors.AsType[*wire.ReplyError](err)
	return ok && re.Code == code
}
