//go:build unix

package store_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
	"github.com/google/go-cmp/cmp"
)

// killChildEnv carries the store path to TestKillChild in a child process.
const killChildEnv = "OVOS_OAUTH_STORE_KILL_CHILD"

// TestSurvivesKill9 is the acceptance test "an acknowledged registration,
// token or pending login survives kill -9": a child process writes an app,
// a token and a pending login, and spends another login's state, says "ok"
// once the calls returned, and is SIGKILLed while it still holds the store
// open; the parent then finds them all, the login can still be finished
// (its state taken), and the spent one is marked and cannot be spent again.
func TestSurvivesKill9(t *testing.T) {
	path := filepath.Join(t.TempDir(), "oauth.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+path)
	stdin, err := cmd.StdinPipe() // the child blocks reading it; closing it ends an orphan
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	var out []string
	acked := false
	for sc := bufio.NewScanner(stdout); sc.Scan(); {
		if sc.Text() == "ok" {
			acked = true
			break
		}
		out = append(out, sc.Text())
	}
	if !acked {
		err := cmd.Wait()
		t.Fatalf("child ended (%v) without acknowledging its writes:\n%s\n%s", err, strings.Join(out, "\n"), &stderr)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("child Wait() = %v, want it killed", err)
	}
	if ws, ok := exitErr.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL", exitErr)
	}

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

// TestKillChild is TestSurvivesKill9's child process; run on its own it skips.
func TestKillChild(t *testing.T) {
	path := os.Getenv(killChildEnv)
	if path == "" {
		t.Skip("helper process for TestSurvivesKill9")
	}
	db := storetest.Open(t, storetest.Path(path))
	if err := db.PutApp(fullApp("skill", "app"), false); err != nil {
		t.Fatal(err)
	}
	if err := db.PutToken("skill_app", fullToken("access")); err != nil {
		t.Fatal(err)
	}
	if err := db.PutFlow(fullFlow("login", "skill_app", at(0)), 4); err != nil {
		t.Fatal(err)
	}
	spent := fullFlow("spent", "skill_app", at(1))
	if err := db.PutFlow(spent, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SpendFlow(spent.State.Reveal(), "dead-run", at(2)); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ok")
	// Block, store open and unclosed, until SIGKILL (or the parent's exit
	// closes stdin).
	_, _ = io.Copy(io.Discard, os.Stdin)
	t.Fatal("stdin closed before SIGKILL")
}
