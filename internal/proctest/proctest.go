// Package proctest runs the test binary again as a child process in a
// role, for tests that need another process: one to SIGKILL in the middle
// of its work, one that holds a lock, a daemon measured apart from the
// test.
//
// The package's TestMain calls Main first, with every role its tests
// start; a test starts a child with Start(tb, Command(role, args...)),
// reads the lines it prints with Expect, and kills it with Kill.
package proctest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// roleEnv is the environment variable that names the role of a child
// process.
const roleEnv = "OVOS_OAUTH_TEST_ROLE"

// A Role is what a child process does, given the arguments of Command. An
// error ends the child with status 1, after it is printed to stderr.
type Role func(args []string) error

// Main runs the role this process was started in, and exits; in the test
// process itself, started without one, it returns at once. A role it does
// not know ends the child with status 2.
func Main(roles map[string]Role) {
	name := os.Getenv(roleEnv)
	if name == "" {
		return
	}
	role, ok := roles[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "proctest: no role %q in this test binary\n", name)
		os.Exit(2)
	}
	var args []string
	if i := slices.Index(os.Args, "--"); i >= 0 {
		args = os.Args[i+1:]
	}
	if err := role(args); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Command returns a command that runs this test binary in role with args,
// in this process's environment and Env(role). A binary whose TestMain does
// not call Main runs no test and exits.
func Command(role string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), Env(role)...)
	return cmd
}

// Env is what a child's environment needs beyond what the test gives it:
// its role, and, for a binary built with -race, no second of sleep when it
// exits (the race detector's atexit_sleep_ms, which a child that ends
// many times over in a test would add up).
func Env(role string) []string {
	return []string{roleEnv + "=" + role, "GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")}
}

// AwaitKill blocks a child until its parent kills it. It returns an error
// if the parent closed the child's stdin instead: the test ended without.
func AwaitKill() error {
	_, _ = io.Copy(io.Discard, os.Stdin)
	return errors.New("stdin closed before the kill: the test is gone")
}

// expectWithin bounds Expect: far longer than a child takes to say
// anything on a slow, loaded machine.
const expectWithin = time.Minute

// A Child is a running child process. Its methods are for the test's own
// goroutine.
type Child struct {
	Cmd   *exec.Cmd
	stdin io.WriteCloser

	mu     sync.Mutex
	lines  []string      // printed so far
	more   chan struct{} // closed, and replaced, at each line and at the end
	ended  bool          // stdout closed
	next   int           // the first line Expect has not read
	stderr bytes.Buffer  // if the test did not set Cmd.Stderr

	waited chan struct{}
	err    error // of Wait, once waited is closed
}

// Start starts cmd, with its stdin a pipe that stays open until the test
// ends (a child whose parent is gone sees it closed), its stdout read line
// by line for Expect, and its stderr kept for failure messages unless the
// test set cmd.Stderr. A child still running when the test ends is killed
// (SIGKILL).
func Start(tb testing.TB, cmd *exec.Cmd) *Child {
	tb.Helper()
	c := &Child{Cmd: cmd, more: make(chan struct{}), waited: make(chan struct{})}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	c.stdin = stdin
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &lockedWriter{mu: &c.mu, w: &c.stderr}
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", cmd.Path, err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			c.mu.Lock()
			c.lines = append(c.lines, sc.Text())
			close(c.more)
			c.more = make(chan struct{})
			c.mu.Unlock()
		}
		c.mu.Lock()
		c.ended = true
		close(c.more)
		c.mu.Unlock()
	}()
	go func() {
		<-read // Wait closes stdout: read it all first
		c.err = cmd.Wait()
		close(c.waited)
	}()
	tb.Cleanup(func() {
		_ = c.stdin.Close()
		select {
		case <-c.waited:
		default:
			_ = cmd.Process.Kill()
			<-c.waited
		}
	})
	return c
}

// Expect reads the lines the child prints until one is line. It fails the
// test if the child ends first, or says nothing of the kind within a
// minute.
func (c *Child) Expect(tb testing.TB, line string) {
	tb.Helper()
	timeout := time.After(expectWithin)
	for {
		c.mu.Lock()
		for c.next < len(c.lines) {
			c.next++
			if c.lines[c.next-1] == line {
				c.mu.Unlock()
				return
			}
		}
		ended, more := c.ended, c.more
		c.mu.Unlock()
		if ended {
			<-c.waited
			tb.Fatalf("child ended (%v) before it said %q:\n%s", c.err, line, c.output())
			return
		}
		select {
		case <-more:
		case <-timeout:
			tb.Fatalf("child did not say %q within %v:\n%s", line, expectWithin, c.output())
			return
		}
	}
}

// Send writes line to the child's stdin.
func (c *Child) Send(tb testing.TB, line string) {
	tb.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		tb.Fatalf("write to the child: %v", err)
	}
}

// Kill sends the child SIGKILL and waits for it to end, failing the test
// unless SIGKILL is what ended it.
func (c *Child) Kill(tb testing.TB) {
	tb.Helper()
	if err := c.Cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		tb.Fatalf("kill the child: %v", err)
	}
	<-c.waited
	var exit *exec.ExitError
	if !errors.As(c.err, &exit) {
		tb.Fatalf("child ended with %v, want SIGKILL:\n%s", c.err, c.output())
		return
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		tb.Fatalf("child ended with %v, want SIGKILL:\n%s", exit, c.output())
	}
}

// Wait waits for the child to end and returns what exec.Cmd.Wait did.
func (c *Child) Wait() error {
	<-c.waited
	return c.err
}

// output is what the child printed, for failure messages.
func (c *Child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("stdout:\n%s\nstderr:\n%s", strings.Join(c.lines, "\n"), &c.stderr)
}

// lockedWriter serializes the child's stderr with output's reads.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
