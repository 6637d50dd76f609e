package store_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	bolt "go.etcd.io/bbolt"
)

// flip16 is what a bad card does to a value: 16 bytes in its middle flipped.
func flip16(v []byte) []byte {
	v = bytes.Clone(v)
	for i := len(v)/2 - 8; i < len(v)/2+8; i++ {
		v[i] ^= 0xA5
	}
	return v
}

// damage flips 16 bytes of the value at key in bucket of the closed store
// file, and returns the damaged value.
func damage(t *testing.T, path, bucket, key string) []byte {
	t.Helper()
	var bad []byte
	writeRaw(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		v := b.Get([]byte(key))
		if v == nil {
			return fmt.Errorf("no %s %s to damage", bucket, key)
		}
		bad = flip16(v)
		return b.Put([]byte(key), bad)
	})
	return bad
}

// fourApps writes s_a to s_d, each with a token and a pending login
// (flow-a to flow-d, state "state-flow-a" …), into db.
func fourApps(t *testing.T, db *store.DB) {
	t.Helper()
	for _, id := range []string{"a", "b", "c", "d"} {
		app := fullApp("s", id)
		app.NeedsReauth, app.ReauthReason = false, ""
		if err := db.PutApp(app, false); err != nil {
			t.Fatal(err)
		}
		if err := db.PutToken(app.MungedID(), fullToken("access-"+id)); err != nil {
			t.Fatal(err)
		}
		if err := db.PutFlow(fullFlow("flow-"+id, app.MungedID(), at(0)), 0); err != nil {
			t.Fatal(err)
		}
	}
}

// damagedStore is a closed store of fourApps in which the token of s_a,
// the app record of s_b and the login of s_c are damaged; bad holds the
// damaged values by "bucket/key".
func damagedStore(t *testing.T) (path string, bad map[string][]byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "oauth.db")
	db := storetest.Open(t, storetest.Path(path))
	fourApps(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	bad = map[string][]byte{
		"tokens/s_a":   damage(t, path, "tokens", "s_a"),
		"apps/s_b":     damage(t, path, "apps", "s_b"),
		"flows/flow-c": damage(t, path, "flows", "flow-c"),
	}
	return path, bad
}

// logBuffer collects a DB's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// records returns the log lines, decoded.
func (l *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(l.buf.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// openLogged opens the store at path with its log in a logBuffer.
func openLogged(t *testing.T, path string) (*store.DB, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	db := storetest.Open(t, storetest.Path(path), storetest.Setup(func(db *store.DB) { db.Logger = slog.New(slog.NewJSONHandler(logs, nil)) }))
	return db, logs
}

// quarantined reads the quarantine bucket of the closed store file: each
// record's origin ("bucket/key") and fields.
func quarantined(t *testing.T, path string) map[string]map[string][]byte {
	t.Helper()
	out := map[string]map[string][]byte{}
	readRaw(t, path, func(tx *bolt.Tx) error {
		q := tx.Bucket([]byte("quarantine"))
		if q == nil {
			return errors.New("no quarantine bucket")
		}
		return q.ForEachBucket(func(name []byte) error {
			parts := bytes.SplitN(name, []byte{0}, 3)
			if len(parts) != 3 || len(parts[2]) != 8 {
				return fmt.Errorf("quarantine entry %q: want bucket NUL key NUL time", name)
			}
			fields := map[string][]byte{}
			err := q.Bucket(name).ForEach(func(k, v []byte) error {
				fields[string(k)] = bytes.Clone(v)
				return nil
			})
			out[string(parts[0])+"/"+string(parts[1])] = fields
			return err
		})
	})
	return out
}

// damagedOf is what Damaged lists, without the times.
func damagedOf(t *testing.T, db *store.DB) []oauth.DamagedRecord {
	t.Helper()
	got, err := db.Damaged()
	if err != nil {
		t.Fatalf("Damaged() = %v", err)
	}
	for i, d := range got {
		if d.At.IsZero() || d.Reason == "" {
			t.Errorf("Damaged()[%d] = %+v: want a time and a reason", i, d)
		}
		got[i].At, got[i].Reason = time.Time{}, ""
	}
	slices.SortFunc(got, func(a, b oauth.DamagedRecord) int {
		return strings.Compare(a.MungedID+a.Record, b.MungedID+b.Record)
	})
	return got
}

// TestDamagedRecordsDoNotStopTheStore: a damaged token, app and pending
// login are set aside, bytes intact, and logged once each; every list
// works and the other apps are whole. The app whose token was damaged
// needs a new login; the token of the app whose record was damaged is set
// aside with it, and its login ended.
func TestDamagedRecordsDoNotStopTheStore(t *testing.T) {
	t.Parallel()
	path, bad := damagedStore(t)
	db, logs := openLogged(t, path)

	apps, err := db.Apps()
	if err != nil {
		t.Fatalf("Apps() = %v", err)
	}
	var ids []string
	for _, a := range apps {
		ids = append(ids, a.MungedID())
	}
	if fmt.Sprint(ids) != "[s_a s_c s_d]" {
		t.Errorf("Apps() = %v, want [s_a s_c s_d]: the damaged app set aside", ids)
	}
	toks, err := db.Tokens()
	if err != nil {
		t.Fatalf("Tokens() = %v", err)
	}
	if len(toks) != 2 || toks["s_c"] == nil || toks["s_d"] == nil {
		t.Errorf("Tokens() = %v, want those of s_c and s_d", toks)
	}
	flows, err := db.Flows()
	if err != nil {
		t.Fatalf("Flows() = %v", err)
	}
	ids = nil
	for _, f := range flows {
		ids = append(ids, f.ID)
	}
	if fmt.Sprint(ids) != "[flow-a flow-d]" {
		t.Errorf("Flows() = %v, want [flow-a flow-d]: the damaged login and that of the damaged app ended", ids)
	}
	if tok, err := db.Token("s_d"); err != nil || tok.AccessToken != "access-d" {
		t.Errorf("Token(s_d) = %v, %v; want the whole token", tok, err)
	}
	if _, err := db.Token("s_a"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("Token(s_a) = %v, want ErrNotFound: its token was set aside", err)
	}
	if a, err := db.App("s_a"); err != nil || !a.NeedsReauth || a.ReauthReason != oauth.ReauthDamaged {
		t.Errorf("App(s_a) = %+v, %v; want it kept, needing a new login for %q", a, err, oauth.ReauthDamaged)
	}
	if _, err := db.App("s_b"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("App(s_b) = %v, want ErrNotFound: its record was set aside", err)
	}
	if _, err := db.FlowByState("state-flow-c"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("FlowByState(state of the damaged login) = %v, want ErrNotFound", err)
	}
	for _, app := range []string{"s_b", "s_c"} {
		if got, err := db.IndexedFlows(app); err != nil || len(got) != 0 {
			t.Errorf("IndexedFlows(%s) = %v, %v; want none", app, got, err)
		}
	}
	want := []oauth.DamagedRecord{
		{MungedID: "s_a", Record: oauth.RecordToken},
		{MungedID: "s_b", Record: oauth.RecordApp},
		{MungedID: "s_b", Record: oauth.RecordToken},
		{MungedID: "s_c", Record: oauth.RecordLogin},
	}
	if diff := cmp.Diff(damagedOf(t, db), want); diff != "" {
		t.Errorf("Damaged() mismatch (-got +want):\n%s", diff)
	}

	// Logged once each, with the app, never the bytes.
	checkSetAsideLogs(t, logs, want)
	if _, err := db.Apps(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Flows(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, logs = openLogged(t, path)
	if _, err := db.Apps(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Tokens(); err != nil {
		t.Fatal(err)
	}
	if got := logs.String(); got != "" {
		t.Errorf("reads after a restart log again:\n%s", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// The bytes as they were, where they came from.
	q := quarantined(t, path)
	for origin, raw := range bad {
		if got := q[origin]["value"]; !bytes.Equal(got, raw) {
			t.Errorf("quarantine %s value = %x, want the damaged bytes %x", origin, got, raw)
		}
	}
	if q["tokens/s_b"]["value"] == nil || !strings.Contains(string(q["tokens/s_b"]["reason"]), "app") {
		t.Errorf("quarantine tokens/s_b = %q, want the token of the damaged app with a reason naming its app", q["tokens/s_b"])
	}
	if got := string(q["flows/flow-c"]["app"]); got != "s_c" {
		t.Errorf("quarantine flows/flow-c app = %q, want s_c", got)
	}
	// Each stored reason reads back as its code, for the CLI to word.
	for origin, fields := range q {
		want := store.DamageNotAuthentic
		if origin == "tokens/s_b" {
			want = store.DamageAppDamaged
		}
		if got := store.DamageReasonOf(string(fields["reason"])); got != want {
			t.Errorf("DamageReasonOf(quarantine %s reason %q) = %q, want %q", origin, fields["reason"], got, want)
		}
	}
}

// TestDamageReasonWords: the words a reason is stored in stay as they have
// always been (files written before hold them), and read back as the code.
func TestDamageReasonWords(t *testing.T) {
	t.Parallel()
	for r, words := range map[store.DamageReason]string{
		store.DamageNotAuthentic: "it does not authenticate: its bytes were changed",
		store.DamageNotSealed:    "it is not a sealed value: its bytes were changed",
		store.DamageNotRecord:    "it opens but does not decode as a record",
		store.DamageAppDamaged:   "its app's record was damaged",
	} {
		if r.String() != words || store.DamageReasonOf(words) != r {
			t.Errorf("%s: words %q, DamageReasonOf = %q; want %q and back", r, r.String(), store.DamageReasonOf(words), words)
		}
	}
	if got := store.DamageReasonOf("a reason of another version"); got != "" {
		t.Errorf("DamageReasonOf(unknown words) = %q, want \"\"", got)
	}
}

// checkSetAsideLogs checks that logs hold one warning per record set aside,
// naming its app, and nothing of any value.
func checkSetAsideLogs(t *testing.T, logs *logBuffer, want []oauth.DamagedRecord) {
	t.Helper()
	var got []oauth.DamagedRecord
	for _, rec := range logs.records(t) {
		if rec["level"] != "WARN" {
			t.Errorf("log line %v: want WARN", rec)
		}
		app, _ := rec["app"].(string)
		kind, _ := rec["record"].(string)
		got = append(got, oauth.DamagedRecord{MungedID: app, Record: kind})
	}
	slices.SortFunc(got, func(a, b oauth.DamagedRecord) int {
		return strings.Compare(a.MungedID+a.Record, b.MungedID+b.Record)
	})
	if diff := cmp.Diff(got, want, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("set-aside log lines mismatch (-got +want):\n%s\nlogs:\n%s", diff, logs)
	}
	for _, secret := range []string{"access-", "refresh-", "client-secret", "state-flow", "verifier-"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log shows %q", secret)
		}
	}
}

// TestEveryReadSetsAside: whichever read meets a damaged record first,
// through a read or a write, it is missing to that read, set aside and
// listed, and the read does what it does for a missing record.
func TestEveryReadSetsAside(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		bucket, key string
		read        func(db *store.DB) error
		wantErr     bool // an error wrapping ErrNotFound
		record, app string
	}{
		{"App", "apps", "s_b", func(db *store.DB) error { _, err := db.App("s_b"); return err }, true, oauth.RecordApp, "s_b"},
		{"AppsOfSkill", "apps", "s_b", func(db *store.DB) error { _, err := db.AppsOfSkill("s"); return err }, false, oauth.RecordApp, "s_b"},
		{"Token", "tokens", "s_a", func(db *store.DB) error { _, err := db.Token("s_a"); return err }, true, oauth.RecordToken, "s_a"},
		{"Flow", "flows", "flow-c", func(db *store.DB) error { _, err := db.Flow("flow-c"); return err }, true, oauth.RecordLogin, "s_c"},
		{"FlowByState", "flows", "flow-c", func(db *store.DB) error { _, err := db.FlowByState("state-flow-c"); return err }, true, oauth.RecordLogin, "s_c"},
		{"TakeFlow", "flows", "flow-c", func(db *store.DB) error { _, err := db.TakeFlow("state-flow-c"); return err }, true, oauth.RecordLogin, "s_c"},
		{"DeleteFlow", "flows", "flow-c", func(db *store.DB) error { return db.DeleteFlow("flow-c") }, true, oauth.RecordLogin, "s_c"},
		{"FlowsOf", "flows", "flow-c", func(db *store.DB) error { _, err := db.FlowsOf("s_c"); return err }, false, oauth.RecordLogin, "s_c"},
		{"DeleteExpiredFlows", "flows", "flow-c", func(db *store.DB) error {
			_, err := db.DeleteExpiredFlows(at(0).Add(time.Hour))
			return err
		}, false, oauth.RecordLogin, "s_c"},
		{"PutFlow evicting", "flows", "flow-c", func(db *store.DB) error {
			// An index of an older release: eviction reads the flows.
			if err := db.ForgetIndexValues(); err != nil {
				return err
			}
			return db.PutFlow(fullFlow("flow-c2", "s_c", at(1)), 1)
		}, false, oauth.RecordLogin, "s_c"},
		{"PutFlow replacing", "flows", "flow-c", func(db *store.DB) error {
			return db.PutFlow(fullFlow("flow-c", "s_c", at(1)), 0)
		}, false, oauth.RecordLogin, "s_c"},
		{"PutApp", "apps", "s_b", func(db *store.DB) error { return db.PutApp(fullApp("s", "b"), false) }, false, oauth.RecordApp, "s_b"},
		{"DeleteApp", "flows", "flow-c", func(db *store.DB) error { return db.DeleteApp("s_c") }, false, oauth.RecordLogin, "s_c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db, logs := openLogged(t, filepath.Join(t.TempDir(), "oauth.db"))
			fourApps(t, db)
			if err := db.Damage(tt.bucket, tt.key); err != nil {
				t.Fatal(err)
			}
			err := tt.read(db)
			switch {
			case tt.wantErr && !errors.Is(err, oauth.ErrNotFound):
				t.Errorf("read = %v, want ErrNotFound", err)
			case !tt.wantErr && err != nil:
				t.Errorf("read = %v, want nil", err)
			}
			got := damagedOf(t, db)
			if i := slices.IndexFunc(got, func(d oauth.DamagedRecord) bool { return d.Record == tt.record }); i < 0 || got[i].MungedID != tt.app {
				t.Errorf("Damaged() = %+v, want the %s of %s", got, tt.record, tt.app)
			}
			if !strings.Contains(logs.String(), `"app":"`+tt.app+`"`) {
				t.Errorf("no log line names %s:\n%s", tt.app, logs)
			}
			// Whatever the read, the store is whole again.
			for _, read := range []func() error{
				func() error { _, err := db.Apps(); return err },
				func() error { _, err := db.Tokens(); return err },
				func() error { _, err := db.Flows(); return err },
			} {
				if err := read(); err != nil {
					t.Errorf("after the set-aside: %v", err)
				}
			}
			if tok, err := db.Token("s_d"); err != nil || tok.AccessToken != "access-d" {
				t.Errorf("Token(s_d) = %v, %v; want the other app's token", tok, err)
			}
			if tt.name == "PutFlow replacing" {
				if f, err := db.FlowByState("state-flow-c"); err != nil || f.ID != "flow-c" {
					t.Errorf("FlowByState(new flow's state) = %v, %v; want the new flow", f, err)
				}
				if got, _ := db.IndexedFlows("s_c"); fmt.Sprint(got) != "[flow-c]" {
					t.Errorf("IndexedFlows(s_c) = %v, want the new flow", got)
				}
			}
		})
	}
}

// TestReregisterAfterDamagedApp: a skill registers again the app whose
// record was damaged: the app is made anew, without the old token (which
// no record ties to endpoints any more), needing a login; the damaged
// records stay listed until removed.
func TestReregisterAfterDamagedApp(t *testing.T) {
	t.Parallel()
	path, _ := damagedStore(t)
	db := storetest.Open(t, storetest.Path(path))
	if _, err := db.App("s_b"); !errors.Is(err, oauth.ErrNotFound) {
		t.Fatalf("App(s_b) = %v, want ErrNotFound", err)
	}
	fresh := fullApp("s", "b")
	fresh.NeedsReauth, fresh.ReauthReason = false, ""
	if err := db.PutApp(fresh, false); err != nil {
		t.Fatalf("PutApp() of the damaged app = %v", err)
	}
	got, err := db.App("s_b")
	if err != nil || got.ClientID != fresh.ClientID || got.NeedsReauth {
		t.Fatalf("App(s_b) = %+v, %v; want the new registration as it was put", got, err)
	}
	if _, err := db.Token("s_b"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("Token(s_b) = %v, want ErrNotFound: the old token went with its app", err)
	}
	if err := db.PutToken("s_b", fullToken("access-new")); err != nil {
		t.Fatal(err)
	}
	if tok, err := db.Token("s_b"); err != nil || tok.AccessToken != "access-new" {
		t.Errorf("Token(s_b) after a new login = %v, %v", tok, err)
	}
	d := damagedOf(t, db)
	if len(d) != 2 || d[0].Record != oauth.RecordApp || d[1].Record != oauth.RecordToken {
		t.Errorf("Damaged() = %+v, want the app and token of s_b", d)
	}
}

// TestSetAsideForgetsCache: the app whose token is set aside under a
// running daemon needs a new login at once, not after its cached copy
// goes.
func TestSetAsideForgetsCache(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	fourApps(t, db)
	if a, err := db.App("s_a"); err != nil || a.NeedsReauth {
		t.Fatalf("App(s_a) = %+v, %v", a, err)
	}
	if err := db.Damage("tokens", "s_a"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Token("s_a"); !errors.Is(err, oauth.ErrNotFound) {
		t.Fatalf("Token(s_a) = %v, want ErrNotFound", err)
	}
	if a, err := db.App("s_a"); err != nil || !a.NeedsReauth {
		t.Errorf("App(s_a) after its token was set aside = %+v, %v; want NeedsReauth", a, err)
	}
	if _, err := db.Token("s_a"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("Token(s_a) again = %v, want ErrNotFound", err)
	}
}

// TestConcurrentReadersSetAsideOnce: readers that meet the same damaged
// record together set it aside once, and log it once.
func TestConcurrentReadersSetAsideOnce(t *testing.T) {
	t.Parallel()
	path, _ := damagedStore(t)
	db, logs := openLogged(t, path)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := db.Tokens(); err != nil {
				t.Error(err)
			}
			if _, err := db.Token("s_a"); !errors.Is(err, oauth.ErrNotFound) {
				t.Errorf("Token(s_a) = %v", err)
			}
		})
	}
	wg.Wait()
	d := damagedOf(t, db)
	if len(d) != 1 || d[0].MungedID != "s_a" {
		t.Errorf("Damaged() = %+v, want the token of s_a once", d)
	}
	if n := strings.Count(logs.String(), `"app":"s_a"`); n != 1 {
		t.Errorf("%d log lines name s_a, want 1:\n%s", n, logs)
	}
}

// TestMigrationSetsAsideDamagedFlow: Open's indexing of a version 2 store
// sets a damaged login aside instead of failing.
func TestMigrationSetsAsideDamagedFlow(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	db := storetest.Open(t, storetest.Path(path))
	fourApps(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	damage(t, path, "flows", "flow-c")
	writeRaw(t, path, func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte("app_flows")); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte("2"))
	})
	db, logs := openLogged(t, path)
	flows, err := db.Flows()
	if err != nil || len(flows) != 3 {
		t.Errorf("Flows() = %d flows, %v; want the 3 whole ones", len(flows), err)
	}
	if _, err := db.FlowByState("state-flow-c"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("FlowByState(state of the damaged login) = %v, want ErrNotFound", err)
	}
	if d := damagedOf(t, db); len(d) != 1 || d[0].Record != oauth.RecordLogin {
		t.Errorf("Damaged() = %+v, want the login", d)
	}
	if !strings.Contains(logs.String(), "pending login") {
		t.Errorf("no log line for the login set aside:\n%s", logs)
	}
}
