package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/proctest"
)

// TestMain runs the program itself when a test starts this test binary as
// a child process in the role "ovos-oauth" (see proctest and
// daemonCommand): a daemon to SIGKILL, one whose CPU and memory a
// benchmark measures apart from the test's, the steps of import --service.
func TestMain(m *testing.M) {
	proctest.Main(map[string]proctest.Role{"ovos-oauth": func(args []string) error {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return run(ctx, args, os.Getenv, os.Stdout, os.Stderr)
	}})
	os.Exit(runTests(m))
}

// minParallel is how many of these tests run at once unless -parallel says
// otherwise. They mostly wait, on sockets, on a daemon's timers, on a
// child process: the default, GOMAXPROCS, leaves a 2-core machine idle.
const minParallel = 4

// setParallel raises -test.parallel to minParallel unless the command line
// set it.
func setParallel() {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set && runtime.GOMAXPROCS(0) < minParallel {
		_ = flag.Set("test.parallel", strconv.Itoa(minParallel))
	}
}

// runTests runs the tests with a scratch folder as $XDG_CACHE_HOME, so that
// nothing that takes ovos_utils' folder from this process's environment (a
// child daemon, a helper that forgot its own HOME) reads or writes the real
// user's ~/.cache/mycroft/json_database, where OVOS's skills find their
// tokens. Every test gives its daemons a HOME and XDG_CACHE_HOME of their
// own; one that wrote into the scratch folder fails the run.
func runTests(m *testing.M) int {
	setParallel()
	cache, err := os.MkdirTemp("", "ovos-oauth-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(cache)
	os.Setenv("XDG_CACHE_HOME", cache)
	code := m.Run()
	if _, err := os.Stat(filepath.Join(cache, "mycroft")); err == nil {
		fmt.Fprintln(os.Stderr, "FAIL: a test wrote ovos_utils files under this process's $XDG_CACHE_HOME, which stands in for the user's ~/.cache: give its daemon a HOME and XDG_CACHE_HOME of its own")
		return 1
	}
	return code
}
