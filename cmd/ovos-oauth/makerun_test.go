package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
)

// TestMakeRunStaysInItsFolder: the daemon of make run keeps everything it
// writes and reads of ovos_utils under its folder (RUN_DIR, .data/ by
// default): it neither writes its test apps into this user's real
// ovos_utils files in ~/.cache, which OVOS's skills read, nor imports the
// apps of the OVOS running there. make prints the command (make -n); the
// test runs it with a home of its own standing in for the user's.
func TestMakeRunStaysInItsFolder(t *testing.T) {
	t.Parallel()
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not installed")
	}
	runDir := t.TempDir()
	out, err := exec.Command(makeBin, "-n", "--no-print-directory", "-C", "../..", "run", "RUN_DIR="+runDir).Output()
	if err != nil {
		t.Fatalf("make -n run: %v", err)
	}
	var words []string
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "bin/ovos-oauth serve") {
			words = strings.Fields(line)
		}
	}
	if words == nil {
		t.Fatalf("make -n run prints no ovos-oauth serve:\n%s", out)
	}

	home := t.TempDir() // the user's, with OVOS's files in ~/.cache
	userDir := filepath.Join(home, ".cache", "mycroft", "json_database")
	unchanged := writePluginFiles(t, userDir, time.Now().Add(time.Hour), "https://provider.invalid/token")
	env := map[string]string{"HOME": home, "OVOS_OAUTH_SYSTEM_CONFIG_DIR": t.TempDir(), "MYCROFT_SYSTEM_CONFIG": "/nonexistent", "XDG_CONFIG_DIRS": t.TempDir()}
	i := 0
	for ; i < len(words) && !strings.HasSuffix(words[i], "bin/ovos-oauth"); i++ {
		k, v, ok := strings.Cut(words[i], "=")
		if !ok {
			t.Fatalf("make run's command %q: %q is neither a variable nor the program", words, words[i])
		}
		env[k] = v
	}
	args := words[i+2:] // after the program and "serve"
	dataDir := ""
	for j := 0; j+1 < len(args); j++ {
		switch args[j] {
		case "--embedded-bus":
			args[j+1] = "127.0.0.1:0" // a free port, not make run's fixed one
		case "--data-dir":
			dataDir = args[j+1]
			if !strings.HasPrefix(dataDir, runDir) {
				t.Errorf("make run's data dir is %s, not under RUN_DIR %s", dataDir, runDir)
				args[j+1] = filepath.Join(runDir, "data") // never the repository's .data here
			}
		}
	}
	args = append(args, "--listen", "127.0.0.1:0")

	d := startDaemonEnv(t, "", runDir, env, args...)
	sk := newSkill(t, d.busURL, skillID)
	st := noErr(t, sk.request(t, "oauth.status", map[string]any{}, "oauth.status.response"))
	if apps := st["apps"].([]any); len(apps) != 0 {
		t.Errorf("make run's daemon imported %d apps of this user's OVOS, want none", len(apps))
	}
	noErr(t, sk.request(t, "oauth.register", map[string]any{"skill_id": skillID, "app_id": "dev", "client_id": "c",
		"auth_endpoint": "https://p.example/a", "token_endpoint": "https://p.example/t"}, "oauth.register.response"))
	// The mirror writes behind the reply: wait until its apps file, wherever
	// it is, has the app.
	runFile := filepath.Join(runDir, "cache", "mycroft", "json_database", "ovos_oauth_apps.json")
	userFile := filepath.Join(userDir, "ovos_oauth_apps.json")
	polltest.UntilNil(t, func() error {
		run, _ := os.ReadFile(runFile)
		user, _ := os.ReadFile(userFile)
		if !strings.Contains(string(run)+string(user), skillID+"_dev") {
			return fmt.Errorf("the mirror wrote the app neither to %s nor to %s; log:\n%s", runFile, userFile, d.logs)
		}
		return nil
	})
	unchanged(t)
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(home)
	if err != nil || len(entries) != 1 || entries[0].Name() != ".cache" {
		t.Errorf("make run's daemon left %v in the user's home, want only the .cache the test made", entries)
	}
}
