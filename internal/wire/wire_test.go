package wire_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/wire"
)

func TestTokenGetReplyIsFlat(t *testing.T) {
	in := wire.TokenGetReply{
		AppRef: wire.AppRef{SkillID: "s", AppID: "a"},
		Token: wire.Token{AccessToken: "at", TokenType: "Bearer", ExpiresIn: 3600, ExpiresAt: 1700000000.5, Scope: "x y",
			Extra: map[string]any{"id_token": "idt", "refresh_token": "never"}},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var flat map[string]any
	if err := json.Unmarshal(b, &flat); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"skill_id": "s", "app_id": "a", "access_token": "at", "token_type": "Bearer",
		"expires_in": 3600.0, "expires_at": 1700000000.5, "scope": "x y", "id_token": "idt"}
	if !reflect.DeepEqual(flat, want) {
		t.Errorf("marshalled %s, want the fields %v (and never the refresh token)", b, want)
	}
	var out wire.TokenGetReply
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	in.Extra = map[string]any{"id_token": "idt"}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("round trip = %+v, want %+v", out, in)
	}
}

func TestFailedReplies(t *testing.T) {
	var r wire.TokenGetReply
	r.SetRef(wire.AppRef{SkillID: "s", AppID: "a"})
	r.SetError("not_authorized", "log in first")
	b, _ := json.Marshal(r)
	var back wire.TokenGetReply
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	var re *wire.ReplyError
	if err := back.Err(); !errors.As(err, &re) || re.Code != "not_authorized" || err.Error() != "not_authorized: log in first" {
		t.Errorf("Err() = %v from %s", err, b)
	}
	if back.Extra != nil {
		t.Errorf("error fields taken for token fields: %v", back.Extra)
	}

	var ref wire.RefreshReply
	ref.SetError("busy", "")
	b, _ = json.Marshal(ref)
	if string(b) != `{"result":"Error","client_id":null,"token":null,"error":"busy"}` {
		t.Errorf("failed refresh = %s", b)
	}
	var ok wire.HostInfoReply
	if ok.Err() != nil {
		t.Error("a reply without error reports one")
	}
}

func TestScopeReadsAStringOrAList(t *testing.T) {
	for in, want := range map[string]wire.Scope{`{"scope":"a b"}`: "a b", `{"scope":["a","b"]}`: "a b", `{}`: ""} {
		var r wire.RegisterRequest
		if err := json.Unmarshal([]byte(in), &r); err != nil || r.Scope != want {
			t.Errorf("%s: scope %q, %v; want %q", in, r.Scope, err, want)
		}
	}
	var r wire.RegisterRequest
	var te *json.UnmarshalTypeError
	if err := json.Unmarshal([]byte(`{"scope":42}`), &r); !errors.As(err, &te) || te.Field != "scope" {
		t.Errorf("scope 42: %v, want a type error naming scope", err)
	}
}

func TestReplyTypes(t *testing.T) {
	for typ, want := range map[string][]string{
		wire.TypeGet:      {wire.TypeURL},
		wire.TypeRegister: {"oauth.register.response"},
		wire.TypeStart:    {wire.TypeShellStart, "oauth.start.response"},
		wire.TypeQR:       {wire.TypeQRReply},
		"oauth.url":       nil,
	} {
		if got := wire.ReplyTypes(typ); !reflect.DeepEqual(got, want) {
			t.Errorf("ReplyTypes(%q) = %v, want %v", typ, got, want)
		}
	}
}
