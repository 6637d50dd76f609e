package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
)

// The bus's key, as websocket.secret_key in the skills' mycroft.conf, and
// another one.
const (
	busSecretKey   = "enc-test-key-0123456789abcdefghi"
	wrongSecretKey = "enc-WRONG-key-0123456789abcdefgh"
)

// encryptedSkill is a skill on an encrypted bus that seals with key.
func encryptedSkill(t *testing.T, busURL, id, key string) (*skill, *bus.Cipher) {
	t.Helper()
	c, err := bus.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	return &skill{Peer: bustest.DialCipher(t, busURL, c), id: id}, c
}

// logRecords returns the daemon's log records for which match holds.
func logRecords(d *runningDaemon, match func(rec map[string]any) bool) []map[string]any {
	var out []map[string]any
	for line := range strings.SplitSeq(d.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && match(rec) {
			out = append(out, rec)
		}
	}
	return out
}

func msgHasPrefix(prefix string) func(map[string]any) bool {
	return func(rec map[string]any) bool {
		msg, _ := rec["msg"].(string)
		return strings.HasPrefix(msg, prefix)
	}
}

// noKeyInLogs fails if the daemon's log shows a key.
func noKeyInLogs(t *testing.T, d *runningDaemon) {
	t.Helper()
	if logs := d.logs.String(); strings.Contains(logs, busSecretKey) || strings.Contains(logs, wrongSecretKey) {
		t.Errorf("the daemon's log shows a bus key:\n%s", logs)
	}
}

// plainRequest is a request as a skill without the key sends it.
func plainRequest(t *testing.T, source string) []byte {
	t.Helper()
	m := bus.NewMessage("oauth.get.app.host.info", map[string]any{})
	m.Context = map[string]json.RawMessage{"source": json.RawMessage(`"` + source + `"`), "destination": json.RawMessage(`"PHAL"`)}
	frame, err := m.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return frame
}

// repliesTo returns the messages p has received whose destination is dest.
func repliesTo(p *bustest.Peer, dest string) []bus.Message {
	var out []bus.Message
	for _, m := range p.Seen() {
		if string(m.Context["destination"]) == `"`+dest+`"` {
			out = append(out, m)
		}
	}
	return out
}

// TestEncryptedBus: with the bus's key, the daemon answers a sealed request
// with a sealed reply, and nothing it writes is plain on the wire.
func TestEncryptedBus(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	d := startDaemon(t, url, t.TempDir(), "--bus-secret-key", busSecretKey)
	sk, c := encryptedSkill(t, url, "skill-enc.test", busSecretKey)

	reply := noErr(t, sk.request(t, "oauth.get.app.host.info", map[string]any{}, "oauth.app.host.info.response"))
	if reply["host"] != "127.0.0.1" || reply["port"] == nil {
		t.Errorf("host info = %v, want host 127.0.0.1 and a port", reply)
	}

	// On the wire: the bus's plain greeting, then only sealed frames (the
	// skill's own request, relayed back to it, and the reply).
	frames := sk.Frames()
	if len(frames) < 3 {
		t.Fatalf("skill saw %d frames, want the greeting, its request and the reply", len(frames))
	}
	var sealedReplies int
	for i, f := range frames[1:] {
		if typ, ok := bus.PeekType(f); ok {
			t.Errorf("frame %d on the wire is plain JSON of type %s", i+1, typ)
			continue
		}
		plain, err := c.Open(f)
		if err != nil {
			t.Errorf("frame %d on the wire does not open: %v (%.80s)", i+1, err, f)
			continue
		}
		if bytes.Contains(f, []byte("oauth.app.host.info.response")) || bytes.Contains(f, []byte("127.0.0.1")) {
			t.Errorf("frame %d on the wire shows its contents: %.80s", i+1, f)
		}
		if typ, _ := bus.PeekType(plain); typ == "oauth.app.host.info.response" {
			sealedReplies++
		}
	}
	if sealedReplies != 1 {
		t.Errorf("%d sealed host info replies on the wire, want 1", sealedReplies)
	}
	if got := logRecords(d, msgHasPrefix("connected to bus")); len(got) == 0 || got[0]["encrypted"] != true {
		t.Errorf("connected log lines = %v, want encrypted=true", got)
	}
	if got := logRecords(d, msgHasPrefix("cannot decrypt")); len(got) != 0 {
		t.Errorf("key warnings on a bus with one key: %v", got)
	}
	noKeyInLogs(t, d)
}

// TestEncryptedBusPlainRequest: a plain request on an encrypted bus gets no
// reply unless allow_unencrypted is on, and then a sealed one.
func TestEncryptedBusPlainRequest(t *testing.T) {
	t.Parallel()
	t.Run("refused", func(t *testing.T) {
		url, _ := bustest.StartHub(t)
		d := startDaemon(t, url, t.TempDir(), "--bus-secret-key", busSecretKey)
		sk, _ := encryptedSkill(t, url, "skill-enc.test", busSecretKey)
		plain := bustest.Dial(t, url)

		sk.SendRaw(t, plainRequest(t, "skill-plain.test"))
		polltest.Until(t, "the daemon's refusal log line", func() bool {
			return len(logRecords(d, msgHasPrefix("dropping unencrypted bus frames"))) > 0
		})
		// The daemon still answers sealed requests; the plain one, dropped
		// as it was read, is never answered.
		noErr(t, sk.request(t, "oauth.get.app.host.info", map[string]any{}, "oauth.app.host.info.response"))
		if got := repliesTo(sk.Peer, "skill-plain.test"); len(got) != 0 {
			t.Errorf("the plain request was answered: %v", got)
		}
		for _, m := range plain.Seen() {
			if strings.HasPrefix(m.Type, "oauth.app.") {
				t.Errorf("a skill without the key read a %s", m.Type)
			}
		}
		rec := logRecords(d, msgHasPrefix("dropping unencrypted bus frames"))
		if len(rec) != 1 || rec[0]["type"] != "oauth.get.app.host.info" || rec[0]["level"] != "INFO" {
			t.Errorf("refusal log lines = %v, want one at INFO naming the request type", rec)
		}
		noKeyInLogs(t, d)
	})
	t.Run("allowed", func(t *testing.T) {
		url, _ := bustest.StartHub(t)
		d := startDaemon(t, url, t.TempDir(), "--bus-secret-key", busSecretKey, "--bus-allow-unencrypted")
		sk, c := encryptedSkill(t, url, "skill-enc.test", busSecretKey)

		sk.SendRaw(t, plainRequest(t, "skill-plain.test"))
		reply := sk.ExpectFunc(t, func(m bus.Message) bool {
			return m.Type == "oauth.app.host.info.response" && string(m.Context["destination"]) == `"skill-plain.test"`
		})
		noErr(t, reply)
		for _, f := range sk.Frames()[1:] {
			if typ, ok := bus.PeekType(f); ok && typ != "oauth.get.app.host.info" {
				t.Errorf("the daemon wrote a plain %s", typ)
			}
			if _, ok := bus.PeekType(f); !ok {
				if _, err := c.Open(f); err != nil {
					t.Errorf("frame does not open: %v", err)
				}
			}
		}
		noKeyInLogs(t, d)
	})
}

// TestEncryptedBusWrongKey: a skill whose key differs gets no answer, and
// the daemon's log says why, once, without either key.
func TestEncryptedBusWrongKey(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	d := startDaemon(t, url, t.TempDir(), "--bus-secret-key", busSecretKey)
	wrong, _ := encryptedSkill(t, url, "skill-wrong.test", wrongSecretKey)
	for range 3 {
		wrong.Send(t, bus.NewMessage("oauth.get.app.host.info", map[string]any{}))
	}
	isWarning := msgHasPrefix("cannot decrypt bus frames: the bus's secret_key differs from ovos-oauth's")
	polltest.Until(t, "the daemon's warning about the key", func() bool { return len(logRecords(d, isWarning)) > 0 })

	right, _ := encryptedSkill(t, url, "skill-enc.test", busSecretKey)
	noErr(t, right.request(t, "oauth.get.app.host.info", map[string]any{}, "oauth.app.host.info.response"))
	warns := logRecords(d, isWarning)
	if len(warns) != 1 || warns[0]["level"] != "WARN" || warns[0]["component"] != "bus" {
		t.Errorf("warnings = %v, want one WARN from the bus component", warns)
	}
	// The skill with the wrong key cannot read the answer to the right one
	// (only its own frames, relayed back).
	for _, m := range wrong.Seen() {
		if m.Type != "connected" && m.Type != "oauth.get.app.host.info" {
			t.Errorf("the skill with another key read a %s", m.Type)
		}
	}
	noKeyInLogs(t, d)
}

// TestEncryptedBusKeyErrors: a key that cannot be an AES key stops the
// daemon before it starts, naming the setting and not the key.
func TestEncryptedBusKeyErrors(t *testing.T) {
	t.Parallel()
	const bad = "enc-BAD-key"
	env := map[string]string{"HOME": t.TempDir(), "OVOS_OAUTH_SYSTEM_CONFIG_DIR": t.TempDir(), "MYCROFT_SYSTEM_CONFIG": "/nonexistent", "XDG_CONFIG_DIRS": t.TempDir(),
		"OVOS_OAUTH_BUS_SECRET_KEY": bad}
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "--listen", "127.0.0.1:0", "--public-host", "127.0.0.1", "--data-dir", t.TempDir()},
		func(k string) string { return env[k] }, &bytes.Buffer{}, &stderr)
	if err == nil {
		t.Fatal("run() = nil, want a start-up error")
	}
	if !strings.Contains(err.Error(), "bus_secret_key: ") || !strings.Contains(err.Error(), "11 bytes") {
		t.Errorf("run() = %q, want an error naming bus_secret_key and its length", err)
	}
	if strings.Contains(err.Error()+stderr.String(), bad) {
		t.Errorf("the key shows in the error or on stderr: %q %s", err, stderr.String())
	}
}

// TestEncryptedBusReplay: someone on the bus without the key captures a
// skill's sealed oauth.get and sends it again, byte for byte, four times.
// The daemon answers the skill once and says it dropped replays, and the
// user's pending login, which four more logins would have evicted, still
// finishes on the phone. After a bus restart the frame is refused still.
func TestEncryptedBusReplay(t *testing.T) {
	t.Parallel()
	url, hub := bustest.StartHub(t)
	d := startDaemon(t, url, t.TempDir(), "--bus-secret-key", busSecretKey)
	p := oauthtest.Start(t, oauthtest.Client{ID: "web", Secret: secret, RedirectURIs: []string{d.baseURL + "/auth/callback/" + skillID + "_demo"}})
	sk, c := encryptedSkill(t, url, skillID, busSecretKey)
	s := &setup{d: d, p: p, skill: sk}
	s.register(t, "demo", "web", secret, nil)
	eve := bustest.Dial(t, url)

	login := noErr(t, sk.request(t, "oauth.get", app("demo"), "oauth.url"))["url"].(string)
	get := capture(t, eve, c, "oauth.get")
	replay := func(eve *bustest.Peer, sk *skill) {
		t.Helper()
		for range 4 {
			eve.SendRaw(t, get)
		}
		// Requests about one app are answered in the order the daemon read
		// them: once this one is, so are the replays. It goes the replays'
		// way, through eve, as the hub may interleave two senders' frames.
		m := bus.NewMessage("oauth.token.get", app("demo"))
		m.Context = map[string]json.RawMessage{"source": json.RawMessage(`"` + skillID + `"`), "destination": json.RawMessage(`"PHAL"`)}
		frame, err := m.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		eve.SendRaw(t, c.Seal(frame))
		sk.expectFor(t, "oauth.token.get.response", app("demo"))
	}
	replay(eve, sk)
	if got := countType(sk.Peer, "oauth.url"); got != 1 {
		t.Errorf("the skill got %d oauth.url replies, want 1: replays of its oauth.get were answered", got)
	}
	warns := logRecords(d, msgHasPrefix("dropping replayed bus frames"))
	if len(warns) != 1 || warns[0]["level"] != "WARN" || warns[0]["component"] != "bus" || warns[0]["type"] != "oauth.get" {
		t.Errorf("replay warnings = %v, want one WARN of the bus component naming oauth.get", warns)
	}
	if resp, body := p.Login(t, login); resp.StatusCode != http.StatusOK {
		t.Fatalf("the user's login after the replays: callback status %d, body %q", resp.StatusCode, body)
	}
	s.checkToken(t, dataOf(t, sk.Expect(t, "oauth.token.response."+skillID+"_demo")))

	hub.Close()
	polltest.Until(t, "the daemon back on the bus", func() bool { return len(logRecords(d, msgHasPrefix("connected to bus"))) >= 2 })
	sk2, _ := encryptedSkill(t, url, skillID, busSecretKey)
	replay(bustest.Dial(t, url), sk2)
	if got := countType(sk2.Peer, "oauth.url"); got != 0 {
		t.Errorf("after the bus restart the skill got %d oauth.url replies to replays, want 0", got)
	}
	noKeyInLogs(t, d)
}

// capture waits until eve, on the bus without the key, has seen a frame
// that opens with c to a message of type typ, and returns it as it was on
// the wire.
func capture(t *testing.T, eve *bustest.Peer, c *bus.Cipher, typ string) []byte {
	t.Helper()
	var got []byte
	polltest.Until(t, "a sealed "+typ+" on the wire", func() bool {
		for _, f := range eve.Frames() {
			if plain, err := c.Open(f); err == nil {
				if m, err := bus.Decode(plain); err == nil && m.Type == typ {
					got = f
					return true
				}
			}
		}
		return false
	})
	return got
}

// countType counts the messages of type typ that p has received.
func countType(p *bustest.Peer, typ string) int {
	n := 0
	for _, m := range p.Seen() {
		if m.Type == typ {
			n++
		}
	}
	return n
}
