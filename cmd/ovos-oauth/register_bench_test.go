package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// BenchmarkBusRegister10k runs the daemon (this binary, in a child process)
// on a store of 10,000 apps with tokens, the ovos_utils mirror on and
// holding those apps, and has 8 skills on the bus register new apps at
// once, each waiting for its reply before the next: reg/s is the
// throughput, all replies counted. The daemon is stopped and its store
// opened again to check that every acknowledged app is there.
func BenchmarkBusRegister10k(b *testing.B) {
	dataDir := b.TempDir()
	dbPath := filepath.Join(dataDir, "ovos-oauth.db")
	db := storetest.Open(b, storetest.Path(dbPath))
	ids := oauthtest.Seed(b, db, 10000, time.Now())
	db.Close()
	home := b.TempDir()
	mirrorDir := filepath.Join(home, ".cache", "mycroft", "json_database")
	entries := make(map[string]any, len(ids))
	for _, id := range ids {
		entries[id] = map[string]any{"oauth_service": id, "client_id": "client", "client_secret": "secret",
			"auth_endpoint": "https://provider.example/authorize", "token_endpoint": "https://provider.example/token",
			"callback_endpoint": "http://127.0.0.1:36536/auth/callback/" + id, "scope": "read write", "shell_integration": true}
	}
	data, _ := json.MarshalIndent(entries, "", "    ")
	if err := os.MkdirAll(mirrorDir, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mirrorDir, "ovos_oauth_apps.json"), data, 0o600); err != nil {
		b.Fatal(err)
	}

	busURL, _ := bustest.StartHub(b)
	watcher := bustest.Dial(b, busURL)
	cmd := daemonCommand(b, home, "serve", "--bus-url", busURL, "--listen", "127.0.0.1:0",
		"--public-host", "127.0.0.1", "--data-dir", dataDir, "--log-format", "json", "--log-level", "warn", "--mirror-ovos-utils="+os.Getenv("BENCH_MIRROR"))
	cmd.Env = append(cmd.Env, "TMPDIR="+b.TempDir())
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Process.Kill()
	watcher.Expect(b, "oauth.ping")
	watcher.Close()

	const skills = 8
	peers := make([]*registrar, skills)
	for i := range peers {
		peers[i] = dialRegistrar(b, busURL)
	}
	var acked []string
	var mu sync.Mutex
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for s, p := range peers {
		wg.Go(func() {
			skill := fmt.Sprintf("skill-new%d.bench", s)
			for i := s; i < b.N; i += skills {
				app := fmt.Sprintf("app%06d", i)
				if err := p.register(skill, app); err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				acked = append(acked, skill+"_"+app)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(len(acked))/elapsed.Seconds(), "reg/s")
	b.ReportMetric(0, "ns/op")
	for _, p := range peers {
		p.conn.Close()
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("daemon: %v", err)
	}
	db = storetest.Open(b, storetest.Path(dbPath))
	for _, id := range acked {
		if _, err := db.App(id); err != nil {
			b.Errorf("acknowledged %s missing after restart: %v", id, err)
		}
	}
	if len(acked) != b.N {
		b.Errorf("%d of %d registrations acknowledged", len(acked), b.N)
	}
}

// registrar is a skill on the bus that registers apps one at a time. Unlike
// bustest.Peer it keeps no frames: every skill sees every frame on the bus,
// and keeping them all makes a long run quadratic.
type registrar struct {
	conn    *websocket.Conn
	replies chan []byte // data of the register replies
}

func dialRegistrar(b *testing.B, url string) *registrar {
	b.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := conn.ReadMessage(); err != nil { // "connected"
		b.Fatal(err)
	}
	r := &registrar{conn: conn, replies: make(chan []byte, 64)}
	go func() {
		for {
			_, frame, err := conn.ReadMessage()
			if err != nil {
				close(r.replies)
				return
			}
			if bytes.Contains(frame, []byte(`"oauth.register.response"`)) {
				r.replies <- frame
			}
		}
	}()
	return r
}

// register sends one oauth.register and waits for its reply.
func (r *registrar) register(skill, app string) error {
	m := bus.NewMessage("oauth.register", map[string]any{"skill_id": skill, "app_id": app, "client_id": "client",
		"auth_endpoint": "https://provider.example/authorize", "token_endpoint": "https://provider.example/token"})
	frame, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := r.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
		return err
	}
	munged := []byte(`"` + skill + "_" + app + `"`)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case frame, ok := <-r.replies:
			if !ok {
				return fmt.Errorf("register %s_%s: bus connection closed", skill, app)
			}
			if !bytes.Contains(frame, munged) {
				continue // another skill's
			}
			if bytes.Contains(frame, []byte(`"error"`)) {
				return fmt.Errorf("register %s_%s: %s", skill, app, frame)
			}
			return nil
		case <-timeout:
			return fmt.Errorf("register %s_%s: no reply in 10 s", skill, app)
		}
	}
}
