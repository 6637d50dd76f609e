// Package browsertest runs Debian's headless Chromium from tests, so the
// pages a person sees on a phone are checked in a real browser.
//
// Every run gets a new profile and the flags that keep Chromium quiet on a
// closed network; a test adds what it needs (IgnoreCertificateErrors,
// VirtualTimeBudget, LoopbackOnly). The helpers are safe for parallel tests:
// DumpDOM, Screenshot and Open start a browser each; Start starts one that
// a test's parallel subtests open their pages in, as tabs, and Shared one
// for a whole package's tests.
package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// IgnoreCertificateErrors is the flag that lets Chromium load pages from an
// httptest.NewTLSServer, whose certificate nothing trusts.
const IgnoreCertificateErrors = "--ignore-certificate-errors"

// timeout bounds one Chromium run. A page takes about a second; a batch of
// pages in one run a few seconds more, longer on a loaded machine.
const timeout = 2 * time.Minute

// Path returns the path of Debian's chromium. CI installs it (.ci/run), so
// there a missing browser fails the test; elsewhere the test is skipped.
func Path(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; .ci/run installs it")
		}
		t.Skip("chromium not installed (apt-get install chromium)")
	}
	return p
}

// VirtualTimeBudget returns the flag that lets a page's scripts, timers and
// the navigations they start run for d of virtual time before --dump-dom or
// --screenshot takes the page.
func VirtualTimeBudget(d time.Duration) string {
	return fmt.Sprintf("--virtual-time-budget=%d", d.Milliseconds())
}

// LoopbackOnly returns flags under which Chromium reaches nothing but
// 127.0.0.1: every other request, including those to names, localhost,
// link-local and private addresses that Chromium would otherwise send
// directly, goes to the HTTP proxy at proxy (a host:port on 127.0.0.1, for
// example an httptest server that records what it gets, or a closed port
// such as 127.0.0.1:9), and no host name resolves.
func LoopbackOnly(proxy string) []string {
	return []string{
		"--proxy-server=http://" + proxy,
		// <-loopback> drops the implicit direct route for localhost,
		// 127/8, [::1], 169.254/16 and fe80::/10; 127.0.0.1 itself stays
		// direct so test servers are reached.
		"--proxy-bypass-list=<-loopback>;127.0.0.1",
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
	}
}

// flags returns the base flags with a new profile directory, and a phone's
// window size.
func flags(t testing.TB) []string {
	return baseFlags(filepath.Join(t.TempDir(), "profile"))
}

// baseFlags returns the base flags with profile as the profile directory.
func baseFlags(profile string) []string {
	return []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + profile,
		"--window-size=390,844", "--hide-scrollbars"}
}

// run runs Chromium with the base flags, extra and args, and returns its
// standard output.
func run(t testing.TB, extra, args []string) []byte {
	t.Helper()
	bin := Path(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := append(append(flags(t), extra...), args...)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, argv...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, tail(stderr.Bytes()))
	}
	return stdout.Bytes()
}

// tail returns the last lines of Chromium's log, enough to see why it failed.
func tail(b []byte) []byte {
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return b
}

// DumpDOM loads url in headless Chromium at a phone's size, with the extra
// flags, and returns the DOM it rendered (the DOM of the page it ended on,
// if the page navigated and VirtualTimeBudget gave it the time).
func DumpDOM(t testing.TB, url string, extra ...string) string {
	t.Helper()
	return string(run(t, extra, []string{"--dump-dom", url}))
}

// Screenshot loads url in headless Chromium at a phone's size, with the
// extra flags, and returns a screenshot. If OVOS_OAUTH_SCREENSHOTS names a
// directory, the PNG is also saved there, named after the test.
func Screenshot(t testing.TB, url string, extra ...string) image.Image {
	t.Helper()
	shot := filepath.Join(t.TempDir(), "shot.png")
	run(t, extra, []string{"--screenshot=" + shot, url})
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	save(t, t.Name(), b)
	return img
}

// screenshotsEnv names the variable that asks for screenshots to be kept,
// in the directory it names.
const screenshotsEnv = "OVOS_OAUTH_SCREENSHOTS"

// save writes a screenshot's PNG to the directory OVOS_OAUTH_SCREENSHOTS
// names, if it names one, as name.png (slashes turned into underscores).
func save(t testing.TB, name string, png []byte) {
	t.Helper()
	if dir := os.Getenv(screenshotsEnv); dir != "" {
		p := filepath.Join(dir, strings.ReplaceAll(name, "/", "_")+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Errorf("save screenshot: %v", err)
		}
	}
}
