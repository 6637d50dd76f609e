package oauthtest

import (
	"context"
	"testing"
)

// TestProvidersShareOnlyTheKey: the providers of one process sign with one
// key (newStorage) and share nothing else: a client of one is unknown to
// the other, and a device code one issued means nothing to the other.
func TestProvidersShareOnlyTheKey(t *testing.T) {
	t.Parallel()
	a := startDevice(t, Options{InProcess: true})
	other := testClient{id: web.id, secret: "another-secret", basic: true}
	b := StartWith(t, Options{InProcess: true}, Client{ID: other.id, Secret: other.secret, RedirectURIs: []string{"http://127.0.0.1/callback"}})
	ka, err := a.storage.SigningKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	kb, err := b.storage.SigningKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ka.ID() != kb.ID() || ka.Key() != kb.Key() {
		t.Errorf("two providers sign with keys %s and %s, want the process's one", ka.ID(), kb.ID())
	}

	da := authorize(t, a, web, "openid offline_access")
	if tok := poll(t, b, other, da.DeviceCode); tok.Error == "" {
		t.Errorf("a device code of one provider polled at another = %v, want an error", tok)
	}
	var refused deviceAuth
	if status := native.post(t, b, b.DeviceEndpoint, map[string][]string{"scope": {"openid"}}, &refused); status == 200 || refused.Error == "" {
		t.Errorf("a client of one provider at another: status %d, %+v, want it refused", status, refused)
	}
	// Each still works on its own.
	a.ApproveDevice(t, da.UserCode)
	if tok := poll(t, a, web, da.DeviceCode); tok.Error != "" || a.Userinfo(t, tok.AccessToken) != 200 || b.Userinfo(t, tok.AccessToken) == 200 {
		t.Errorf("the approved code at its provider: %v; want a token it accepts and the other does not", tok)
	}
}
