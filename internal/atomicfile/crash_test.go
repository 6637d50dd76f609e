//go:build unix

package atomicfile_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/atomicfile"
)

// crashChildEnv carries the path to TestCrashChild in a child process.
const crashChildEnv = "OVOS_OAUTH_ATOMICFILE_CRASH_CHILD"

// TestCrashKeepsOld: a process killed in the middle of a write leaves the
// old file under its name, whole; what it had written is only in a
// temporary file whose name begins with a dot.
func TestCrashKeepsOld(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.json")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
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
	midway := false
	for sc := bufio.NewScanner(stdout); sc.Scan(); {
		if sc.Text() == "midway" {
			midway = true
			break
		}
	}
	if !midway {
		err := cmd.Wait()
		t.Fatalf("child ended (%v) before it was midway through its write:\n%s", err, &stderr)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var exitErr *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &exitErr) {
		t.Fatalf("child Wait() = %v, want it killed", err)
	}

	if got, err := os.ReadFile(path); err != nil || string(got) != "old" {
		t.Errorf("file after a crash mid-write = %q, %v; want the old one", got, err)
	}
	var partial []string
	for _, n := range names(t, dir) {
		if n == "tokens.json" {
			continue
		}
		if !strings.HasPrefix(n, ".tokens.json.") {
			t.Errorf("left behind %q, want only a dot-file named after tokens.json", n)
		}
		partial = append(partial, n)
	}
	if len(partial) != 1 {
		t.Fatalf("temporary files = %v, want the one the child was writing", partial)
	}
	if got, err := os.ReadFile(filepath.Join(dir, partial[0])); err != nil || string(got) != "half of the n" {
		t.Errorf("temporary file = %q, %v; want what the child wrote", got, err)
	}
}

// TestCrashChild is TestCrashKeepsOld's child: it writes half of a file,
// says "midway", and waits to be killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("run by TestCrashKeepsOld")
	}
	_, err := atomicfile.WriteFunc(path, 0o600, func(w io.Writer) error {
		if _, err := io.WriteString(w, "half of the n"); err != nil {
			return err
		}
		os.Stdout.WriteString("midway\n")
		_, err := io.Copy(io.Discard, os.Stdin) // until killed, or orphaned
		return err
	})
	t.Fatalf("WriteFunc() = %v, want to be killed before it returns", err)
}
