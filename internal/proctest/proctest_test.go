//go:build unix

package proctest_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/proctest"
)

func TestMain(m *testing.M) {
	proctest.Main(map[string]proctest.Role{
		// echo says its arguments and "ready", then echoes one line of
		// stdin and ends.
		"echo": func(args []string) error {
			fmt.Println(strings.Join(args, " "))
			fmt.Println("ready")
			line, err := bufio.NewReader(os.Stdin).ReadString('\n')
			if err != nil {
				return err
			}
			fmt.Print("got " + line)
			return nil
		},
		// hold says "ready" and waits to be killed.
		"hold": func([]string) error {
			fmt.Println("ready")
			return proctest.AwaitKill()
		},
		"fail": func([]string) error { return errors.New("the role failed") },
	})
	os.Exit(m.Run())
}

// recorder is a testing.TB that notes a failure instead of ending the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

// TestRoundTrip: a child gets its arguments, says lines the test expects,
// reads what the test sends and ends on its own.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	c := proctest.Start(t, proctest.Command("echo", "one", "--two"))
	c.Expect(t, "one --two")
	c.Expect(t, "ready")
	c.Send(t, "hello")
	c.Expect(t, "got hello")
	if err := c.Wait(); err != nil {
		t.Errorf("Wait() = %v, want the child ended well", err)
	}
}

// TestKill: Kill ends a child with SIGKILL, and fails the test for a child
// that ended otherwise.
func TestKill(t *testing.T) {
	t.Parallel()
	c := proctest.Start(t, proctest.Command("hold"))
	c.Expect(t, "ready")
	c.Kill(t)

	failed := proctest.Start(t, proctest.Command("fail"))
	if err := failed.Wait(); err == nil {
		t.Fatal("Wait() of a failed role = nil")
	}
	r := &recorder{TB: t}
	failed.Kill(r)
	if !strings.Contains(r.failed, "want SIGKILL") || !strings.Contains(r.failed, "the role failed") {
		t.Errorf("Kill() of a child that failed on its own: failure %q, want it to say so with the child's stderr", r.failed)
	}
}

// TestExpectChildEnded: Expect of a line the child never says fails once
// the child has ended, with what the child said.
func TestExpectChildEnded(t *testing.T) {
	t.Parallel()
	c := proctest.Start(t, proctest.Command("fail"))
	r := &recorder{TB: t}
	c.Expect(r, "ready")
	if !strings.Contains(r.failed, `before it said "ready"`) || !strings.Contains(r.failed, "the role failed") {
		t.Errorf("Expect() of a line never said: failure %q, want it to say the child ended, with its stderr", r.failed)
	}
}

// TestUnknownRole: a role the binary does not know ends the child at once
// with status 2.
func TestUnknownRole(t *testing.T) {
	t.Parallel()
	err := proctest.Start(t, proctest.Command("nobody")).Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("Wait() of an unknown role = %v, want exit status 2", err)
	}
}

// TestCleanupKills: a child that outlives its test is killed when the test
// ends.
func TestCleanupKills(t *testing.T) {
	t.Parallel()
	var c *proctest.Child
	t.Run("starts a child", func(t *testing.T) {
		c = proctest.Start(t, proctest.Command("hold"))
		c.Expect(t, "ready")
	})
	if err := c.Wait(); err == nil {
		t.Error("the child of an ended test ended well, want it killed")
	}
}
