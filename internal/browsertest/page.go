package browsertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Page is a page open in a tab of headless Chromium, driven over the
// DevTools protocol, for pages a person uses rather than reads: type into a
// form, press its button, read where it led. Evaluate runs as the DevTools
// console does, outside the page's Content-Security-Policy, which still
// governs everything the page itself does. A Page is closed when its test
// ends; its methods are not for concurrent use.
type Page struct {
	t       testing.TB
	conn    *websocket.Conn
	target  string
	session string
	next    int
}

// A Browser is a headless Chromium that tests open Pages in, each a tab
// with a DevTools connection of its own. It is safe for concurrent use:
// parallel subtests each open their tab in their parent's browser instead
// of starting one each, which on a small machine costs more than the pages.
type Browser struct {
	wsURL string
}

var devtoolsLine = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

// Open starts a browser of its own with the base flags and extra, and opens
// url in it.
func Open(t testing.TB, url string, extra ...string) *Page {
	t.Helper()
	return Start(t, extra...).Open(t, url)
}

// Start starts Chromium with the base flags and extra. It is stopped when
// t and its subtests have ended.
func Start(t testing.TB, extra ...string) *Browser {
	t.Helper()
	b, stop, err := launch(Path(t), append(flags(t), extra...))
	if stop != nil {
		t.Cleanup(stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// launch starts bin with args and waits for its DevTools endpoint. stop,
// when not nil, stops it and waits for it, also after an error.
func launch(bin string, args []string) (b *Browser, stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	args = append(args, "--remote-debugging-port=0", "about:blank")
	cmd := exec.CommandContext(ctx, bin, args...)
	// Chromium's helper processes go with it: a process group, killed whole.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stderr, err := cmd.StderrPipe()
	if err != nil {
		cancel()
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("start chromium: %w", err)
	}
	var wg sync.WaitGroup
	stop = func() {
		cancel()
		_ = cmd.Wait()
		wg.Wait()
	}
	found := make(chan string, 1)
	wg.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := devtoolsLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	})
	select {
	case wsURL := <-found:
		return &Browser{wsURL: wsURL}, stop, nil
	case <-time.After(timeout):
		return nil, stop, errors.New("chromium did not open its DevTools endpoint")
	}
}

// Shared is one browser that a package's tests open their tabs in, when
// they need no flags beyond the base ones: starting a browser costs more
// CPU than the pages a test shows in it. The first test that asks starts
// it; the package's TestMain calls Stop after m.Run. The tests share its
// profile: its cookies and cache, which the servers of different tests,
// on ports of their own, do not meet. Its connections to a test's server
// outlive the test, among them those Chromium opens ahead and sends
// nothing on: an httptest server closes them, but an http.Server's
// Shutdown waits 5 s for each, so a test of such a server starts its own
// browser. Safe for concurrent use.
type Shared struct {
	// Extra are the flags beyond the base ones, the same for every test
	// that uses the browser; set before the first call of Browser.
	Extra []string

	mu      sync.Mutex
	b       *Browser
	stop    func()
	profile string
}

// Browser returns the shared browser, started with the base flags and
// Extra if it is not running yet. Like Start, it skips the test where Chromium is not
// installed, unless on CI.
func (s *Shared) Browser(t testing.TB) *Browser {
	t.Helper()
	bin := Path(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b != nil {
		return s.b
	}
	if s.profile == "" {
		dir, err := os.MkdirTemp("", "ovos-oauth-chromium-")
		if err != nil {
			t.Fatal(err)
		}
		s.profile = dir
	}
	b, stop, err := launch(bin, append(baseFlags(filepath.Join(s.profile, "profile")), s.Extra...))
	if err != nil {
		if stop != nil {
			stop()
		}
		t.Fatal(err)
	}
	s.b, s.stop = b, stop
	return b
}

// Stop stops the shared browser, if it was started, and removes its
// profile.
func (s *Shared) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		s.stop()
	}
	if s.profile != "" {
		os.RemoveAll(s.profile)
	}
	s.b, s.stop, s.profile = nil, nil, ""
}

// Open opens url in a new tab, for the test t: a subtest may open one in
// its parent's browser. The tab is closed when t ends.
func (b *Browser) Open(t testing.TB, url string) *Page {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(b.wsURL, nil)
	if err != nil {
		t.Fatalf("connect to chromium: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	p := &Page{t: t, conn: conn}
	var target struct {
		TargetID string `json:"targetId"`
	}
	p.call("", "Target.createTarget", map[string]any{"url": url}, &target)
	p.target = target.TargetID
	t.Cleanup(p.close)
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	p.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached)
	p.session = attached.SessionID
	return p
}

// close closes the page's tab, so that a browser shared by many tests does
// not keep them all; the browser's end closes it anyway, hence no check.
func (p *Page) close() {
	p.conn.SetWriteDeadline(time.Now().Add(time.Second))
	p.next++
	_ = p.conn.WriteJSON(map[string]any{"id": p.next, "method": "Target.closeTarget", "params": map[string]any{"targetId": p.target}})
}

// call sends one DevTools command and reads its result into out, skipping
// the events that come in between. A failure fails the test.
func (p *Page) call(session, method string, params map[string]any, out any) {
	p.t.Helper()
	if err := p.try(session, method, params, out); err != nil {
		p.t.Fatal(err)
	}
}

// errNavigated is how Chromium answers a command to a page that went away
// under it, to the next document.
const errNavigated = "Inspected target navigated or closed"

// try is call that returns the browser's own refusal of the command as an
// error; a broken connection still fails the test.
func (p *Page) try(session, method string, params map[string]any, out any) error {
	p.t.Helper()
	p.next++
	id := p.next
	msg := map[string]any{"id": id, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	p.conn.SetWriteDeadline(time.Now().Add(timeout))
	if err := p.conn.WriteJSON(msg); err != nil {
		p.t.Fatalf("%s: %v", method, err)
	}
	p.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		var resp struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := p.conn.ReadJSON(&resp); err != nil {
			p.t.Fatalf("%s: %v", method, err)
		}
		if resp.ID != id {
			continue
		}
		if resp.Error != nil {
			return fmt.Errorf("%s: %s", method, resp.Error.Message)
		}
		if out != nil {
			if err := json.Unmarshal(resp.Result, out); err != nil {
				p.t.Fatalf("%s: %v", method, err)
			}
		}
		return nil
	}
}

// Evaluate runs a JavaScript expression in the page and returns its value
// as a string ("" for null or undefined). A thrown exception fails the
// test; so does a page that navigates away during it, unless the
// expression started that navigation (a click on a form's button), which
// Evaluate then ignores.
func (p *Page) Evaluate(expr string) string {
	p.t.Helper()
	v, err := p.evaluate(expr)
	if err != nil && !strings.Contains(err.Error(), errNavigated) {
		p.t.Fatal(err)
	}
	return v
}

func (p *Page) evaluate(expr string) (string, error) {
	p.t.Helper()
	var res struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := p.try(p.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res); err != nil {
		return "", err
	}
	if res.Exception != nil {
		p.t.Fatalf("evaluate %q: %s", expr, res.Exception.Text)
	}
	if res.Result.Value == nil {
		return "", nil
	}
	if s, ok := res.Result.Value.(string); ok {
		return s, nil
	}
	return fmt.Sprint(res.Result.Value), nil
}

// DOM waits until the page has loaded, with what it links to, and returns
// its DOM, as DumpDOM does.
func (p *Page) DOM() string {
	p.t.Helper()
	// A new tab is on about:blank, complete, until its page commits.
	p.WaitFor(`location.href !== "about:blank" && document.readyState === "complete" ? "loaded" : ""`)
	return p.Evaluate("document.documentElement.outerHTML")
}

// Click clicks the middle of the first element that selector matches with
// the mouse, as a person does: the page sees a user's gesture, which a
// click() from Evaluate is not (copying to the clipboard needs one).
func (p *Page) Click(selector string) {
	p.t.Helper()
	quoted, _ := json.Marshal(selector)
	at := p.Evaluate(`(() => { const e = document.querySelector(` + string(quoted) + `); if (!e) return ""; e.scrollIntoView({block: "center"}); const r = e.getBoundingClientRect(); return (r.left + r.width / 2) + " " + (r.top + r.height / 2); })()`)
	var x, y float64
	if _, err := fmt.Sscan(at, &x, &y); err != nil {
		p.t.Fatalf("click %s: no such element on the page", selector)
	}
	for _, typ := range []string{"mousePressed", "mouseReleased"} {
		p.call(p.session, "Input.dispatchMouseEvent", map[string]any{"type": typ, "x": x, "y": y, "button": "left", "clickCount": 1}, nil)
	}
}

// Navigate loads url in the page, as following a link does; it returns
// once the browser has started the navigation (WaitFor what the new page
// should show).
func (p *Page) Navigate(url string) {
	p.t.Helper()
	p.call(p.session, "Page.navigate", map[string]any{"url": url}, nil)
}

// Phone makes the page's viewport a phone's screen of width by height CSS
// pixels, as a phone's browser lays pages out (the viewport meta tag
// counts).
func (p *Page) Phone(width, height int) {
	p.t.Helper()
	p.call(p.session, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": 1, "mobile": true,
	}, nil)
}

// Languages makes the page's browser speak the phone's languages, an
// Accept-Language list such as "de-DE,de": in its requests and in
// navigator.languages, for the pages it loads from now on. It is what
// --accept-lang sets for a whole browser, for one tab, so that tabs of
// different languages share one browser.
func (p *Page) Languages(accept string) {
	p.t.Helper()
	ua := p.Evaluate("navigator.userAgent")
	p.call(p.session, "Emulation.setUserAgentOverride", map[string]any{"userAgent": ua, "acceptLanguage": accept}, nil)
}

// Screenshot returns a PNG of the whole page, beyond the viewport when it
// is longer, and, if OVOS_OAUTH_SCREENSHOTS names a directory, saves it
// there as name.png.
func (p *Page) Screenshot(name string) image.Image {
	p.t.Helper()
	var shot struct {
		Data []byte `json:"data"` // base64 in JSON: decoded by encoding/json
	}
	var metrics struct {
		Content struct {
			Width, Height float64
		} `json:"cssContentSize"`
	}
	p.call(p.session, "Page.getLayoutMetrics", map[string]any{}, &metrics)
	clip := map[string]any{"x": 0, "y": 0, "width": metrics.Content.Width, "height": metrics.Content.Height, "scale": 1}
	p.call(p.session, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true, "clip": clip}, &shot)
	img, err := png.Decode(bytes.NewReader(shot.Data))
	if err != nil {
		p.t.Fatalf("decode screenshot: %v", err)
	}
	save(p.t, name, shot.Data)
	return img
}

// SaveScreenshot saves a PNG of the whole page, as Screenshot takes it, as
// name.png in the directory OVOS_OAUTH_SCREENSHOTS names, for a person to
// look at; without that variable it takes none. A capture beyond the
// viewport and its PNG cost a tenth of a second a page, which tests that
// read the page's measurements from the DOM need not pay.
func (p *Page) SaveScreenshot(name string) {
	p.t.Helper()
	if os.Getenv(screenshotsEnv) != "" {
		p.Screenshot(name)
	}
}

// Reload reloads the page, as the browser's reload button does: also a
// page of Chromium's own, such as the one saying that a site cannot be
// reached, which reloads the address it failed on.
func (p *Page) Reload() {
	p.t.Helper()
	p.call(p.session, "Page.reload", map[string]any{}, nil)
}

// WaitFor evaluates expr until it gives a non-empty string, and returns
// it. The page may be navigating meanwhile. It fails the test after a
// minute.
func (p *Page) WaitFor(expr string) string {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		// Wrapped so that a page between two documents answers "".
		v, err := p.evaluate("(() => { try { return " + expr + " } catch (e) { return '' } })()")
		if err != nil && !strings.Contains(err.Error(), errNavigated) {
			p.t.Fatal(err)
		}
		if v != "" {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("waited a minute for %s; the page is at %s:\n%s", strings.TrimSpace(expr), p.Evaluate("location.href"), p.Evaluate("document.body ? document.body.innerText : ''"))
	return ""
}
