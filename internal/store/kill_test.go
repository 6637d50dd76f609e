//go:build unix

package store_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/proctest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
	"github.com/google/go-cmp/cmp"
)

// TestMain runs the child processes of the kill tests (see proctest).
func TestMain(m *testing.M) {
	proctest.Main(map[string]proctest.Role{
		"write and wait": writeAndWait,
		"open and wait":  openAndWait,
	})
	os.Exit(m.Run())
}

// TestSurvivesKill9 is the acceptance test "an acknowledged registration,
// token or pending login survives kill -9": a child process writes an app,
// a token and a pending login, and spends another login's state, says "ok"
// once the calls returned, and is SIGKILLed while it still holds the store
// open; the parent then finds them all, the login can still be finished
// (its state taken), and the spent one is marked and cannot be spent again.
func TestSurvivesKill9(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	child := proctest.Start(t, proctest.Command("write and wait", path))
	child.Expect(t, "ok") // the writes acknowledged
	child.Kill(t)

	db := storetest.Open(t, storetest.Path(path)) // the kernel dropped the dead child's lock
	app, err := db.App("skill_app")
	if err != nil {
		t.Fatalf("App() after kill -9 = %v", err)
	}
	if diff := cmp.Diff(app, fullApp("skill", "app"), equateTimes); diff != "" {
		t.Errorf("App() after kill -9 mismatch (-got +want):\n%s", diff)
	}
	tok, err := db.Token("skill_app")
	if err != nil {
		t.Fatalf("Token() after kill -9 = %v", err)
	}
	if diff := cmp.Diff(tok, fullToken("access"), equateTimes); diff != "" {
		t.Errorf("Token() after kill -9 mismatch (-got +want):\n%s", diff)
	}
	want := fullFlow("login", "skill_app", at(0))
	f, err := db.TakeFlow(want.State.Reveal())
	if err != nil {
		t.Fatalf("TakeFlow() of the pending login after kill -9 = %v", err)
	}
	if diff := cmp.Diff(f, want, equateTimes); diff != "" {
		t.Errorf("pending login after kill -9 mismatch (-got +want):\n%s", diff)
	}
	spent := fullFlow("spent", "skill_app", at(1))
	if f, err := db.FlowByState(spent.State.Reveal()); err != nil || f.SpentBy != "dead-run" || !f.Spent.Equal(at(2)) {
		t.Errorf("FlowByState() of the login spent before kill -9 = %+v, %v; want it marked spent by the dead run", f, err)
	}
	if _, err := db.SpendFlow(spent.State.Reveal(), "next-run", at(3)); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("SpendFlow() of a state spent before kill -9 = %v, want ErrNotFound", err)
	}
}

// writeAndWait is TestSurvivesKill9's child process: it writes to the
// store at args[0], says "ok" once the calls returned, and waits, the
// store open and unclosed, for SIGKILL.
func writeAndWait(args []string) error {
	db := store.New(args[0])
	if err := db.Open(); err != nil {
		return err
	}
	if err := db.PutApp(fullApp("skill", "app"), false); err != nil {
		return err
	}
	if err := db.PutToken("skill_app", fullToken("access")); err != nil {
		return err
	}
	if err := db.PutFlow(fullFlow("login", "skill_app", at(0)), 4); err != nil {
		return err
	}
	spent := fullFlow("spent", "skill_app", at(1))
	if err := db.PutFlow(spent, 4); err != nil {
		return err
	}
	if _, err := db.SpendFlow(spent.State.Reveal(), "dead-run", at(2)); err != nil {
		return err
	}
	fmt.Println("ok")
	return proctest.AwaitKill()
}
