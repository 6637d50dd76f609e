// Package control is the daemon's local socket, control.sock in its data
// directory, for what must never cross the bus: a copy of the store's file
// for a backup, which the daemon's lock on the file keeps every other
// process from reading while it runs.
//
// Only the store's owner reaches it. The data directory is 0700, the
// socket 0600, and the daemon checks the credentials of every peer
// (SO_PEERCRED) besides: only its own user and root are answered. What it
// hands out is the file as it is on disk, its secrets sealed: the key file
// is needed to read them, which the same user or root reads themselves.
//
// The protocol is one request per connection, in lines: the client sends
// "copy", the daemon answers "OK <size>" and then exactly size bytes, or
// "ERR <message>".
package control

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// SocketName is the socket's name in the data directory.
const SocketName = "control.sock"

// requestCopy asks for a copy of the store's file.
const requestCopy = "copy"

// maxLine bounds a request or answer line.
const maxLine = 256

// maxCopy bounds the size of a copy a client accepts.
const maxCopy = 1 << 30

const defaultTimeout = time.Minute

// Server answers on the control socket. Set its fields before Serve.
type Server struct {
	// Copy calls fn with a consistent copy of the store's file: its size
	// and what writes it (store.DB.Copy).
	Copy func(fn func(size int64, file io.WriterTo) error) error
	// Logger gets a line for each copy handed out and each peer refused;
	// nil discards.
	Logger *slog.Logger
	// Timeout bounds each connection, from accept to the last byte: the
	// store holds a read transaction while a copy is sent, and a client
	// that stops reading must not hold it for long. Zero means a minute.
	Timeout time.Duration
}

// Listen listens on the socket at path, mode 0600, replacing a socket left
// there by a daemon that did not stop cleanly. It refuses to remove
// anything at path that is not a socket. Closing the listener removes the
// socket.
func Listen(path string) (*net.UnixListener, error) {
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.Mode().Type() != fs.ModeSocket:
		return nil, fmt.Errorf("listen on %s: something that is not a socket is there; move it away", path)
	case err == nil:
		// The store's lock, taken before, keeps a second daemon of this
		// data directory out: the socket is a dead one's.
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("listen on %s: remove the old socket: %w", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return ln, nil
}

// Serve answers on ln until ctx ends, then closes it (which removes the
// socket) and waits for the connections in flight, each bounded by
// Timeout. It returns nil when ctx ends.
func (s *Server) Serve(ctx context.Context, ln *net.UnixListener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			s.logger().Warn("control socket: accept failed", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond): // EMFILE and the like pass
			}
			continue
		}
		wg.Go(func() {
			defer conn.Close()
			s.answer(conn)
		})
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// answer answers one connection.
func (s *Server) answer(conn *net.UnixConn) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	uid, err := peerUID(conn)
	if err != nil {
		s.logger().Warn("control socket: peer unknown, refused", "err", err)
		fmt.Fprintf(conn, "ERR the daemon cannot tell who you are: %v\n", err)
		return
	}
	if !Allowed(uid, os.Geteuid()) {
		s.logger().Warn("control socket: refused a connection of another user", "uid", uid)
		fmt.Fprintf(conn, "ERR refused: only the daemon's user (uid %d) and root may ask\n", os.Geteuid())
		return
	}
	req, err := readLine(bufio.NewReaderSize(conn, maxLine))
	if err != nil {
		return // the client went away, or sent no line in time
	}
	if req != requestCopy {
		fmt.Fprintf(conn, "ERR unknown request %q\n", truncate(req, 32))
		return
	}
	var sent int64
	err = s.Copy(func(size int64, file io.WriterTo) error {
		if _, err := fmt.Fprintf(conn, "OK %d\n", size); err != nil {
			return err
		}
		var err error
		sent, err = file.WriteTo(conn)
		return err
	})
	if err != nil {
		s.logger().Warn("control socket: copy of the store not sent whole", "uid", uid, "sent_bytes", sent, "err", err)
		return
	}
	s.logger().Info("copy of the store handed out for a backup", "uid", uid, "bytes", sent)
}

// Allowed reports whether a peer of uid may use the socket of a daemon
// running as self: its own user and root only.
func Allowed(uid uint32, self int) bool {
	return uid == 0 || int64(uid) == int64(self)
}

// Fetch asks the daemon listening at path for a copy of its store's file
// and writes it to w, whole or with an error. The error wraps
// fs.ErrNotExist or syscall.ECONNREFUSED when no daemon listens there.
func Fetch(ctx context.Context, path string, w io.Writer) (int64, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return 0, fmt.Errorf("reach the daemon at %s: %w", path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := io.WriteString(c, requestCopy+"\n"); err != nil {
		return 0, fmt.Errorf("ask the daemon at %s: %w", path, err)
	}
	r := bufio.NewReaderSize(c, 64<<10)
	line, err := readLine(r)
	if err != nil {
		return 0, fmt.Errorf("ask the daemon at %s: no answer: %w", path, err)
	}
	if msg, ok := strings.CutPrefix(line, "ERR "); ok {
		return 0, fmt.Errorf("the daemon at %s: %s", path, msg)
	}
	sizeText, ok := strings.CutPrefix(line, "OK ")
	size, err := strconv.ParseInt(sizeText, 10, 64)
	if !ok || err != nil || size < 0 || size > maxCopy {
		return 0, fmt.Errorf("the daemon at %s answered %q, not a copy", path, truncate(line, 32))
	}
	n, err := io.CopyN(w, r, size)
	if err != nil {
		return n, fmt.Errorf("the copy from the daemon at %s was cut short at %d of %d bytes: %w", path, n, size, err)
	}
	return n, nil
}

// readLine reads one line of at most maxLine bytes, without its newline.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return "", err
	}
	if len(line) > maxLine {
		return "", errors.New("line too long")
	}
	return strings.TrimSuffix(string(line), "\n"), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// NoDaemon reports whether err, from Fetch, says that no daemon listens
// at the socket: none there, or one left by a daemon that died.
func NoDaemon(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED)
}
