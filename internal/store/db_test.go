package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// zone is not UTC nor Local, so a round trip that dropped the offset or
// compared times with == would show.
var zone = time.FixedZone("UTC+2", 2*60*60)

// equateTimes compares times by instant: JSON keeps the instant and offset
// but not the *time.Location or the monotonic reading.
var equateTimes = cmp.Comparer(func(x, y time.Time) bool { return x.Equal(y) })

func at(minute int) time.Time {
	return time.Date(2025, 3, 1, 10, minute, 7, 123456789, zone)
}

func fullApp(skillID, appID string) *oauth.App {
	return &oauth.App{
		SkillID:            skillID,
		AppID:              appID,
		ClientID:           "client-" + appID,
		ClientSecret:       oauth.Secret("client-secret-" + appID),
		AuthEndpoint:       "https://provider.example/authorize",
		TokenEndpoint:      "https://provider.example/token",
		DeviceEndpoint:     "https://provider.example/device",
		RevocationEndpoint: "https://provider.example/revoke",
		Scope:              "read write",
		ShellIntegration:   true,
		TokenAuth:          oauth.TokenAuthBasic,
		PKCE:               true,
		AuthParams:         map[string]string{"access_type": "offline", "prompt": "consent"},
		RedirectURI:        "https://relay.example/cb",
		Login:              oauth.LoginRelay,
		RelayURL:           "https://relay.example/app",
		ScopeSeparator:     ",",
		Provider:           "strava",
		CredsFromUser:      true,
		NeedsReauth:        true,
		ReauthReason:       "invalid_grant",
		Created:            at(0),
		Updated:            at(1),
	}
}

func fullToken(access string) *oauth.Token {
	return &oauth.Token{
		AccessToken:  oauth.Secret(access),
		TokenType:    "Bearer",
		RefreshToken: oauth.Secret("refresh-" + access),
		Expiry:       at(60),
		Scope:        "read write",
		Raw: map[string]any{
			"access_token": access,
			"expires_in":   float64(3600), // JSON numbers decode as float64
			"id_token":     "eyJ.x.y",
			"extra":        map[string]any{"nested": true, "list": []any{"a", float64(1)}},
		},
		Obtained:      at(0),
		RefreshExpiry: at(86400),
		LoginAt:       at(-60),
		ReauthWarned:  at(30),
	}
}

func fullFlow(id, mungedID string, created time.Time) *oauth.Flow {
	return &oauth.Flow{
		ID:          id,
		Kind:        oauth.FlowCode,
		MungedID:    mungedID,
		ClientID:    "client-" + id,
		TokenEnd:    "https://provider.example/token",
		Binding:     "binding-" + id,
		State:       oauth.Secret("state-" + id),
		Verifier:    oauth.Secret("verifier-" + id),
		RedirectURI: "http://192.168.1.2:36536/auth/callback/" + mungedID,
		AuthURL:     "https://provider.example/authorize?state=state-" + id,
		Created:     created,
		Expires:     created.Add(10 * time.Minute),
		// A code flow has none of these; set so the round trip covers them.
		DeviceCode:              oauth.Secret("device-code-" + id),
		UserCode:                "WDJB-MJHT",
		VerificationURI:         "https://provider.example/device",
		VerificationURIComplete: "https://provider.example/device?user_code=WDJB-MJHT",
		Interval:                5 * time.Second,
		SetupKey:                oauth.Secret("setup-key-" + id),
	}
}

// checkAllSet fails the test if a field of the struct v points to is zero, so
// a field added to an oauth type is not silently left out of a round trip.
func checkAllSet(t *testing.T, v any) {
	t.Helper()
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		if rv.Field(i).IsZero() {
			t.Errorf("fixture %T leaves %s zero; set every field", v, rv.Type().Field(i).Name)
		}
	}
}

// writeRaw creates a bbolt file at path, or changes the closed one there,
// with whatever fill writes, bypassing the store.
func writeRaw(t *testing.T, path string, fill func(*bolt.Tx) error) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(fill); err != nil {
		t.Fatal(err)
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}
}

// readMeta returns the meta bucket's value for key in the closed store file.
func readMeta(t *testing.T, path, key string) string {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var v string
	err = bdb.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("meta"))
		if b == nil {
			return errors.New("no meta bucket")
		}
		v = string(b.Get([]byte(key)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestOpenModes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "oauth.db")
	storetest.Open(t, storetest.Path(path))

	if got := fileMode(t, dir); got != 0o700 {
		t.Errorf("dir mode = %v, want %v", got, os.FileMode(0o700))
	}
	if got := fileMode(t, path); got != 0o600 {
		t.Errorf("file mode = %v, want %v", got, os.FileMode(0o600))
	}
}

func TestOpenFixesLooseFileMode(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	db := storetest.Open(t, storetest.Path(path))
	if err := db.PutApp(fullApp("skill", "app"), false); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}

	db = storetest.Open(t, storetest.Path(path))
	if got := fileMode(t, path); got != 0o600 {
		t.Errorf("file mode after reopen = %v, want %v", got, os.FileMode(0o600))
	}
	if _, err := db.App("skill_app"); err != nil {
		t.Errorf("App() after reopen = %v", err)
	}
}

func TestOpenLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	storetest.Open(t, storetest.Path(path))

	second := store.New(path)
	second.Timeout = 100 * time.Millisecond
	err := second.Open()
	if err == nil {
		second.Close()
		t.Fatal("second Open() = nil, want a lock error")
	}
	for _, want := range []string{path, "locked", "another ovos-oauth may be running"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("second Open() = %q, want it to mention %q", err, want)
		}
	}
	if !errors.Is(err, bolterrors.ErrTimeout) {
		t.Errorf("second Open() = %v, want it to wrap bbolt's ErrTimeout", err)
	}
	if err := second.Close(); err != nil {
		t.Errorf("Close() after failed Open = %v", err)
	}
}

func TestOpenSchema(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fill    func(*bolt.Tx) error // nil: no file before Open
		wantErr string               // "" when Open must succeed
	}{
		{name: "new file"},
		{
			name: "empty bbolt file",
			fill: func(*bolt.Tx) error { return nil },
		},
		{
			name: "plain version 1, sealed in place",
			fill: putMeta("schema_version", "1"),
		},
		{
			name:    "newer version",
			fill:    putMeta("schema_version", "4"),
			wantErr: "schema version 4 is newer",
		},
		{
			name:    "unreadable version",
			fill:    putMeta("schema_version", "one"),
			wantErr: "unreadable schema version",
		},
		{
			name: "data without version",
			fill: func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket([]byte("apps"))
				if err != nil {
					return err
				}
				return b.Put([]byte("skill_app"), []byte("{}"))
			},
			wantErr: "no schema version",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "oauth.db")
			if tt.fill != nil {
				writeRaw(t, path, tt.fill)
			}
			db := store.New(path)
			err := db.Open()
			if err := db.Close(); err != nil {
				t.Errorf("Close() = %v", err)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open() = %v, want an error containing %q", err, tt.wantErr)
				}
				if _, err := os.Stat(db.KeyFile); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("refused Open() made a key file (Stat = %v)", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open() = %v", err)
			}
			if got := readMeta(t, path, "schema_version"); got != "3" {
				t.Errorf("schema_version = %q, want %q", got, "3")
			}
		})
	}
}

func putMeta(key, value string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("meta"))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), []byte(value))
	}
}

func TestOpenRefusesNewerSchemaWithoutWriting(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	writeRaw(t, path, putMeta("schema_version", "4"))
	err := store.New(path).Open()
	if err == nil {
		t.Fatal("Open() = nil, want a downgrade error")
	}
	if e, ok := errors.AsType[*store.NewerError](err); !ok || e.Path != path || e.Version != 4 || e.Known != 3 {
		t.Errorf("Open() = %#v, want a *NewerError of %s, version 4, known 3", err, path)
	}
	if got := readMeta(t, path, "schema_version"); got != "4" {
		t.Errorf("schema_version after refused Open = %q, want %q", got, "4")
	}
	if got := readMeta(t, path, "created"); got != "" {
		t.Errorf("created after refused Open = %q, want none", got)
	}
}

func TestOpenStampsCreated(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	db := storetest.Open(t, storetest.Path(path), storetest.Setup(func(db *store.DB) { db.Now = func() time.Time { return at(0) } }))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// A reopen must not restamp it.
	db.Now = func() time.Time { return at(30) }
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	want := at(0).UTC().Format(time.RFC3339Nano)
	if got := readMeta(t, path, "created"); got != want {
		t.Errorf("created = %q, want %q", got, want)
	}
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	db := storetest.Open(t, storetest.Path(path))
	app, tok := fullApp("skill", "app"), fullToken("access")
	flow := fullFlow("f1", "skill_app", at(0))
	if err := db.PutApp(app, false); err != nil {
		t.Fatal(err)
	}
	if err := db.PutToken("skill_app", tok); err != nil {
		t.Fatal(err)
	}
	if err := db.PutFlow(flow, 0); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = storetest.Open(t, storetest.Path(path))
	gotApp, err := db.App("skill_app")
	if err != nil {
		t.Fatalf("App() = %v", err)
	}
	if diff := cmp.Diff(gotApp, app, equateTimes); diff != "" {
		t.Errorf("App() mismatch (-got +want):\n%s", diff)
	}
	gotTok, err := db.Token("skill_app")
	if err != nil {
		t.Fatalf("Token() = %v", err)
	}
	if diff := cmp.Diff(gotTok, tok, equateTimes); diff != "" {
		t.Errorf("Token() mismatch (-got +want):\n%s", diff)
	}
	gotFlow, err := db.TakeFlow(flow.State.Reveal())
	if err != nil {
		t.Fatalf("TakeFlow() = %v", err)
	}
	if diff := cmp.Diff(gotFlow, flow, equateTimes); diff != "" {
		t.Errorf("TakeFlow() mismatch (-got +want):\n%s", diff)
	}
}

func TestOpenTwice(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	if err := db.Open(); err == nil || !strings.Contains(err.Error(), "already open") {
		t.Errorf("second Open() = %v, want an already-open error", err)
	}
}

func TestOpenNotBbolt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a bbolt file\n", 512)), 0o600); err != nil {
		t.Fatal(err)
	}
	db := store.New(path)
	err := db.Open()
	if err == nil {
		db.Close()
		t.Fatal("Open() = nil, want an error")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("Open() = %q, want it to name %s", err, path)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	t.Run("never opened", func(t *testing.T) {
		db := store.New(filepath.Join(t.TempDir(), "oauth.db"))
		if err := db.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	t.Run("twice", func(t *testing.T) {
		db := store.New(filepath.Join(t.TempDir(), "oauth.db"))
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if err := db.Close(); err != nil {
				t.Errorf("Close() #%d = %v", i+1, err)
			}
		}
	})
	t.Run("zero value", func(t *testing.T) {
		var db store.DB
		if err := db.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
}

func TestNotOpen(t *testing.T) {
	t.Parallel()
	db := store.New(filepath.Join(t.TempDir(), "oauth.db"))
	if _, err := db.App("skill_app"); err == nil || errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("App() on unopened store = %v, want a not-open error", err)
	}
	if err := db.PutApp(fullApp("skill", "app"), false); err == nil {
		t.Error("PutApp() on unopened store = nil, want an error")
	}
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Apps(); err == nil {
		t.Error("Apps() on closed store = nil, want an error")
	}
}
