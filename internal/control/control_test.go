package control_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/control"
)

// fileCopy is a Copy that hands out data, counting its calls.
type fileCopy struct {
	data  []byte
	size  int64 // what it says; len(data) when -1
	calls atomic.Int32
}

func (f *fileCopy) copy(fn func(int64, io.WriterTo) error) error {
	f.calls.Add(1)
	size := f.size
	if size < 0 {
		size = int64(len(f.data))
	}
	return fn(size, bytes.NewReader(f.data))
}

// serve runs a server on a socket in a fresh directory until the test ends.
func serve(t *testing.T, dir string, f *fileCopy) (path string, stop func()) {
	t.Helper()
	path = filepath.Join(dir, control.SocketName)
	ln, err := control.Listen(path)
	if err != nil {
		t.Fatalf("Listen() = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &control.Server{Copy: f.copy, Timeout: 10 * time.Second}
	go func() { done <- srv.Serve(ctx, ln) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve() = %v", err)
		}
	}
	t.Cleanup(stop)
	return path, stop
}

func fetch(path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var buf bytes.Buffer
	_, err := control.Fetch(ctx, path, &buf)
	return buf.Bytes(), err
}

func TestFetch(t *testing.T) {
	t.Parallel()
	want := bytes.Repeat([]byte("bbolt page "), 100_000)
	f := &fileCopy{data: want, size: -1}
	path, stop := serve(t, t.TempDir(), f)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("socket %v, %v; want a socket of mode 0600", fi.Mode(), err)
	}
	got, err := fetch(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Fetch() = %d bytes, %v; want the %d bytes of the copy", len(got), err, len(want))
	}
	stop()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the socket outlived the server: %v", err)
	}
	if _, err := fetch(path); !control.NoDaemon(err) {
		t.Errorf("Fetch() with no daemon = %v, want one NoDaemon tells", err)
	}
}

// TestCutShort: a copy that ends before the size announced is an error.
func TestCutShort(t *testing.T) {
	t.Parallel()
	path, _ := serve(t, t.TempDir(), &fileCopy{data: []byte("half"), size: 100})
	if _, err := fetch(path); err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("Fetch() of a copy cut short = %v, want an error saying so", err)
	}
}

// TestStaleSocket: a socket a killed daemon left is replaced and says
// there is no daemon until then; anything else at the path is left alone.
func TestStaleSocket(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, control.SocketName)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false) // as after kill -9
	ln.Close()
	if _, err := fetch(path); !control.NoDaemon(err) {
		t.Errorf("Fetch() at a dead daemon's socket = %v, want one NoDaemon tells", err)
	}
	f := &fileCopy{data: []byte("copy"), size: -1}
	serve(t, dir, f)
	if got, err := fetch(path); err != nil || string(got) != "copy" {
		t.Errorf("Fetch() after the socket was replaced = %q, %v", got, err)
	}

	file := filepath.Join(t.TempDir(), control.SocketName)
	if err := os.WriteFile(file, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := control.Listen(file); err == nil {
		t.Error("Listen() over a regular file = nil, want an error")
	}
	if data, _ := os.ReadFile(file); string(data) != "keep me" {
		t.Error("Listen() removed a regular file")
	}
}

func TestAllowed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		uid  uint32
		self int
		want bool
	}{
		{1000, 1000, true},
		{0, 1000, true},
		{1001, 1000, false},
		{65534, 0, false},
		{0, 0, true},
	} {
		if got := control.Allowed(tc.uid, tc.self); got != tc.want {
			t.Errorf("Allowed(%d, %d) = %v, want %v", tc.uid, tc.self, got, tc.want)
		}
	}
}

// TestRefusesOtherUser: a process of another user that reaches the socket
// (the directory and socket opened to all here, to reach the peer check)
// gets no copy. The other user is this test's own thread, its ids changed
// with setresuid(2), which on Linux changes only the calling thread.
func TestRefusesOtherUser(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to connect as another user")
	}
	// Not t.TempDir(): its parent is 0700.
	dir, err := os.MkdirTemp("", "control-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &fileCopy{data: []byte("sealed secrets"), size: -1}
	path, _ := serve(t, dir, f)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		data []byte
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		// Never unlocked: the thread, another user's now, ends with the
		// goroutine instead of going back to the pool.
		runtime.LockOSThread()
		done <- connectAs(65534, path)
	}()
	a := <-done
	if a.err != nil {
		t.Fatalf("connect as uid 65534: %v", a.err)
	}
	if !strings.HasPrefix(string(a.data), "ERR refused") || bytes.Contains(a.data, f.data) {
		t.Errorf("another user got %q, want a refusal", a.data)
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("the store was copied %d times for another user", n)
	}
	// Root is still answered.
	if got, err := fetch(path); err != nil || !bytes.Equal(got, f.data) {
		t.Errorf("Fetch() as root = %q, %v", got, err)
	}
}

// connectAs switches the calling thread to uid, connects to the socket,
// asks for a copy and reads the answer to its end.
func connectAs(uid int, path string) (a struct {
	data []byte
	err  error
}) {
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESGID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		a.err = e
		return a
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		a.err = e
		return a
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		a.err = err
		return a
	}
	defer syscall.Close(fd)
	tv := syscall.Timeval{Sec: 10}
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		a.err = err
		return a
	}
	if _, err := syscall.Write(fd, []byte("copy\n")); err != nil {
		a.err = err
		return a
	}
	buf := make([]byte, 4096)
	for {
		n, err := syscall.Read(fd, buf)
		if n > 0 {
			a.data = append(a.data, buf[:n]...)
		}
		if err != nil || n <= 0 {
			if err != nil && err != syscall.ECONNRESET {
				a.err = err
			}
			return a
		}
	}
}
