//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package mirror_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/mirror"
	"github.com/OpenVoiceOS/ovos-oauth/internal/proctest"
	"github.com/google/go-cmp/cmp"
)

// holdLock takes the lock at path as json_database's ComboLock does (an
// exclusive flock on a file it opens itself) and returns its release.
func holdLock(t *testing.T, path string) (release func()) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	released := false
	release = func() {
		if !released {
			released = true
			f.Close() // closing the only descriptor drops the flock
		}
	}
	t.Cleanup(release)
	return release
}

// tokenLock is where json_database locks ovos_oauth.json: the file's base
// name plus ".lock", in the temporary directory.
func tokenLock(f *mirror.Files) string { return filepath.Join(f.LockDir, "ovos_oauth.json.lock") }

// Another process holds the lock and writes its own entry meanwhile: PutToken
// waits, then writes on top of that entry rather than over it.
func TestWaitsForLockHolder(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFiles(t)
		writePython(t, f.TokenFile(), map[string]any{"earlier": "entry"})
		before, err := os.ReadFile(f.TokenFile())
		if err != nil {
			t.Fatal(err)
		}
		release := holdLock(t, tokenLock(f))

		done := make(chan error, 1)
		go func() { done <- f.PutToken(testApp("skill", "a"), testToken("a")) }()
		synctest.Wait() // PutToken is asleep between tries of the lock
		select {
		case err := <-done:
			t.Fatalf("PutToken() = %v while the lock was held, want it to wait", err)
		default:
		}
		if got, _ := os.ReadFile(f.TokenFile()); !bytes.Equal(got, before) {
			t.Fatalf("PutToken wrote while the lock was held:\n%s", got)
		}

		// The holder does as json_database does: its snapshot, plus its key,
		// rewritten in place.
		writePython(t, f.TokenFile(), map[string]any{
			"earlier":     "entry",
			"ocp_spotify": map[string]any{"access_token": "spotify-access"},
		})
		release()
		if err := <-done; err != nil {
			t.Fatalf("PutToken() after the lock was released error = %v", err)
		}
		got := readJSON(t, f.TokenFile())
		if diff := cmp.Diff(keys(got), []string{"earlier", "ocp_spotify", "skill_a"}); diff != "" {
			t.Errorf("keys mismatch (-got +want):\n%s", diff)
		}
	})
}

// A lock held for ever costs a caller Timeout, then an error, and the file is
// not touched. The other file's lock is separate.
func TestLockTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFiles(t)
		writePython(t, f.TokenFile(), map[string]any{"earlier": "entry"})
		before, err := os.ReadFile(f.TokenFile())
		if err != nil {
			t.Fatal(err)
		}
		holdLock(t, tokenLock(f))

		app, tok := testApp("skill", "a"), testToken("a")
		start := time.Now()
		err = f.PutToken(app, tok)
		if err == nil {
			t.Fatal("PutToken() = nil while the lock was held for ever, want an error")
		}
		if waited := time.Since(start); waited < mirror.DefaultTimeout {
			t.Errorf("PutToken() gave up after %v, want it to wait %v", waited, mirror.DefaultTimeout)
		}
		for _, want := range []string{f.TokenFile(), tokenLock(f)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("PutToken() error = %q, want it to name %s", err, want)
			}
		}
		for _, secret := range []string{tok.AccessToken.Reveal(), tok.RefreshToken.Reveal()} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("PutToken() error = %q reveals a secret", err)
			}
		}
		if got, _ := os.ReadFile(f.TokenFile()); !bytes.Equal(got, before) {
			t.Errorf("PutToken() changed the file it could not lock:\n%s", got)
		}
		checkDirNames(t, f.Dir, "ovos_oauth.json")

		if err := f.PutApp(app, redirectURI); err != nil {
			t.Errorf("PutApp() while only the token file was locked error = %v", err)
		}
	})
}

// TestMain runs the child process of TestWaitsForOtherProcess (see
// proctest).
func TestMain(m *testing.M) {
	proctest.Main(map[string]proctest.Role{"hold the lock": holdLockAndWrite})
	os.Exit(m.Run())
}

// childFile is what the child writes while it holds the lock: json_database
// rewrites the whole file, so anything PutToken had written before would be
// gone.
const childFile = `{
    "ocp_spotify": {
        "access_token": "spotify-access"
    }
}`

// TestWaitsForOtherProcess is the cross-process check: a child process (this
// test binary in the role "hold the lock") holds the flock as a Python skill
// would; PutToken must wait until the child has written and let go.
func TestWaitsForOtherProcess(t *testing.T) {
	t.Parallel()
	f := newFiles(t)
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	child := proctest.Start(t, proctest.Command("hold the lock", tokenLock(f), f.TokenFile()))
	child.Expect(t, "locked")

	synctest.Test(t, func(t *testing.T) {
		done := make(chan error, 1)
		go func() { done <- f.PutToken(testApp("skill", "a"), testToken("a")) }()
		synctest.Wait() // PutToken is asleep between tries of the lock
		select {
		case err := <-done:
			t.Fatalf("PutToken() = %v while the child held the lock, want it to wait", err)
		default:
		}
		if _, err := os.Stat(f.TokenFile()); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Stat(token file) = %v while the child held the lock, want nothing written", err)
		}

		child.Send(t, "write")
		child.Expect(t, "released")
		if err := <-done; err != nil {
			t.Fatalf("PutToken() after the child let go error = %v", err)
		}
	})
	if err := child.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}

	got := readJSON(t, f.TokenFile())
	if diff := cmp.Diff(keys(got), []string{"ocp_spotify", "skill_a"}); diff != "" {
		t.Errorf("keys mismatch (-got +want):\n%s", diff)
	}
}

// holdLockAndWrite is the child process of TestWaitsForOtherProcess. It
// takes the lock at args[0], says "locked", waits for a line on stdin,
// rewrites the file at args[1] whole, lets go and says "released".
func holdLockAndWrite(args []string) error {
	f, err := os.OpenFile(args[0], os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	fmt.Println("locked")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("read stdin: %w", err) // the parent is gone; exiting drops the lock
	}
	if err := os.WriteFile(args[1], []byte(childFile), 0o644); err != nil {
		return err
	}
	f.Close() // closing the only descriptor drops the flock
	fmt.Println("released")
	return nil
}
