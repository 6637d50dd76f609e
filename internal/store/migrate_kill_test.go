//go:build unix

package store_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// migrateChildEnv carries the store path to TestMigrateKillChild.
const migrateChildEnv = "OVOS_OAUTH_STORE_MIGRATE_CHILD"

// TestMigrationSurvivesKill9 SIGKILLs a process at spread moments while it
// seals a version 1 store (the key file, the sealing transaction, the
// compaction and the rename), then opens the store: whatever the moment,
// every record is there and no secret is left in the file.
func TestMigrationSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	fx := newFixture(120)

	// One uninterrupted run times the whole migration.
	path := filepath.Join(t.TempDir(), "oauth.db")
	writePlainV1(t, path, fx)
	full := runMigrateChild(t, path, -1)

	const rounds = 8
	for i := range rounds {
		t.Run(fmt.Sprintf("kill at %d of %d", i, rounds), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "oauth.db")
			writePlainV1(t, path, fx)
			runMigrateChild(t, path, full*time.Duration(i)/rounds)
			// Where the kill struck, for the log: before sealing, after
			// sealing but before the compacted copy replaced the file, or
			// after.
			t.Logf("killed with schema_version %q, compact_pending %q", readMeta(t, path, "schema_version"), readMeta(t, path, "compact_pending"))

			db := storetest.Open(t, storetest.Path(path))
			fx.check(t, db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			checkNoSecrets(t, path, fx.secrets())
			if got := readMeta(t, path, "schema_version"); got != "3" {
				t.Errorf("schema_version = %q, want %q", got, "3")
			}
		})
	}
}

// runMigrateChild starts a child that opens the store at path and SIGKILLs
// it after killAfter, or once it has opened the store when killAfter < 0.
// It returns how long the child took to open the store (or was given).
func runMigrateChild(t *testing.T, path string, killAfter time.Duration) time.Duration {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestMigrateKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), migrateChildEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	opened := make(chan time.Duration, 1)
	go func() {
		for sc := bufio.NewScanner(stdout); sc.Scan(); {
			if sc.Text() == "ok" {
				opened <- time.Since(start)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var took time.Duration
	if killAfter < 0 {
		select {
		case took = <-opened:
		case <-time.After(30 * time.Second):
			t.Fatal("child did not open the store in 30s")
		}
	} else {
		<-time.After(killAfter) // the moment to kill at, not a wait for the child
		took = killAfter
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	return took
}

// TestMigrateKillChild is TestMigrationSurvivesKill9's child process; run on
// its own it skips.
func TestMigrateKillChild(t *testing.T) {
	path := os.Getenv(migrateChildEnv)
	if path == "" {
		t.Skip("helper process for TestMigrationSurvivesKill9")
	}
	storetest.Open(t, storetest.Path(path))
	fmt.Println("ok")
	_, _ = io.Copy(io.Discard, os.Stdin)
	t.Fatal("stdin closed before SIGKILL")
}
