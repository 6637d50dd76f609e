package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
)

// damageRecord flips 16 bytes in the middle of the value at key in bucket
// of the stopped daemon's store, as a bad card does; key "" takes the only
// key of the bucket whose keys start with prefix.
func damageRecord(t *testing.T, dbPath, bucket, key string) {
	t.Helper()
	bdb, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	err = bdb.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		v := bytes.Clone(b.Get([]byte(key)))
		if v == nil {
			return fmt.Errorf("no %s %q to damage", bucket, key)
		}
		for i := len(v)/2 - 8; i < len(v)/2+8; i++ {
			v[i] ^= 0xA5
		}
		return b.Put([]byte(key), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// flowOf returns the id of the one pending login of the app in the
// stopped daemon's store.
func flowOf(t *testing.T, dbPath, mungedID string) string {
	t.Helper()
	bdb, err := bolt.Open(dbPath, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var ids []string
	err = bdb.View(func(tx *bolt.Tx) error {
		prefix := []byte(mungedID + "\x00")
		c := tx.Bucket([]byte("app_flows")).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			ids = append(ids, string(k[len(prefix):]))
		}
		return nil
	})
	if err != nil || len(ids) != 1 {
		t.Fatalf("pending logins of %s: %v, %v; want one", mungedID, ids, err)
	}
	return ids[0]
}

// statusOf returns the apps of an oauth.status reply by app id, and its
// records of apps not registered.
func statusOf(t *testing.T, sk *skill) (map[string]map[string]any, []any) {
	t.Helper()
	st := noErr(t, sk.request(t, "oauth.status", map[string]any{"skill_id": skillID}, "oauth.status.response"))
	apps := map[string]map[string]any{}
	for _, a := range st["apps"].([]any) {
		a := a.(map[string]any)
		apps[a["app_id"].(string)] = a
	}
	orphans, _ := st["damaged"].([]any)
	return apps, orphans
}

// records lists the kinds of the damaged records of a status entry.
func records(list any) []string {
	var out []string
	items, _ := list.([]any)
	for _, d := range items {
		out = append(out, fmt.Sprint(d.(map[string]any)["record"]))
	}
	return out
}

// TestDaemonStartsWithDamagedRecords: 16 flipped bytes in one sealed token,
// one app and one pending login stop neither the start nor any other app;
// each is set aside and logged once, oauth.status and ovos-oauth status
// show it, and ovos-oauth doctor lists and removes them once the daemon is
// stopped.
func TestDaemonStartsWithDamagedRecords(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	dataDir := t.TempDir()
	dbPath := filepath.Join(dataDir, "ovos-oauth.db")
	// One port for both runs, so the provider knows the callback.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	d := startDaemon(t, busURL, dataDir, "--listen", listen)
	var uris []string
	for _, a := range []string{"tokapp", "regapp", "okapp", "flowapp"} {
		uris = append(uris, d.baseURL+"/auth/callback/"+skillID+"_"+a)
	}
	p := oauthtest.Start(t, oauthtest.Client{ID: "web", Secret: secret, RedirectURIs: uris})
	s := &setup{d: d, p: p, skill: newSkill(t, busURL, skillID)}
	for _, a := range []string{"tokapp", "regapp", "okapp", "flowapp"} {
		s.register(t, a, "web", secret, nil)
	}
	for _, a := range []string{"tokapp", "regapp", "okapp"} {
		s.login(t, a)
	}
	okToken := noErr(t, s.skill.request(t, "oauth.token.get", app("okapp"), "oauth.token.get.response"))["access_token"]
	noErr(t, s.skill.request(t, "oauth.get", app("flowapp"), "oauth.url")) // a pending login
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	damageRecord(t, dbPath, "tokens", skillID+"_tokapp")
	damageRecord(t, dbPath, "apps", skillID+"_regapp")
	damageRecord(t, dbPath, "flows", flowOf(t, dbPath, skillID+"_flowapp"))

	d = startDaemon(t, busURL, dataDir, "--listen", listen)
	sk := newSkill(t, busURL, skillID)
	got := noErr(t, sk.request(t, "oauth.token.get", app("okapp"), "oauth.token.get.response"))
	if got["access_token"] != okToken {
		t.Errorf("oauth.token.get of the whole app = %v, want its token", got["access_token"])
	}
	wantErr(t, sk.request(t, "oauth.token.get", app("tokapp"), "oauth.token.get.response"), "not_authorized")

	apps, orphans := statusOf(t, sk)
	if a := apps["tokapp"]; a == nil || a["authorized"] != false || a["needs_reauth"] != true || fmt.Sprint(records(a["damaged"])) != "[token]" {
		t.Errorf("status of the app whose token was damaged = %v, want it needing a new login, its token damaged", a)
	}
	if a := apps["flowapp"]; a == nil || a["flow"] != nil || fmt.Sprint(records(a["damaged"])) != "[login]" {
		t.Errorf("status of the app whose login was damaged = %v, want no pending login, the login damaged", a)
	}
	if a := apps["okapp"]; a == nil || a["authorized"] != true || len(a["damaged"].([]any)) != 0 {
		t.Errorf("status of the whole app = %v, want authorized, nothing damaged", a)
	}
	if apps["regapp"] != nil || fmt.Sprint(records(orphans)) != "[app token]" {
		t.Errorf("status: regapp %v, damaged records of apps not registered %v; want regapp's app and token there", apps["regapp"], orphans)
	}

	// Its skill registers it again: there it is, needing a login.
	noErr(t, sk.request(t, "oauth.register", map[string]any{
		"skill_id": skillID, "app_id": "regapp", "client_id": "web", "client_secret": secret,
		"auth_endpoint": p.AuthEndpoint, "token_endpoint": p.TokenEndpoint, "scope": "openid offline_access",
	}, "oauth.register.response"))
	apps, orphans = statusOf(t, sk)
	if a := apps["regapp"]; a == nil || a["authorized"] != false || fmt.Sprint(records(a["damaged"])) != "[app token]" || len(orphans) != 0 {
		t.Errorf("status after registering the damaged app again = %v (others %v), want it there, not authorized, its records listed", a, orphans)
	}
	url := noErr(t, sk.request(t, "oauth.get", app("flowapp"), "oauth.url"))["url"].(string)
	if resp, _ := p.Login(t, url); resp.StatusCode != 200 {
		t.Errorf("a new login of the app whose login was damaged: status %d", resp.StatusCode)
	}
	sk.Expect(t, "oauth.token.response."+skillID+"_flowapp")

	table := runCLI(t, "status", "--bus-url="+d.busURL).want(t, exitOK).stdout
	for _, want := range []string{"saved login was damaged", "log in again", "ovos-oauth doctor"} {
		if !strings.Contains(table, want) {
			t.Errorf("ovos-oauth status lacks %q:\n%s", want, table)
		}
	}

	logs := d.logs.String()
	for _, id := range []string{"tokapp", "regapp", "flowapp"} {
		if n := strings.Count(logs, `"app":"`+skillID+"_"+id+`"`); n == 0 {
			t.Errorf("no log line names %s:\n%s", id, logs)
		}
	}
	if strings.Contains(logs, secret) {
		t.Error("the client secret reached the logs")
	}

	// The repair tool: refused while the daemon runs, then lists and
	// removes.
	r := runCLI(t, "doctor", "--data-dir", dataDir).want(t, exitFailed)
	if !strings.Contains(r.err.Error(), "systemctl stop ovos-oauth") {
		t.Errorf("doctor while the daemon runs: %v, want it to say how to stop it", r.err)
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	out := runCLI(t, "doctor", "--data-dir", dataDir).want(t, exitOK).stdout
	for _, want := range []string{"4 damaged records", skillID + "_tokapp", skillID + "_regapp", skillID + "_flowapp", "--remove"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor lacks %q:\n%s", want, out)
		}
	}
	out = runCLI(t, "doctor", "--data-dir", dataDir, "--remove").want(t, exitOK).stdout
	if !strings.Contains(out, "removed 4") {
		t.Errorf("doctor --remove:\n%s", out)
	}
	out = runCLI(t, "doctor", "--data-dir", dataDir).want(t, exitOK).stdout
	if !strings.Contains(out, "no damaged records") {
		t.Errorf("doctor after --remove:\n%s", out)
	}
}

// TestDaemonRefusesTruncatedStore: a store cut short stops the start with
// a message naming the file and what to do, not a crash of the runtime;
// ovos-oauth doctor says the same, and neither touches the file.
func TestDaemonRefusesTruncatedStore(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	dataDir := t.TempDir()
	dbPath := filepath.Join(dataDir, "ovos-oauth.db")
	d := startDaemon(t, busURL, dataDir)
	s := &setup{d: d, skill: newSkill(t, busURL, skillID)}
	s.p = oauthtest.Start(t)
	for i := range 40 {
		s.register(t, fmt.Sprintf("app%02d", i), "web", secret, nil)
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	cut := data[:2*os.Getpagesize()]
	if err := os.WriteFile(dbPath, cut, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = runFailing(t, dataDir)
	for _, want := range []string{dbPath, "damaged", "cut short", "backup", "mv " + dbPath} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("start on a store cut short = %q, want it to mention %q", err, want)
		}
	}
	r := runCLI(t, "doctor", "--data-dir", dataDir).want(t, exitFailed)
	if !strings.Contains(r.err.Error(), "cut short") {
		t.Errorf("doctor on a store cut short = %v", r.err)
	}
	if got, _ := os.ReadFile(dbPath); !bytes.Equal(got, cut) {
		t.Error("the store cut short was changed")
	}
}
