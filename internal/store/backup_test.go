package store_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// plainApp is an app logged in with the client of fullApp, without the
// marks that need a new login.
func plainApp(skillID, appID string) *oauth.App {
	a := fullApp(skillID, appID)
	a.NeedsReauth, a.ReauthReason = false, ""
	return a
}

func tokenAt(access string, obtained time.Time) *oauth.Token {
	tok := fullToken(access)
	tok.Obtained = obtained
	return tok
}

func deviceLogin(id, mungedID string, created time.Time) *oauth.Flow {
	return &oauth.Flow{ID: id, Kind: oauth.FlowDevice, MungedID: mungedID, ClientID: "client", TokenEnd: "https://provider.example/token",
		DeviceCode: oauth.Secret("dc-" + id), UserCode: "ABCD-EFGH", VerificationURI: "https://provider.example/device",
		Created: created, Expires: created.Add(15 * time.Minute), Interval: 5 * time.Second}
}

func restore(t *testing.T, db *store.DB, apps []store.RestoreApp, force bool, now time.Time) map[string]store.RestoreResult {
	t.Helper()
	res, err := db.Restore(apps, force, now)
	if err != nil {
		t.Fatalf("Restore() = %v", err)
	}
	if len(res) != len(apps) {
		t.Fatalf("Restore() = %d results for %d apps", len(res), len(apps))
	}
	byID := make(map[string]store.RestoreResult)
	for _, r := range res {
		byID[r.MungedID] = r
	}
	return byID
}

func tokenOf(t *testing.T, db *store.DB, id string) *oauth.Token {
	t.Helper()
	tok, err := db.Token(id)
	if err != nil {
		t.Fatalf("Token(%s) = %v", id, err)
	}
	return tok
}

// TestRestoreIntoEmptyStore: every app, token and pending device login
// that has not expired comes back; an expired device login does not.
func TestRestoreIntoEmptyStore(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	a, b := plainApp("s", "a"), plainApp("s", "b")
	b.Login = oauth.LoginDevice
	live, dead := deviceLogin("live", b.MungedID(), at(50)), deviceLogin("dead", b.MungedID(), at(0))
	got := restore(t, db, []store.RestoreApp{
		{App: a, Token: tokenAt("at-a", at(5))},
		{App: b, DeviceLogins: []*oauth.Flow{live, dead}},
	}, false, at(55))
	if r := got[a.MungedID()]; r.Action != store.Restored || !r.AppAdded || !r.TokenRestored {
		t.Errorf("app a: %+v, want restored with its token", r)
	}
	if r := got[b.MungedID()]; r.Action != store.Restored || !r.AppAdded || r.TokenRestored || r.Logins != 1 {
		t.Errorf("app b: %+v, want restored with one device login", r)
	}
	if app, err := db.App(a.MungedID()); err != nil || !cmp.Equal(app, a, equateTimes) {
		t.Errorf("App() = %+v, %v; want the backup's", app, err)
	}
	if diff := cmp.Diff(tokenOf(t, db, a.MungedID()), tokenAt("at-a", at(5)), equateTimes); diff != "" {
		t.Errorf("Token() (-got +want):\n%s", diff)
	}
	flows, err := db.FlowsOf(b.MungedID())
	if err != nil || len(flows) != 1 || flows[0].ID != "live" {
		t.Errorf("FlowsOf() = %v, %v; want the live device login only", flows, err)
	}
	if ids, _ := db.IndexedFlows(b.MungedID()); len(ids) != 1 || ids[0] != "live" {
		t.Errorf("app_flows index = %v, want [live]", ids)
	}
	ids, err := db.TakeUnmirrored()
	if err != nil || !cmp.Equal(ids, []string{a.MungedID(), b.MungedID()}) {
		t.Errorf("TakeUnmirrored() = %v, %v; want both apps", ids, err)
	}
	if ids, err := db.TakeUnmirrored(); err != nil || ids != nil {
		t.Errorf("TakeUnmirrored() again = %v, %v; want none", ids, err)
	}
}

// TestRestoreKeepsNewerTokens: a store's token newer than the backup's is
// kept, unless force; an older one is replaced.
func TestRestoreKeepsNewerTokens(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	newer, older := plainApp("s", "newer"), plainApp("s", "older")
	for _, a := range []*oauth.App{newer, older} {
		if err := db.PutApp(a, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutToken(newer.MungedID(), tokenAt("store-newer", at(30))); err != nil {
		t.Fatal(err)
	}
	if err := db.PutToken(older.MungedID(), tokenAt("store-older", at(10))); err != nil {
		t.Fatal(err)
	}
	backup := []store.RestoreApp{
		{App: newer, Token: tokenAt("backup-newer", at(20))},
		{App: older, Token: tokenAt("backup-older", at(20))},
	}
	got := restore(t, db, backup, false, at(40))
	if r := got[newer.MungedID()]; r.Action != store.Kept || r.TokenRestored || r.Reason != store.ReasonNewer || !r.StoreObtained.Equal(at(30)) {
		t.Errorf("newer: %+v, want kept as newer", r)
	}
	if tok := tokenOf(t, db, newer.MungedID()); tok.AccessToken != "store-newer" {
		t.Errorf("the store's newer token was replaced by the backup's")
	}
	if r := got[older.MungedID()]; r.Action != store.Restored || !r.TokenRestored || r.AppAdded || r.AppReplaced {
		t.Errorf("older: %+v, want its token restored", r)
	}
	if tok := tokenOf(t, db, older.MungedID()); tok.AccessToken != "backup-older" {
		t.Errorf("the store's older token was kept")
	}
	if ids, _ := db.TakeUnmirrored(); !cmp.Equal(ids, []string{older.MungedID()}) {
		t.Errorf("TakeUnmirrored() = %v, want the app whose token was restored", ids)
	}

	got = restore(t, db, backup, true, at(40))
	if r := got[newer.MungedID()]; r.Action != store.Restored || !r.TokenRestored {
		t.Errorf("newer with force: %+v, want restored", r)
	}
	if tok := tokenOf(t, db, newer.MungedID()); tok.AccessToken != "backup-newer" {
		t.Errorf("with force, the backup's token was not restored")
	}
}

// TestRestoreOverRegistrations: an app registered here before the restore
// gets the backup's user-typed credentials and token when it has none; one
// registered with another client keeps its own; another skill's app under
// the same munged id is never touched; a token whose login had ended is not
// restored over a store's app, and a newer token clears a store's mark.
func TestRestoreOverRegistrations(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	backed := plainApp("ocp", "spotify")
	noCreds := *backed
	noCreds.ClientID, noCreds.ClientSecret, noCreds.CredsFromUser = "", "", false
	other := plainApp("skill", "other")
	otherHere := *other
	otherHere.ClientID = "another-client"
	clash := plainApp("a_b", "c") // munged a_b_c
	clashHere := plainApp("a", "b_c")
	ended := plainApp("skill", "ended")
	ended.NeedsReauth = true
	marked := plainApp("skill", "marked")
	markedHere := *marked
	markedHere.NeedsReauth, markedHere.ReauthReason = true, "invalid_grant"
	for _, a := range []*oauth.App{&noCreds, &otherHere, clashHere, plainApp("skill", "ended"), &markedHere} {
		if err := db.PutApp(a, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutToken(otherHere.MungedID(), tokenAt("here", at(1))); err != nil {
		t.Fatal(err)
	}
	if err := db.PutToken(markedHere.MungedID(), tokenAt("dead", at(1))); err != nil {
		t.Fatal(err)
	}
	got := restore(t, db, []store.RestoreApp{
		{App: backed, Token: tokenAt("backed", at(5))},
		{App: other, Token: tokenAt("other", at(5))},
		{App: clash, Token: tokenAt("clash", at(5))},
		{App: ended, Token: tokenAt("ended", at(5))},
		{App: marked, Token: tokenAt("marked", at(5))},
	}, false, at(6))

	if r := got[backed.MungedID()]; r.Action != store.Restored || !r.AppReplaced || !r.TokenRestored {
		t.Errorf("app without credentials here: %+v, want the backup's credentials and token", r)
	}
	if app, _ := db.App(backed.MungedID()); app.ClientID != backed.ClientID || app.ClientSecret != backed.ClientSecret || !app.CredsFromUser {
		t.Errorf("the user's credentials were not restored: client %q", app.ClientID)
	}
	if r := got[other.MungedID()]; r.Action != store.Skipped || r.Reason != store.ReasonOtherClient {
		t.Errorf("app of another client here: %+v, want skipped", r)
	}
	if tokenOf(t, db, other.MungedID()).AccessToken != "here" {
		t.Error("the token of another client was replaced")
	}
	if r := got[clash.MungedID()]; r.Action != store.Skipped || r.Reason != store.ReasonIDTaken || r.OtherSkillID != "a" || r.OtherAppID != "b_c" {
		t.Errorf("munged id of another skill: %+v, want skipped, naming the skill and app that have it", r)
	}
	if app, _ := db.App(clash.MungedID()); app.SkillID != "a" {
		t.Errorf("another skill's app was replaced: %+v", app)
	}
	if _, err := db.Token(clash.MungedID()); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("another skill's app got the backup's token: %v", err)
	}
	if r := got[ended.MungedID()]; r.Action != store.Kept || r.TokenRestored || r.Reason != store.ReasonLoginEnded {
		t.Errorf("backup whose login had ended: %+v, want kept", r)
	}
	if r := got[marked.MungedID()]; !r.TokenRestored {
		t.Errorf("newer token over a store's app needing a login: %+v, want restored", r)
	}
	if app, _ := db.App(marked.MungedID()); app.NeedsReauth || app.ReauthReason != "" {
		t.Errorf("the store's mark outlived the token it was about: %+v", app)
	}

	// With force, the backup's registration and token take over.
	restore(t, db, []store.RestoreApp{{App: other, Token: tokenAt("other", at(5))}}, true, at(6))
	if app, _ := db.App(other.MungedID()); app.ClientID != other.ClientID || tokenOf(t, db, other.MungedID()).AccessToken != "other" {
		t.Errorf("with force: client %q, want the backup's with its token", app.ClientID)
	}
}

// TestRestoreIsAllOrNothing: a restore that fails part-way leaves the
// store as it was.
func TestRestoreIsAllOrNothing(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	_, err := db.Restore([]store.RestoreApp{{App: plainApp("s", "a"), Token: tokenAt("a", at(1))}, {}}, false, at(2))
	if err == nil {
		t.Fatal("Restore() with an app without registration = nil, want an error")
	}
	if apps, _ := db.Apps(); len(apps) != 0 {
		t.Errorf("a failed restore left %d apps", len(apps))
	}
}

// TestCopies: a running store's copy (Copy) and a closed store's
// (CopyFile) open with the key as stores of their own, holding the same
// records; CopyFile fails with ErrLocked while the store is open and never
// changes the file.
func TestCopies(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "oauth.db")
	db := storetest.Open(t, storetest.Path(path))
	app := plainApp("s", "a")
	if err := db.PutApp(app, false); err != nil {
		t.Fatal(err)
	}
	if err := db.PutToken(app.MungedID(), tokenAt("at", at(1))); err != nil {
		t.Fatal(err)
	}
	check := func(name string, data []byte) {
		t.Helper()
		cp := filepath.Join(t.TempDir(), "copy.db")
		if err := os.WriteFile(cp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c := store.New(cp)
		c.KeyFile = db.KeyFile
		if err := c.Open(); err != nil {
			t.Fatalf("%s: Open() of the copy = %v", name, err)
		}
		defer c.Close()
		if tok, err := c.Token(app.MungedID()); err != nil || tok.AccessToken != "at" {
			t.Errorf("%s: the copy's token = %v, %v", name, tok, err)
		}
		if bytes.Contains(data, []byte("client-secret-a")) {
			t.Errorf("%s: the copy holds a secret in the clear", name)
		}
	}

	var buf bytes.Buffer
	var size int64
	if err := db.Copy(func(n int64, file io.WriterTo) error {
		size = n
		_, err := file.WriteTo(&buf)
		return err
	}); err != nil {
		t.Fatalf("Copy() = %v", err)
	}
	if int64(buf.Len()) != size {
		t.Errorf("Copy() wrote %d bytes, said %d", buf.Len(), size)
	}
	check("Copy", buf.Bytes())

	if _, err := store.CopyFile(path, &bytes.Buffer{}, 100*time.Millisecond); !errors.Is(err, store.ErrLocked) {
		t.Errorf("CopyFile() of an open store = %v, want ErrLocked", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if _, err := store.CopyFile(path, &buf, time.Second); err != nil {
		t.Fatalf("CopyFile() = %v", err)
	}
	check("CopyFile", buf.Bytes())
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("CopyFile() changed the file")
	}
	if _, err := store.CopyFile(filepath.Join(dir, "missing.db"), &bytes.Buffer{}, time.Second); err == nil {
		t.Error("CopyFile() of a missing file = nil, want an error")
	}
}
