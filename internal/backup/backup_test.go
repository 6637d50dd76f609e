package backup_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/google/go-cmp/cmp"

	"github.com/OpenVoiceOS/ovos-oauth/internal/backup"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// workFactor keeps scrypt cheap in tests; the command uses age's default.
const workFactor = 10

const (
	passphrase   = "correct horse battery staple"
	accessToken  = "at-0123456789"
	refreshToken = "rt-0123456789"
	clientSecret = "cs-0123456789"
)

func sample() *backup.Document {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	app := &oauth.App{SkillID: "ocp", AppID: "spotify", ClientID: "typed-id", ClientSecret: clientSecret, CredsFromUser: true,
		AuthEndpoint: "https://accounts.example/authorize", TokenEndpoint: "https://accounts.example/token", Created: at, Updated: at}
	dev := &oauth.App{SkillID: "skill-tv", AppID: "google", ClientID: "tv", AuthEndpoint: "https://g.example/a", TokenEndpoint: "https://g.example/t",
		DeviceEndpoint: "https://g.example/d", Login: oauth.LoginDevice, Created: at, Updated: at}
	return backup.New([]backup.App{
		{App: app, Token: &oauth.Token{AccessToken: accessToken, RefreshToken: refreshToken, TokenType: "Bearer", Expiry: at.Add(time.Hour), Obtained: at,
			Raw: map[string]any{"scope": "streaming"}}},
		{App: dev, DeviceLogins: []*oauth.Flow{{ID: "flow-1", Kind: oauth.FlowDevice, MungedID: dev.MungedID(), DeviceCode: "dc-secret", UserCode: "ABCD-EFGH",
			VerificationURI: "https://g.example/device", Created: at, Expires: at.Add(15 * time.Minute), Interval: 5 * time.Second}}},
	}, at)
}

func encrypt(t *testing.T, doc *backup.Document, pass string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := backup.Write(&buf, doc, pass, workFactor); err != nil {
		t.Fatalf("Write() = %v", err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	want := sample()
	data := encrypt(t, want, passphrase)
	for _, s := range []string{accessToken, refreshToken, clientSecret, "dc-secret", "typed-id", "spotify"} {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("the encrypted file holds %q in the clear", s)
		}
	}
	got, err := backup.Read(bytes.NewReader(data), passphrase)
	if err != nil {
		t.Fatalf("Read() = %v", err)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Read() (-got +want):\n%s", diff)
	}
}

func TestWrongPassphrase(t *testing.T) {
	t.Parallel()
	data := encrypt(t, sample(), passphrase)
	doc, err := backup.Read(bytes.NewReader(data), passphrase+"!")
	if !errors.Is(err, backup.ErrPassphrase) || doc != nil {
		t.Fatalf("Read() with a wrong passphrase = %v, %v; want ErrPassphrase", doc, err)
	}
	if strings.Contains(err.Error(), passphrase) {
		t.Errorf("the error quotes the passphrase: %v", err)
	}
}

func TestEmptyPassphrase(t *testing.T) {
	t.Parallel()
	if err := backup.Write(&bytes.Buffer{}, sample(), "", workFactor); err == nil {
		t.Error("Write() with an empty passphrase = nil, want an error")
	}
	if _, err := backup.Read(bytes.NewReader(encrypt(t, sample(), passphrase)), ""); err == nil {
		t.Error("Read() with an empty passphrase = nil, want an error")
	}
}

// TestTruncated: a file cut anywhere, in the header or in the payload, is
// refused whole as damaged, never read in part.
func TestTruncated(t *testing.T) {
	t.Parallel()
	data := encrypt(t, sample(), passphrase)
	for _, n := range []int{0, 1, 20, len(data) / 3, len(data) / 2, len(data) - 17, len(data) - 1} {
		doc, err := backup.Read(bytes.NewReader(data[:n]), passphrase)
		if !errors.Is(err, backup.ErrDamaged) || doc != nil {
			t.Errorf("Read() of the first %d of %d bytes = %v, %v; want ErrDamaged", n, len(data), doc, err)
		}
	}
}

func TestChangedByte(t *testing.T) {
	t.Parallel()
	data := encrypt(t, sample(), passphrase)
	data[len(data)-5] ^= 1
	if doc, err := backup.Read(bytes.NewReader(data), passphrase); !errors.Is(err, backup.ErrDamaged) || doc != nil {
		t.Errorf("Read() of a changed file = %v, %v; want ErrDamaged", doc, err)
	}
}

// TestNotABackup: a file encrypted with the passphrase that is not an
// ovos-oauth backup, and one of a newer version, are refused.
func TestNotABackup(t *testing.T) {
	t.Parallel()
	seal := func(plain string) []byte {
		var buf bytes.Buffer
		r, _ := age.NewScryptRecipient(passphrase)
		r.SetWorkFactor(workFactor)
		w, err := age.Encrypt(&buf, r)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(plain))
		w.Close()
		return buf.Bytes()
	}
	for _, tc := range []struct{ name, plain, want string }{
		{"other JSON", `{"hello":"world"}`, "not an ovos-oauth backup"},
		{"not JSON", "PK\x03\x04", "does not decode"},
		{"newer", `{"format":"ovos-oauth backup","version":2,"apps":[]}`, "version 2"},
		{"duplicate", `{"format":"ovos-oauth backup","version":1,"apps":[{"app":{"skill_id":"a","app_id":"b"}},{"app":{"skill_id":"a","app_id":"b"}}]}`, "twice"},
		{"code login", `{"format":"ovos-oauth backup","version":1,"apps":[{"app":{"skill_id":"a","app_id":"b"},"device_logins":[{"id":"x","kind":"code","munged_id":"a_b"}]}]}`, "only device logins"},
	} {
		doc, err := backup.Read(bytes.NewReader(seal(tc.plain)), passphrase)
		if err == nil || doc != nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Read() = %v, %v; want an error saying %q", tc.name, doc, err, tc.want)
		}
	}
}

// FuzzParse: any decrypted content is a document or an error, never a
// crash, and never an error that quotes the content.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"format":"ovos-oauth backup","version":1,"apps":[{"app":{"skill_id":"a","app_id":"b"},"token":{"access_token":"x"}}]}`))
	f.Add([]byte(`{"format":"ovos-oauth backup","version":1,"apps":[{"app":null}]}`))
	f.Add([]byte(`{"apps":[{"device_logins":[null]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := backup.Parse(data)
		if (doc == nil) == (err == nil) {
			t.Fatalf("Parse() = %v, %v: want exactly one", doc, err)
		}
		if doc != nil {
			for _, a := range doc.Apps {
				_ = a.App.MungedID()
			}
		}
	})
}
