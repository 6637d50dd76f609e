package store_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/seal"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	bolt "go.etcd.io/bbolt"
)

// fixture is a store's worth of records, as a test writes them and expects
// them back.
type fixture struct {
	apps   []*oauth.App
	tokens map[string]*oauth.Token
	flows  []*oauth.Flow
}

// newFixture makes n apps, a token for each, a code flow for each and a
// device flow for every third, each secret distinct.
func newFixture(n int) fixture {
	fx := fixture{tokens: map[string]*oauth.Token{}}
	for i := range n {
		app := fullApp("skill-x.openvoiceos", fmt.Sprintf("app%03d", i))
		app.ClientSecret = oauth.Secret(fmt.Sprintf("client-secret-%03d-kJ8sQ2", i))
		fx.apps = append(fx.apps, app)
		tok := fullToken(fmt.Sprintf("access-token-%03d-Zx81pQ", i))
		tok.Raw["access_token"] = tok.AccessToken.Reveal()
		fx.tokens[app.MungedID()] = tok
		f := fullFlow(fmt.Sprintf("flow-%03d", i), app.MungedID(), at(i%60))
		f.State = oauth.Secret(fmt.Sprintf("state-%03d-Qm3vT9w2", i))
		f.Verifier = oauth.Secret(fmt.Sprintf("verifier-%03d-Yh7Lr0", i))
		f.DeviceCode = ""
		f.AuthURL = "https://provider.example/authorize"
		fx.flows = append(fx.flows, f)
		if i%3 == 0 {
			d := fullFlow(fmt.Sprintf("device-%03d", i), app.MungedID(), at(i%60))
			d.Kind, d.State, d.Verifier = oauth.FlowDevice, "", ""
			d.DeviceCode = oauth.Secret(fmt.Sprintf("device-code-%03d-Pw4nB6", i))
			d.AuthURL = ""
			fx.flows = append(fx.flows, d)
		}
	}
	return fx
}

// secrets lists every secret the fixture holds.
func (fx fixture) secrets() []string {
	var s []string
	for _, a := range fx.apps {
		s = append(s, a.ClientSecret.Reveal())
	}
	for _, t := range fx.tokens {
		s = append(s, t.AccessToken.Reveal(), t.RefreshToken.Reveal())
	}
	for _, f := range fx.flows {
		for _, v := range []oauth.Secret{f.State, f.Verifier, f.DeviceCode} {
			if v != "" {
				s = append(s, v.Reveal())
			}
		}
	}
	return s
}

// put writes the fixture through the store.
func (fx fixture) put(t *testing.T, db *store.DB) {
	t.Helper()
	for _, a := range fx.apps {
		if err := db.PutApp(a, false); err != nil {
			t.Fatal(err)
		}
		if err := db.PutToken(a.MungedID(), fx.tokens[a.MungedID()]); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range fx.flows {
		if err := db.PutFlow(f, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// check reads every record back from db, by id and by state.
func (fx fixture) check(t *testing.T, db *store.DB) {
	t.Helper()
	apps, err := db.Apps()
	if err != nil {
		t.Fatalf("Apps() = %v", err)
	}
	if diff := cmp.Diff(apps, fx.apps, equateTimes); diff != "" {
		t.Errorf("Apps() mismatch (-got +want):\n%s", diff)
	}
	toks, err := db.Tokens()
	if err != nil {
		t.Fatalf("Tokens() = %v", err)
	}
	if diff := cmp.Diff(toks, fx.tokens, equateTimes); diff != "" {
		t.Errorf("Tokens() mismatch (-got +want):\n%s", diff)
	}
	for _, want := range fx.flows {
		got, err := db.Flow(want.ID)
		if err != nil {
			t.Errorf("Flow(%s) = %v", want.ID, err)
			continue
		}
		if diff := cmp.Diff(got, want, equateTimes); diff != "" {
			t.Errorf("Flow(%s) mismatch (-got +want):\n%s", want.ID, diff)
		}
		if want.State == "" {
			continue
		}
		got, err = db.FlowByState(want.State.Reveal())
		if err != nil || got.ID != want.ID {
			t.Errorf("FlowByState(state of %s) = %v, %v; want the flow", want.ID, got, err)
		}
	}
	// Each app's flows are in the app_flows index, and nothing else is.
	byApp := map[string][]string{}
	for _, f := range fx.flows {
		byApp[f.MungedID] = append(byApp[f.MungedID], f.ID)
	}
	for _, a := range fx.apps {
		got, err := db.IndexedFlows(a.MungedID())
		if err != nil {
			t.Fatalf("IndexedFlows(%s) = %v", a.MungedID(), err)
		}
		want := byApp[a.MungedID()]
		slices.Sort(want)
		if diff := cmp.Diff(got, want, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("indexed flows of %s mismatch (-got +want):\n%s", a.MungedID(), diff)
		}
	}
}

// checkNoSecrets fails for every secret the file's bytes hold.
func checkNoSecrets(t *testing.T, path string, secrets []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkBytesHoldNone(t, path, data, secrets)
}

func checkBytesHoldNone(t *testing.T, what string, data []byte, secrets []string) {
	t.Helper()
	if len(secrets) == 0 {
		t.Fatal("no secrets to look for")
	}
	for _, s := range secrets {
		if len(s) < 8 {
			t.Fatalf("secret %q is too short to grep for", s)
		}
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("%s holds the secret %q in the clear", what, s)
		}
	}
}

// checkHoldsAll fails unless the file's bytes hold every secret: the grep
// finds what it looks for.
func checkHoldsAll(t *testing.T, path string, secrets []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if !bytes.Contains(data, []byte(s)) {
			t.Fatalf("%s lacks %q before sealing: the test would prove nothing", path, s)
		}
	}
}

// writePlainV1 writes a schema version 1 store, as the releases before
// sealing wrote it: the JSON of the oauth types in the clear, and the states
// themselves as keys of flow_states.
func writePlainV1(t *testing.T, path string, fx fixture) {
	t.Helper()
	writeRaw(t, path, func(tx *bolt.Tx) error {
		bk := map[string]*bolt.Bucket{}
		for _, name := range []string{"apps", "tokens", "flows", "flow_states", "meta"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			bk[name] = b
		}
		put := func(bucket, key string, v any) error {
			data, err := json.Marshal(v)
			if err != nil {
				return err
			}
			return bk[bucket].Put([]byte(key), data)
		}
		for _, a := range fx.apps {
			if err := put("apps", a.MungedID(), a); err != nil {
				return err
			}
		}
		for id, tok := range fx.tokens {
			if err := put("tokens", id, tok); err != nil {
				return err
			}
		}
		for _, f := range fx.flows {
			if err := put("flows", f.ID, f); err != nil {
				return err
			}
			if f.State != "" {
				if err := bk["flow_states"].Put([]byte(f.State.Reveal()), []byte(f.ID)); err != nil {
					return err
				}
			}
		}
		if err := bk["meta"].Put([]byte("schema_version"), []byte("1")); err != nil {
			return err
		}
		return bk["meta"].Put([]byte("created"), []byte(at(0).UTC().Format(time.RFC3339Nano)))
	})
}

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

func keyFileOf(path string) string { return filepath.Join(filepath.Dir(path), store.KeyFileName) }

// TestNewStoreSealsSecrets: after writes, replacements and deletes, the file
// holds none of the secrets, in live or freed pages, and reads them back.
func TestNewStoreSealsSecrets(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	fx := newFixture(12)
	db := storetest.Open(t, storetest.Path(path))
	fx.put(t, db)
	// Replaced and deleted records leave freed pages behind.
	old := newFixture(12)
	for _, a := range old.apps {
		a.AppID = "old-" + a.AppID
		a.ClientSecret = "old-" + a.ClientSecret
		if err := db.PutApp(a, false); err != nil {
			t.Fatal(err)
		}
		if err := db.PutToken(a.MungedID(), fullToken("old-access-token-"+a.AppID)); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteApp(a.MungedID()); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []*oauth.Flow{fx.flows[0], fx.flows[2]} { // code flows
		if _, err := db.TakeFlow(f.State.Reveal()); err != nil {
			t.Fatal(err)
		}
		if err := db.PutFlow(f, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	secrets := fx.secrets()
	for _, a := range old.apps {
		secrets = append(secrets, "old-"+a.ClientSecret.Reveal(), "old-access-token-old-"+a.AppID)
	}
	checkNoSecrets(t, path, secrets)

	db = storetest.Open(t, storetest.Path(path))
	fx.check(t, db)
}

// TestMigratePlainV1: a version 1 store is sealed in place, every record
// survives, and neither the new file nor the disk blocks of the old one hold
// a secret.
func TestMigratePlainV1(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "oauth.db")
	fx := newFixture(40) // several pages of each bucket
	writePlainV1(t, path, fx)
	checkHoldsAll(t, path, fx.secrets())
	// The file Open replaces, still reachable through this descriptor after
	// the rename.
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()

	db := storetest.Open(t, storetest.Path(path))
	fx.check(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	checkNoSecrets(t, path, fx.secrets())
	if got := readMeta(t, path, "schema_version"); got != "3" {
		t.Errorf("schema_version = %q, want %q", got, "3")
	}
	if got := readMeta(t, path, "compact_pending"); got != "" {
		t.Errorf("compact_pending = %q after Open, want none", got)
	}
	if got, want := readMeta(t, path, "created"), at(0).UTC().Format(time.RFC3339Nano); got != want {
		t.Errorf("created = %q, want %q (kept)", got, want)
	}
	if got := fileMode(t, keyFileOf(path)); got != 0o600 {
		t.Errorf("key file mode = %v, want %v", got, os.FileMode(0o600))
	}
	if got := fileMode(t, path); got != 0o600 {
		t.Errorf("file mode after compaction = %v, want %v", got, os.FileMode(0o600))
	}
	oldBytes, err := io.ReadAll(old)
	if err != nil {
		t.Fatal(err)
	}
	checkBytesHoldNone(t, "the replaced file", oldBytes, fx.secrets())
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("data directory holds %v, want the store and its key file", entries)
	}

	// The state index is by hash: the one-use take works on migrated flows,
	// and a second Open leaves the sealed file be.
	db = storetest.Open(t, storetest.Path(path))
	f := fx.flows[0]
	if _, err := db.TakeFlow(f.State.Reveal()); err != nil {
		t.Errorf("TakeFlow() of a migrated flow = %v", err)
	}
	if _, err := db.TakeFlow(f.State.Reveal()); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("second TakeFlow() = %v, want ErrNotFound", err)
	}
}

// TestMigrateGoldenV1 opens testdata/v1.db, a file written by the store of
// schema version 1 itself (commit dc6aaef: two apps with tokens, a code flow,
// a device flow, and an app put and deleted), and checks that every record
// comes back as that release stored it and that no secret is left in the
// file.
func TestMigrateGoldenV1(t *testing.T) {
	t.Parallel()
	golden, err := os.ReadFile("testdata/v1.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "oauth.db")
	if err := os.WriteFile(path, golden, 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := []string{
		"golden-client-secret-spotify", "golden-client-secret-strava",
		"golden-access-token-spotify", "golden-access-token-strava",
		"golden-refresh-token-spotify", "golden-refresh-token-strava",
		"golden-state-abcdefghijklmnopqrstuvwxyz",
		"golden-verifier-abcdefghijklmnopqrstuvwxyz0123456789",
		"golden-device-code-abcdefghijklmnop",
	}
	checkHoldsAll(t, path, secrets)

	// What version 1 stored, decoded from the file as it was.
	var want fixture
	want.tokens = map[string]*oauth.Token{}
	states := map[string]string{}
	readRaw(t, path, func(tx *bolt.Tx) error {
		decode := func(bucket string, fn func(k, v []byte) error) error {
			return tx.Bucket([]byte(bucket)).ForEach(fn)
		}
		err := decode("apps", func(_, v []byte) error {
			a := new(oauth.App)
			want.apps = append(want.apps, a)
			return json.Unmarshal(v, a)
		})
		err = errors.Join(err, decode("tokens", func(k, v []byte) error {
			tok := new(oauth.Token)
			want.tokens[string(k)] = tok
			return json.Unmarshal(v, tok)
		}))
		err = errors.Join(err, decode("flows", func(_, v []byte) error {
			f := new(oauth.Flow)
			want.flows = append(want.flows, f)
			return json.Unmarshal(v, f)
		}))
		return errors.Join(err, decode("flow_states", func(k, v []byte) error {
			states[string(k)] = string(v)
			return nil
		}))
	})
	if len(want.apps) != 2 || len(want.tokens) != 2 || len(want.flows) != 2 || len(states) != 1 {
		t.Fatalf("testdata/v1.db holds %d apps, %d tokens, %d flows, %d states; want 2, 2, 2, 1", len(want.apps), len(want.tokens), len(want.flows), len(states))
	}

	db := storetest.Open(t, storetest.Path(path))
	want.check(t, db)
	for state, id := range states {
		if f, err := db.TakeFlow(state); err != nil || f.ID != id {
			t.Errorf("TakeFlow(v1 state) = %v, %v; want flow %s", f, err, id)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	checkNoSecrets(t, path, secrets)
}

// TestMigrateRollsBack: a version 1 store the migration cannot seal whole is
// left exactly as it was.
func TestMigrateRollsBack(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	fx := newFixture(5)
	writePlainV1(t, path, fx)
	// A nested bucket among the tokens: sealing fails after the apps are
	// done.
	writeRaw(t, path, func(tx *bolt.Tx) error {
		_, err := tx.Bucket([]byte("tokens")).CreateBucket([]byte("zz-nested"))
		return err
	})
	before := sum(t, path)

	db := store.New(path)
	err := db.Open()
	if err == nil {
		db.Close()
		t.Fatal("Open() = nil, want the migration to fail")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("Open() = %q, want it to name %s", err, path)
	}
	if sum(t, path) != before {
		t.Error("a failed migration changed the file")
	}
	if got := readMeta(t, path, "schema_version"); got != "1" {
		t.Errorf("schema_version = %q, want %q", got, "1")
	}
}

func TestOpenWrongKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	db := storetest.Open(t, storetest.Path(path))
	fx := newFixture(2)
	fx.put(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	right, err := os.ReadFile(keyFileOf(path))
	if err != nil {
		t.Fatal(err)
	}
	wrong := make([]byte, seal.KeySize)
	wrongHex := hex.EncodeToString(wrong)
	if err := os.WriteFile(keyFileOf(path), []byte(wrongHex+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := sum(t, path)

	err = db.Open()
	if err == nil {
		db.Close()
		t.Fatal("Open() with the wrong key = nil, want an error")
	}
	for _, want := range []string{path, keyFileOf(path), "another key", "restore the key file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open() = %q, want it to mention %q", err, want)
		}
	}
	for _, key := range []string{wrongHex, strings.TrimSpace(string(right))} {
		if strings.Contains(err.Error(), key) {
			t.Errorf("Open() = %q, holds a key", err)
		}
	}
	if sum(t, path) != before {
		t.Error("Open() with the wrong key changed the file")
	}
	if got, _ := os.ReadFile(keyFileOf(path)); string(got) != wrongHex+"\n" {
		t.Error("Open() with the wrong key replaced the key file")
	}

	// The right key, restored, opens it with everything.
	if err := os.WriteFile(keyFileOf(path), right, 0o600); err != nil {
		t.Fatal(err)
	}
	fx.check(t, storetest.Open(t, storetest.Path(path)))
}

func TestOpenSealedWithoutKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	db := storetest.Open(t, storetest.Path(path))
	if err := db.PutApp(fullApp("skill", "app"), false); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(keyFileOf(path))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keyFileOf(path)); err != nil {
		t.Fatal(err)
	}
	before := sum(t, path)

	err = db.Open()
	if err == nil {
		db.Close()
		t.Fatal("Open() without the key file = nil, want an error")
	}
	for _, want := range []string{path, keyFileOf(path), "does not exist", "restore the key file from your backup"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open() = %q, want it to mention %q", err, want)
		}
	}
	if sum(t, path) != before {
		t.Error("Open() without the key file changed the store")
	}
	if _, err := os.Stat(keyFileOf(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open() made a new key file for a sealed store (Stat = %v): the store's data would be lost", err)
	}

	if err := os.WriteFile(keyFileOf(path), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := storetest.Open(t, storetest.Path(path)).App("skill_app"); err != nil {
		t.Errorf("App() once the key file is back = %v", err)
	}
}

func TestOpenSealedDamagedKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	db := storetest.Open(t, storetest.Path(path))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFileOf(path), []byte("0123abcd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := sum(t, path)
	err := db.Open()
	if err == nil {
		db.Close()
		t.Fatal("Open() with a damaged key file = nil, want an error")
	}
	for _, want := range []string{path, keyFileOf(path), "restore it from your backup"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open() = %q, want it to mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "0123abcd") {
		t.Errorf("Open() = %q, shows the key file's content", err)
	}
	if sum(t, path) != before {
		t.Error("Open() with a damaged key file changed the store")
	}
}

func TestKeyFile(t *testing.T) {
	t.Parallel()
	t.Run("created 0600 next to the store", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "oauth.db")
		db := store.New(path)
		if db.KeyFile != keyFileOf(path) {
			t.Errorf("New().KeyFile = %q, want %q", db.KeyFile, keyFileOf(path))
		}
		storetest.Open(t, storetest.Path(path))
		if got := fileMode(t, keyFileOf(path)); got != 0o600 {
			t.Errorf("key file mode = %v, want %v", got, os.FileMode(0o600))
		}
		if _, err := seal.ReadKeyFile(keyFileOf(path)); err != nil {
			t.Errorf("ReadKeyFile() = %v", err)
		}
	})
	t.Run("elsewhere, directory created", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "data", "oauth.db")
		keyFile := filepath.Join(dir, "keys", "ovos-oauth.key")
		db := store.New(path)
		db.KeyFile = keyFile
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		if err := db.PutApp(fullApp("skill", "app"), false); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		key, _ := os.ReadFile(keyFile)
		if got := fileMode(t, filepath.Dir(keyFile)); got != 0o700 {
			t.Errorf("key directory mode = %v, want %v", got, os.FileMode(0o700))
		}
		if _, err := os.Stat(keyFileOf(path)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a key file next to the store exists (%v), want only %s", err, keyFile)
		}
		// Reopening reads the key, never replaces it.
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.App("skill_app"); err != nil {
			t.Errorf("App() after reopen = %v", err)
		}
		if again, _ := os.ReadFile(keyFile); !bytes.Equal(again, key) {
			t.Error("reopening changed the key file")
		}
	})
	t.Run("given, for a new store", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "oauth.db")
		raw := bytes.Repeat([]byte{0x42}, seal.KeySize) // e.g. a systemd credential
		if err := os.WriteFile(keyFileOf(path), raw, 0o400); err != nil {
			t.Fatal(err)
		}
		db := storetest.Open(t, storetest.Path(path))
		if err := db.PutApp(fullApp("skill", "app"), false); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(keyFileOf(path)); !bytes.Equal(got, raw) {
			t.Error("Open() changed a given key file")
		}
	})
	t.Run("none", func(t *testing.T) {
		db := &store.DB{Path: filepath.Join(t.TempDir(), "oauth.db")}
		if err := db.Open(); err == nil || !strings.Contains(err.Error(), "no key file") {
			db.Close()
			t.Errorf("Open() without KeyFile = %v, want a no-key-file error", err)
		}
	})
}

// TestSealedValueBoundToRecord: a sealed value copied to another record or
// bucket does not open there, so one app cannot be handed another's secret
// by editing the file.
func TestSealedValueBoundToRecord(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	db := storetest.Open(t, storetest.Path(path))
	for _, id := range []string{"a", "b"} {
		if err := db.PutApp(fullApp("skill", id), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutToken("skill_a", fullToken("access-a")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	writeRaw(t, path, func(tx *bolt.Tx) error {
		toks := tx.Bucket([]byte("tokens"))
		if err := toks.Put([]byte("skill_b"), bytes.Clone(toks.Get([]byte("skill_a")))); err != nil {
			return err
		}
		return tx.Bucket([]byte("flows")).Put([]byte("f1"), bytes.Clone(tx.Bucket([]byte("apps")).Get([]byte("skill_a"))))
	})

	db = storetest.Open(t, storetest.Path(path))
	if tok, err := db.Token("skill_b"); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("Token() of a value moved from another app = %v, %v; want seal.ErrOpen", tok, err)
	}
	if f, err := db.Flow("f1"); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("Flow() of a value moved from the apps bucket = %v, %v; want seal.ErrOpen", f, err)
	}
	if _, err := db.Token("skill_a"); err != nil {
		t.Errorf("Token() of the original = %v", err)
	}
}

// readRaw runs fn on the closed store file in a read-only transaction.
func readRaw(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	if err := bdb.View(fn); err != nil {
		t.Fatal(err)
	}
}

// TestOpenErrorTypes: what stops Open that a person can act on is typed,
// for a program to word in the person's language: a key file with another
// key, none, or one that holds no key, and a lock another process holds.
func TestOpenErrorTypes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	if err := storetest.Open(t, storetest.Path(path)).Close(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct {
		name    string
		keyFile string
		problem store.KeyProblem
	}{
		{"another key", write("other.key", strings.Repeat("ab", 32)), store.KeyWrong},
		{"no key file", filepath.Join(dir, "missing.key"), store.KeyMissing},
		{"no key in the file", write("short.key", "abc"), store.KeyUnusable},
	} {
		db := store.New(path)
		db.KeyFile = tt.keyFile
		err := db.Open()
		if err == nil {
			db.Close()
			t.Fatalf("%s: Open() = nil", tt.name)
		}
		e, ok := errors.AsType[*store.KeyError](err)
		if !ok || e.Path != path || e.KeyFile != tt.keyFile || e.Problem != tt.problem {
			t.Errorf("%s: Open() = %#v, want a *KeyError of %s and %s, problem %v", tt.name, err, path, tt.keyFile, tt.problem)
		}
		if _, ok := errors.AsType[*seal.KeyFileError](err); ok != (tt.problem == store.KeyUnusable) {
			t.Errorf("%s: Open() = %v; wraps a *seal.KeyFileError: %v", tt.name, err, ok)
		}
	}

	held := store.New(path)
	if err := held.Open(); err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	db := store.New(path)
	db.Timeout = 50 * time.Millisecond
	err := db.Open()
	if e, ok := errors.AsType[*store.LockedError](err); !ok || e.Path != path || !errors.Is(err, store.ErrLocked) {
		t.Errorf("Open() of a store another holds = %#v, want a *LockedError of %s matching ErrLocked", err, path)
	}
	if !strings.Contains(fmt.Sprint(err), "file is locked") {
		t.Errorf("Open() = %v, want it to say the file is locked", err)
	}
}
