package main

import (
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestListenErrors: a taken port and a privileged one get a message that
// points at their own fix, and only a taken one blames another daemon.
func TestListenErrors(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, err = net.Listen("tcp", taken.Addr().String())
	if msg := listenError(taken.Addr().String(), err).Error(); !strings.Contains(msg, "taken") || !strings.Contains(msg, "Python OAuth plugin") {
		t.Errorf("taken port: %s", msg)
	}
	denied := &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", syscall.EACCES)}
	if msg := listenError("0.0.0.0:80", denied).Error(); !strings.Contains(msg, "privileges") || strings.Contains(msg, "Python") {
		t.Errorf("permission denied: %s", msg)
	}
}

func TestLoopbackHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{"localhost": true, "127.0.0.1": true, "127.1.2.3": true, "ovos.localhost": true, "192.168.1.20": false, "mycroft.local": false} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
