package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/config"
	"github.com/OpenVoiceOS/ovos-oauth/internal/seal"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
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

// TestPrivilegedPortInLang: a port below 1024 that the daemon may not
// bind says so and how to choose another. Root may bind it, so as root
// the error is made as the kernel gives it.
func TestPrivilegedPortInLang(t *testing.T) {
	t.Parallel()
	env := langOf(t, "pt-pt")
	ln, err := net.Listen("tcp", "127.0.0.1:80")
	if err == nil {
		ln.Close()
		err = listenError("127.0.0.1:80", &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", syscall.EACCES)})
		err = startError([]string{"serve"}, func(k string) string { return env[k] }, err)
	} else {
		err = serveFailing(t, env, "--listen", "127.0.0.1:80")
	}
	wantAll(t, "privileged port", err.Error(), "não é possível escutar em 127.0.0.1:80: uma porta abaixo de 1024 precisa de privilégios (CAP_NET_BIND_SERVICE). Escolha outra porta com --listen.")
}

// TestStartTextsOfOtherUsers: what only a user other than root meets (a
// key file of another user, one an access control list opens, a file it
// may not read) is worded as the rest; the tests run as root, so the
// errors are made as the packages give them.
func TestStartTextsOfOtherUsers(t *testing.T) {
	t.Parallel()
	env := langOf(t, "pt-pt")
	getenv := func(k string) string { return env[k] }
	denied := &fs.PathError{Op: "open", Path: "/k", Err: fs.ErrPermission}
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"another user's key file", &seal.ExposedError{Path: "/k", Mode: 0o604, Others: true, Owner: "pi", User: "ovos", Fix: "chown ovos /k && chmod 600 /k"},
			"o ficheiro de chave /k pertence a pi, e não a ovos (o utilizador do ovos-oauth) nem a root; pode ser usado por outros utilizadores (modo 0604); tem de poder ser lido só pelo seu dono, o utilizador com que o ovos-oauth corre. Corrija com: chown ovos /k && chmod 600 /k"},
		{"access control list", &seal.ExposedError{Path: "/k", Mode: 0o640, Others: true, ACL: true, Fix: "chmod 600 /k"},
			"o ficheiro de chave /k pode ser usado por outros utilizadores através da sua lista de controlo de acesso (modo 0640)"},
		{"key file it may not read", &seal.KeyFileError{Path: "/k", Problem: seal.KeyFileUnreadable, Err: denied},
			"o ficheiro de chave /k não pode ser usado: o utilizador com que o ovos-oauth corre não o pode ler."},
		{"sealed, key file it may not read", &store.KeyError{Path: "/d/ovos-oauth.db", KeyFile: "/k", Problem: store.KeyUnusable,
			Err: &seal.KeyFileError{Path: "/k", Problem: seal.KeyFileUnreadable, Err: denied}},
			"a base de dados /d/ovos-oauth.db está selada com a chave em /k, que não pode ser usada: o utilizador com que o ovos-oauth corre não o pode ler. Torne o ficheiro legível"},
		{"config file it may not read", &config.FileError{Path: "/c.yaml", Problem: config.FileUnreadable, Err: denied},
			"o ovos-oauth não pode ler /c.yaml: dê permissão de leitura ao utilizador com que corre."},
	} {
		err := startError([]string{"serve"}, getenv, fmt.Errorf("open store /d/ovos-oauth.db: %w", tt.err))
		wantAll(t, tt.name, err.Error(), tt.want)
		if !errors.Is(err, tt.err) {
			t.Errorf("%s: startError() = %v, which does not wrap the error it words", tt.name, err)
		}
	}
}
