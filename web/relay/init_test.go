package relay_test

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestInitAllocatesLittle: every ovos-oauth process links this package,
// the daemon and each CLI command; starting one costs almost nothing here
// (the regexps compile on a relay login's first use, not at start). The
// test runs its own binary again with the runtime's init trace.
func TestInitAllocatesLittle(t *testing.T) {
	if os.Getenv("RELAY_INIT_TRACE") != "" {
		return // the child: its inits have run and been traced
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestInitAllocatesLittle$")
	// Without the race detector's second of sleep at exit, under -race.
	cmd.Env = []string{"RELAY_INIT_TRACE=1", "GODEBUG=inittrace=1", "GORACE=atexit_sleep_ms=0"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	m := regexp.MustCompile(`(?m)^init github\.com/OpenVoiceOS/ovos-oauth/web/relay @.*, (\d+) bytes, \d+ allocs$`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no init trace of the package in:\n%s", strings.TrimSpace(string(out)))
	}
	if n, _ := strconv.Atoi(string(m[1])); n > 16<<10 {
		t.Errorf("the package's init allocates %d bytes, want almost nothing", n)
	}
}
