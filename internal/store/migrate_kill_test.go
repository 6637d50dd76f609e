//go:build unix

package store_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/proctest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// TestMigrationSurvivesKill9 SIGKILLs a process at spread moments while it
// seals a version 1 store (the key file, the sealing transaction, the
// compaction and the rename), then opens the store: whatever the moment,
// every record is there and no secret is left in the file.
func TestMigrationSurvivesKill9(t *testing.T) {
	t.Parallel()
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
	start := time.Now()
	child := proctest.Start(t, proctest.Command("open and wait", path))
	took := killAfter
	if killAfter < 0 {
		child.Expect(t, "ok")
		took = time.Since(start)
	} else {
		<-time.After(killAfter) // the moment to kill at, not a wait for the child
	}
	child.Kill(t)
	return took
}

// openAndWait is TestMigrationSurvivesKill9's child process: it opens the
// store at args[0], sealing a version 1 store, says "ok" and waits for
// SIGKILL.
func openAndWait(args []string) error {
	if err := store.New(args[0]).Open(); err != nil {
		return err
	}
	fmt.Println("ok")
	return proctest.AwaitKill()
}
