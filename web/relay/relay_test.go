package relay_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"image/color"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/OpenVoiceOS/ovos-oauth/internal/browsertest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
	"github.com/OpenVoiceOS/ovos-oauth/web/relay"
)

// refused is part of the message the page shows when it sends nothing.
const refused = "only sends a login back to an OpenVoiceOS device on your home network"

const (
	deviceMarker = "DEVICE-CALLBACK-PAGE"
	proxyMarker  = "PROXIED-PAGE"
)

// TestCSP checks the page's Content-Security-Policy against its inline
// script and style, so an edit to either without a new hash fails here
// rather than silently in the browser, and that the page loads nothing.
func TestCSP(t *testing.T) {
	page := string(relay.Page())
	meta := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]*)">`).FindStringSubmatchIndex(page)
	if meta == nil {
		t.Fatal("no Content-Security-Policy meta tag")
	}
	csp := map[string]string{}
	for _, d := range strings.Split(page[meta[2]:meta[3]], ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		csp[name] = value
	}
	script := only(t, page, "script")
	style := only(t, page, "style")
	want := map[string]string{
		"default-src": "'none'",
		"script-src":  "'" + hash(script) + "'",
		"style-src":   "'" + hash(style) + "'",
		"base-uri":    "'none'",
		"form-action": "'none'",
	}
	if d := cmp.Diff(csp, want); d != "" {
		t.Errorf("Content-Security-Policy (-got +want):\n%s\nThe hashes must be those of the page's script and style: run make relay-page", d)
	}
	if i, j := strings.Index(page, "<style>"), strings.Index(page, "<script>"); meta[0] > i || meta[0] > j {
		t.Error("the Content-Security-Policy meta tag comes after the style or script it governs")
	}
	if !strings.Contains(page, `<meta name="referrer" content="no-referrer">`) {
		t.Error("no referrer policy no-referrer")
	}
	markup := strings.Replace(page, script, "", 1)
	if m := regexp.MustCompile(`(?i)\b(src|href|srcset|action|poster|data|ping)\s*=`).FindString(markup); m != "" {
		t.Errorf("markup has %q: the page must load nothing", m)
	}
	for _, s := range []string{"http://", "https://"} {
		if strings.Contains(page, s) {
			t.Errorf("page contains %q: the page must load nothing", s)
		}
	}
	for _, s := range []string{"url(", "@import"} {
		if strings.Contains(style, s) {
			t.Errorf("style contains %q: the page must load nothing", s)
		}
	}
	// The only way out is the top-level navigation to the checked target.
	for _, s := range []string{"fetch(", "XMLHttpRequest", "sendBeacon", "WebSocket", "EventSource", "iframe", "import(", "innerHTML", "document.write", "window.open"} {
		if strings.Contains(script, s) {
			t.Errorf("script uses %q", s)
		}
	}
}

// only returns the content of the one element tag in page.
func only(t *testing.T, page, tag string) string {
	t.Helper()
	open, end := "<"+tag+">", "</"+tag+">"
	if n := strings.Count(page, "<"+tag); n != 1 {
		t.Fatalf("%d <%s> elements, want 1", n, tag)
	}
	_, rest, ok := strings.Cut(page, open)
	content, _, ok2 := strings.Cut(rest, end)
	if !ok || !ok2 {
		t.Fatalf("no %s...%s", open, end)
	}
	return content
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

var update = flag.Bool("update", false, "rewrite index.html's words from internal/i18n/messages and its CSP hashes (make relay-page)")

// TestPageCurrent: index.html carries the words of the message catalogue
// (its relay.* messages, every language) and the CSP hashes of its own
// script and style. An edit of either, or of a language file, that was not
// followed by make relay-page fails here, not silently on a phone. With
// -update it rewrites the page instead.
func TestPageCurrent(t *testing.T) {
	page := string(relay.Page())
	want, err := regenerate(page)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if want != page {
			if err := os.WriteFile("index.html", []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Log("index.html rewritten")
		}
		return
	}
	if want != page {
		t.Errorf("index.html is stale: its words are not those of internal/i18n/messages, or its CSP hashes not those of its script and style; run make relay-page")
	}
	// The check sees an edit: a script changed under its old hash.
	edited := strings.Replace(page, `"use strict";`, `"use strict";;`, 1)
	if again, err := regenerate(edited); err != nil || again == edited {
		t.Errorf("an edit of the script under the old hash is not caught (%v)", err)
	}
}

var (
	wordsLine = regexp.MustCompile(`(?m)^  const WORDS = .*;$`)
	noscript  = regexp.MustCompile(`(?m)^<noscript>.*</noscript>$`)
	cspMeta   = regexp.MustCompile(`(<meta http-equiv="Content-Security-Policy" content="[^"]*script-src ')[^']*(';[^"]*style-src ')[^']*(')`)
)

// regenerate returns page with its words table, its English text before
// the script runs, its words for a browser without JavaScript, and its CSP
// hashes made anew.
func regenerate(page string) (string, error) {
	cat := i18n.Shipped()
	words := map[string]map[string]string{}
	for _, lang := range cat.Languages() {
		words[lang] = map[string]string{}
		for k, v := range cat.Messages(lang) {
			// The script never shows the words of a browser without it.
			if name, ok := strings.CutPrefix(string(k), "relay."); ok && k != i18n.RelayNoscript {
				words[lang][name] = v
			}
		}
	}
	// Go's JSON escapes <, > and &, and U+2028 and U+2029: safe in a script.
	js, err := json.Marshal(words)
	if err != nil {
		return "", err
	}
	if !wordsLine.MatchString(page) {
		return "", errors.New("index.html has no line \"  const WORDS = …;\" to write the words into")
	}
	page = wordsLine.ReplaceAllLiteralString(page, "  const WORDS = "+string(js)+";")
	en := cat.Messages(i18n.Fallback)
	for _, r := range []struct {
		re  *regexp.Regexp
		key i18n.Key
	}{
		{regexp.MustCompile(`<title>[^<]*</title>`), i18n.RelayTitle},
		{regexp.MustCompile(`<h1 id="title">[^<]*</h1>`), i18n.RelayTitle},
		{regexp.MustCompile(`<p id="text">[^<]*</p>`), i18n.RelayChecking},
	} {
		m := r.re.FindString(page)
		if m == "" {
			return "", fmt.Errorf("index.html has no %s", r.re)
		}
		open, end := m[:strings.IndexByte(m, '>')+1], m[strings.LastIndexByte(m, '<'):]
		page = strings.Replace(page, m, open+html.EscapeString(en[r.key])+end, 1)
	}
	// Without a script the page cannot know the phone's language: it says
	// why it does nothing in every one it has, English first.
	if !noscript.MatchString(page) {
		return "", errors.New("index.html has no <noscript>…</noscript> line")
	}
	langs := append([]string{i18n.Fallback}, slices.DeleteFunc(cat.Languages(), func(l string) bool { return l == i18n.Fallback })...)
	var ps strings.Builder
	for _, lang := range langs {
		fmt.Fprintf(&ps, `<p lang="%s">%s</p>`, lang, html.EscapeString(cat.Messages(lang)[i18n.RelayNoscript]))
	}
	page = noscript.ReplaceAllLiteralString(page, "<noscript>"+ps.String()+"</noscript>")
	script, ok1 := element(page, "script")
	style, ok2 := element(page, "style")
	if !ok1 || !ok2 || !cspMeta.MatchString(page) {
		return "", errors.New("index.html needs one <script>, one <style> and a CSP meta tag with script-src and style-src hashes")
	}
	return cspMeta.ReplaceAllString(page, "${1}"+hash(script)+"${2}"+hash(style)+"${3}"), nil
}

// element returns the content of the one element tag in page.
func element(page, tag string) (string, bool) {
	if strings.Count(page, "<"+tag) != 1 {
		return "", false
	}
	_, rest, ok := strings.Cut(page, "<"+tag+">")
	content, _, ok2 := strings.Cut(rest, "</"+tag+">")
	return content, ok && ok2
}

// TestLanguage: the page speaks the phone's language (navigator.languages,
// here Chromium's --accept-lang), matched as the daemon matches
// mycroft.conf's lang; English for one it has no words in.
func TestLanguage(t *testing.T) {
	t.Parallel()
	rel := newRelay(t, nil)
	// A tab in each language, of the shared browser.
	b := browser.Browser(t)
	tests := []struct{ accept, lang string }{
		{"de-DE,de", "de"},
		{"pt-BR", "pt"},
		{"eo,fr-CA", "fr"},
		{"eo", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			t.Parallel()
			p := b.Open(t, "about:blank")
			p.Languages(tt.accept)
			p.Navigate(rel.URL + "/?state=nothing")
			p.WaitFor(`document.readyState === "complete" && document.getElementById("box").className === "refused" ? "shown" : ""`)
			dom := p.Evaluate("document.documentElement.outerHTML")
			words := i18n.Shipped().Messages(tt.lang)
			for _, k := range []i18n.Key{i18n.RelayRefusedTitle, i18n.RelayRefusedMessage, i18n.RelayRefusedHint} {
				if !strings.Contains(html.UnescapeString(dom), words[k]) {
					t.Errorf("the refusal does not say %q:\n%s", words[k], dom)
				}
			}
			if !strings.Contains(dom, `<html lang="`+tt.lang+`">`) || !strings.Contains(dom, "<title>"+html.EscapeString(words[i18n.RelayTitle])+"</title>") {
				t.Errorf("the page's lang or title is not %s's:\n%s", tt.lang, dom)
			}
		})
	}
}

// TestDeviceUnreachable: a phone that is not on the home Wi-Fi cannot
// reach the device, and the browser waits on the address until it gives
// up; all that time the relay page stays on screen, in the phone's
// language, saying why nothing happens, what to do, and with a link to try
// again. The device here takes the connection and never answers, as an
// address that is not on the phone's network keeps a browser waiting.
func TestDeviceUnreachable(t *testing.T) {
	t.Parallel()
	reached := make(chan struct{}, 1)
	stop := make(chan struct{})
	dev := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.ico" {
			return
		}
		select {
		case reached <- struct{}{}:
		default:
		}
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(dev.Close)
	t.Cleanup(func() { close(stop) }) // first: the handler must end for Close
	rel := newRelay(t, nil)
	target := dev.URL + "/auth/callback/skill_app"
	st := state(target)
	// The relay page opens in a popup of a page of the same origin, which
	// reads it: DevTools holds its commands to a page whose navigation is
	// under way until that navigation ends, which here it never does.
	p := browsertest.Open(t, rel.URL+"/watch?"+url.Values{"code": {"C"}, "state": {st}}.Encode(),
		browsertest.IgnoreCertificateErrors, "--disable-popup-blocking", "--accept-lang=es-ES,es")
	select {
	case <-reached:
	case <-time.After(time.Minute):
		t.Fatal("the page did not send the browser on to the device")
	}
	var shown struct{ Text, Href, Lang, Origin, Left string }
	if err := json.Unmarshal([]byte(p.WaitFor("popup()")), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.Left != "" || shown.Origin != rel.URL {
		t.Fatalf("while the browser waits on the device, it shows %+v, want the relay page", shown)
	}
	es := i18n.Shipped().Messages("es")
	for _, k := range []i18n.Key{i18n.RelaySendingTitle, i18n.RelaySendingMessage, i18n.RelaySendingHint, i18n.RelayTryAgain} {
		if !strings.Contains(shown.Text, es[k]) {
			t.Errorf("while the browser waits on the device, the page does not say %q; it shows:\n%s", es[k], shown.Text)
		}
	}
	if shown.Href != target+"?code=C&state="+st {
		t.Errorf("the Try again link goes to %q, want the device's callback with the answer", shown.Href)
	}
	if shown.Lang != "es" {
		t.Errorf("the page's lang is %q, want es", shown.Lang)
	}
}

// TestReloadWhenBackOnWiFi: when the browser gives up on the device, it
// shows its own page saying the site cannot be reached, in place of the
// relay page. Reloading that page once the phone is on the home Wi-Fi, as
// the relay page's hint says, sends the login on to the device.
func TestReloadWhenBackOnWiFi(t *testing.T) {
	t.Parallel()
	// A port with nothing on it: the browser's connection is refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rel := newRelay(t, nil)
	target := "http://" + addr + "/auth/callback/skill_app"
	st := state(target)
	p := browser.Browser(t).Open(t, rel.URL+"/?"+url.Values{"code": {"C"}, "state": {st}}.Encode())
	p.WaitFor(`location.protocol === "chrome-error:" ? "gave up" : ""`)

	// The phone is back on the home Wi-Fi: the device answers.
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	dev := &recorder{}
	dev.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dev.mu.Lock()
		dev.got = append(dev.got, request{r.Method, r.Host, r.URL.Path, r.URL.RawQuery})
		dev.mu.Unlock()
		io.WriteString(w, "<!doctype html><title>device</title><p>"+deviceMarker+"</p>")
	}))
	dev.srv.Listener.Close()
	dev.srv.Listener = ln
	dev.srv.Start()
	t.Cleanup(dev.srv.Close)
	p.Reload()
	p.WaitFor(`document.body && document.body.innerText.includes("` + deviceMarker + `") ? "at the device" : ""`)
	want := []request{{http.MethodGet, addr, "/auth/callback/skill_app", "code=C&state=" + st}}
	if d := cmp.Diff(dev.requests(), want); d != "" {
		t.Errorf("device got (-got +want):\n%s", d)
	}
}

// request is what a recorder saw.
type request struct {
	Method, Host, Path, RawQuery string
}

// recorder is a plain-http server on 127.0.0.1 that records the requests it
// gets and answers each with a page carrying its marker. As the device it
// gets the relay's navigation; as Chromium's proxy it gets everything
// Chromium tried to reach beyond 127.0.0.1.
type recorder struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []request
}

func newRecorder(t *testing.T, marker string) *recorder {
	r := startRecorder(marker)
	t.Cleanup(r.srv.Close)
	return r
}

// startRecorder is newRecorder for a recorder that outlives a test: the
// caller closes its server.
func startRecorder(marker string) *recorder {
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Upgrade") != "" {
			// A websocket client of another test package, redialling a bus
			// whose port this server was given after it closed: never the
			// relay, which only navigates.
			http.NotFound(w, req)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, request{req.Method, req.Host, req.URL.Path, req.URL.RawQuery})
		r.mu.Unlock()
		if req.Method == http.MethodConnect {
			http.Error(w, "no tunnels", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>device</title><p>%s</p>", marker)
	}))
	return r
}

// addr returns the recorder's host:port.
func (r *recorder) addr() string { return r.srv.Listener.Addr().String() }

// requests returns what the recorder got, leaving out favicon loads and
// Chromium's own calls home (which LoopbackOnly sends to the proxy).
func (r *recorder) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []request
	for _, q := range r.got {
		if q.Path == "/favicon.ico" || chromiumHome(q.Host) {
			continue
		}
		out = append(out, q)
	}
	return out
}

// chromiumHome reports whether host:port is one of the Google services
// Chromium calls on its own (time, updates, accounts) even with background
// networking off. No test target is under these domains.
func chromiumHome(hostport string) bool {
	host, _, _ := strings.Cut(hostport, ":")
	for _, d := range []string{".google.com", ".googleapis.com", ".gstatic.com", ".gvt1.com", ".gvt2.com"} {
		if strings.HasSuffix(host, d) {
			return true
		}
	}
	return false
}

// load is one load of the relay page, at URL (a path and query on the
// relay), in a batch.
type load struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// outcome is what the batch page saw of one load: the relay page's title and
// text, or, in Left, that the window left the relay (it navigated) or never
// settled.
type outcome struct {
	Title string `json:"title"`
	Text  string `json:"text"`
	Left  string `json:"left"`
}

// batchPage opens each load in a popup, a top-level window like the phone's
// tab, one after the other. While the popup shows the relay page it is
// same-origin and readable; once it has navigated away it is not. A popup
// still on the relay page takes the next load, which costs Chromium half
// what a new window does; the load's page is told from the one before by
// its address. One that left is closed, since another origin's page could
// not be told from the next load's. The results land in #results as JSON.
const batchPage = `<!doctype html>
<pre id="results"></pre>
<script type="application/json" id="loads">%s</script>
<script>
"use strict";
const loads = JSON.parse(document.getElementById("loads").textContent);
const results = {};
let i = 0, w = null, cur = null, want = "", tries = 0;
function look() {
  try {
    if (w.location.href !== want || w.document.readyState !== "complete") return null;
    const title = w.document.getElementById("title"), text = w.document.getElementById("text");
    if (!title || !text) return {left: "not the relay page: " + w.location.href};
    if (w.document.getElementById("box").className === "sending") return null; // navigating
    return {title: title.textContent, text: text.textContent};
  } catch (e) {
    return {left: "navigated away"};
  }
}
function step() {
  if (cur) {
    const r = look();
    if (r === null && tries++ < 300) { setTimeout(step, 10); return; }
    results[cur.name] = r || {left: "never settled"};
    if (results[cur.name].left) {
      w.close();
      w = null;
    }
    document.getElementById("results").textContent = JSON.stringify(results);
  }
  if (i === loads.length) return;
  cur = loads[i++];
  want = new URL(cur.url, location.href).href;
  tries = 0;
  if (w) w.location.href = cur.url;
  else w = window.open(cur.url);
  setTimeout(step, 10);
}
step();
</script>
`

// watchPage opens the relay page with its own query in a popup, a
// top-level window like the phone's tab; popup() reports what the popup
// shows while the relay page is sending it on, "" before.
const watchPage = `<!doctype html>
<script>
"use strict";
const w = window.open("/" + location.search);
function popup() {
  try {
    const box = w.document.getElementById("box");
    if (!box || box.className !== "sending") return "";
    const a = box.querySelector("a");
    return JSON.stringify({text: box.innerText, href: a ? a.href : "", lang: w.document.documentElement.lang, origin: w.location.origin});
  } catch (e) {
    return JSON.stringify({left: String(e)});
  }
}
</script>
`

// newRelay serves the page over HTTPS on 127.0.0.1: at / as a static host
// would, at /frame inside an iframe, at /watch in a popup, and at /batch
// the batch page for loads.
func newRelay(t *testing.T, loads []load) *httptest.Server {
	js, err := json.Marshal(loads) // escapes <, > and &: safe inside <script>
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(relay.Page())
	})
	mux.HandleFunc("GET /frame", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><p>FRAMING-PAGE</p><iframe src="/?%s"></iframe>`, html.EscapeString(r.URL.RawQuery))
	})
	mux.HandleFunc("GET /watch", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, watchPage)
	})
	mux.HandleFunc("GET /batch", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, batchPage, js)
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// flags returns the Chromium flags for relay tests: nothing but 127.0.0.1 is
// reached (everything else goes to proxy), the test certificate is
// accepted, and the page's script and navigations get budget of virtual
// time to run (Chromium fast-forwards it when idle).
func flags(proxy *recorder, budget time.Duration) []string {
	return append(browsertest.LoopbackOnly(proxy.addr()),
		browsertest.IgnoreCertificateErrors, browsertest.VirtualTimeBudget(budget))
}

// sharedProxy is the proxy of the shared browser: it gets what the
// browser sends anywhere but 127.0.0.1, which in the tests that use that
// browser is nothing.
var sharedProxy *recorder

// browser is the Chromium of the tests that need no proxy of their own
// (LoopbackOnly to sharedProxy): one for them all, rather than one each,
// since starting one costs more than the pages.
var browser browsertest.Shared

// minParallel is how many of these tests run at once unless -parallel
// says otherwise. Each mostly waits on Chromium; the default, GOMAXPROCS,
// held the others back for as long as TestRefuse and
// TestForwardHomeNetwork, the longest, ran.
const minParallel = 4

// TestMain starts the shared browser's proxy, and stops it and the
// browser once the tests have run.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set && runtime.GOMAXPROCS(0) < minParallel {
		_ = flag.Set("test.parallel", strconv.Itoa(minParallel))
	}
	sharedProxy = startRecorder(proxyMarker)
	browser.Extra = append(browsertest.LoopbackOnly(sharedProxy.addr()), browsertest.IgnoreCertificateErrors)
	code := m.Run()
	browser.Stop()
	sharedProxy.srv.Close()
	os.Exit(code)
}

// visit opens url in a tab of the shared browser and waits until the
// JavaScript condition settled holds there: the page has done what it
// does (its navigations included).
func visit(t *testing.T, url, settled string) *browsertest.Page {
	t.Helper()
	p := browser.Browser(t).Open(t, url)
	p.WaitFor(settled + ` ? "settled" : ""`)
	return p
}

var resultsRE = regexp.MustCompile(`(?s)<pre id="results">(.*?)</pre>`)

// batch runs the relay's batch page in one Chromium and returns the outcome
// of each load by name.
func batch(t *testing.T, rel *httptest.Server, proxy *recorder, n int) map[string]outcome {
	t.Helper()
	// Each load takes about a second of virtual time.
	budget := time.Duration(n+5) * 3 * time.Second
	dom := browsertest.DumpDOM(t, rel.URL+"/batch", append(flags(proxy, budget), "--disable-popup-blocking")...)
	m := resultsRE.FindStringSubmatch(dom)
	if m == nil || m[1] == "" {
		t.Fatalf("batch page did not finish:\n%s", dom)
	}
	var got map[string]outcome
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &got); err != nil {
		t.Fatalf("batch results: %v", err)
	}
	if len(got) != n {
		t.Fatalf("batch has %d results, want %d: %v", len(got), n, got)
	}
	return got
}

// state returns a state as the daemon builds it for the callback URL target.
func state(target string) string {
	return random() + "." + base64.RawURLEncoding.EncodeToString([]byte(target))
}

// random returns R: 32 random bytes in unpadded base64url, 43 characters.
func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// targets is testdata/targets.json: the device callback URLs the page
// sends a phone on to and those it refuses, which relay.Accepts is tested
// against too.
type targets struct {
	Accepted []string `json:"accepted"`
	Refused  []struct {
		Name   string `json:"name"`
		Target string `json:"target"` // DEV stands for the device's host:port
	} `json:"refused"`
}

func readTargets(t *testing.T) targets {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "targets.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ts targets
	if err := json.Unmarshal(b, &ts); err != nil {
		t.Fatalf("testdata/targets.json: %v", err)
	}
	if len(ts.Accepted) == 0 || len(ts.Refused) == 0 {
		t.Fatal("testdata/targets.json has no cases")
	}
	return ts
}

// proxied is what Chromium, sent to the proxy for every host but
// 127.0.0.1, asks the proxy for when the page sends it on to target: a GET
// of the page for http (the default port left out of the host), a tunnel
// for https.
func proxied(t *testing.T, target string) request {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("accepted target %q: %v", target, err)
	}
	if u.Scheme == "https" {
		host := u.Host
		if u.Port() == "" {
			host += ":443"
		}
		return request{http.MethodConnect, host, "", ""}
	}
	return request{http.MethodGet, strings.TrimSuffix(u.Host, ":80"), u.Path, ""}
}

// TestForward follows the page in Chromium to a device on 127.0.0.1: the
// device gets exactly code, state, error, error_description and iss, those
// present, in that order, and the phone ends on the device's page.
func TestForward(t *testing.T) {
	t.Parallel()
	rel := newRelay(t, nil)
	tests := []struct {
		name  string
		query func(st string) url.Values
		want  func(st string) string // the device's raw query
	}{
		{
			"code",
			func(st string) url.Values {
				return url.Values{"iss": {"I"}, "extra": {"drop"}, "state": {st}, "code": {"C"}}
			},
			func(st string) string { return "code=C&state=" + st + "&iss=I" },
		},
		{
			"error",
			func(st string) url.Values {
				return url.Values{"state": {st}, "error": {"access_denied"}, "error_description": {"The user said no & left ✓"}}
			},
			func(st string) string {
				return "state=" + st + "&error=access_denied&error_description=The%20user%20said%20no%20%26%20left%20%E2%9C%93"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dev := newRecorder(t, deviceMarker)
			st := state(dev.srv.URL + "/auth/callback/skill_app")
			// Settled on the device's page, or on the relay page refusing.
			p := visit(t, rel.URL+"/?"+tt.query(st).Encode(), `document.body.innerText.includes("`+deviceMarker+`") || document.getElementById("box").className === "refused"`)
			dom := p.Evaluate("document.documentElement.outerHTML")
			want := []request{{http.MethodGet, dev.addr(), "/auth/callback/skill_app", tt.want(st)}}
			if d := cmp.Diff(dev.requests(), want); d != "" {
				t.Errorf("device got (-got +want):\n%s", d)
			}
			if got := sharedProxy.requests(); len(got) != 0 {
				t.Errorf("proxy got %v, want nothing", got)
			}
			if !strings.Contains(dom, deviceMarker) {
				t.Errorf("the phone did not end on the device's page:\n%s", dom)
			}
		})
	}
}

// TestForwardHomeNetwork checks every kind of home-network target the page
// accepts (testdata/targets.json, which relay.Accepts is held to too). Chromium sends these to the recording proxy on 127.0.0.1, which
// shows where the phone would have gone; nothing leaves the machine.
func TestForwardHomeNetwork(t *testing.T) {
	t.Parallel()
	type forward struct {
		target string
		want   request // what the proxy gets; RawQuery is filled in
	}
	var tests []forward
	for _, target := range readTargets(t).Accepted {
		tests = append(tests, forward{target, proxied(t, target)})
	}
	proxy := newRecorder(t, proxyMarker)
	var loads []load
	states := map[string]string{} // by target
	for _, tt := range tests {
		st := state(tt.target)
		states[tt.target] = st
		loads = append(loads, load{tt.target, "/?" + url.Values{"state": {st}, "code": {"C"}}.Encode()})
	}
	rel := newRelay(t, loads)
	results := batch(t, rel, proxy, len(loads))
	got := proxy.requests()
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			if r := results[tt.target]; r.Left == "" {
				t.Errorf("page stayed: %+v", r)
			}
			want := tt.want
			if want.Method == http.MethodGet {
				want.RawQuery = "code=C&state=" + states[tt.target]
			}
			n := 0
			for _, q := range got {
				if q == want {
					n++
				}
			}
			// Chromium retries a failed CONNECT; a GET it sends once.
			if n == 0 || n > 1 && want.Method == http.MethodGet {
				t.Errorf("proxy got %d of %v, want 1; it got %v", n, want, got)
			}
		})
	}
	// The proxy got nothing else.
	for _, q := range got {
		found := false
		for _, tt := range tests {
			want := tt.want
			if want.Method == http.MethodGet {
				want.RawQuery = "code=C&state=" + states[tt.target]
			}
			found = found || q == want
			// Chromium first tries https for an http address on the
			// default port whose name it does not know as local (a
			// .home.arpa one, not a .local one), then goes on by http.
			found = found || want.Method == http.MethodGet && !strings.Contains(want.Host, ":") && q == request{http.MethodConnect, want.Host + ":443", "", ""}
		}
		if !found {
			t.Errorf("proxy got %v, which no load asked for", q)
		}
	}
}

// TestRefuse checks that the page refuses every link that is not a state
// for a device callback on the home network (the targets are
// testdata/targets.json's, which relay.Accepts is held to too): it says so, and Chromium sends
// nothing to the device (whose address most targets carry) or anywhere else.
func TestRefuse(t *testing.T) {
	t.Parallel()
	// Targets are templates: DEV is the device's host:port.
	targets := readTargets(t).Refused
	b64 := base64.RawURLEncoding.EncodeToString
	// Each query is built from a fresh R, the B of a valid callback URL on
	// the device, and the device's host:port.
	queries := []struct {
		name  string
		query func(r, b, dev string) string
	}{
		{"no query", func(r, b, dev string) string { return "" }},
		{"empty query", func(r, b, dev string) string { return "?" }},
		{"no state", func(r, b, dev string) string { return "?code=C" }},
		{"empty state", func(r, b, dev string) string { return "?code=C&state=" }},
		{"only R", func(r, b, dev string) string { return "?code=C&state=" + r }},
		{"R and B without a dot", func(r, b, dev string) string { return "?code=C&state=" + r + b }},
		{"only B", func(r, b, dev string) string { return "?code=C&state=." + b }},
		{"R too short", func(r, b, dev string) string { return "?code=C&state=" + r[:42] + "." + b }},
		{"R too long", func(r, b, dev string) string { return "?code=C&state=" + r + "A." + b }},
		{"R with a plus", func(r, b, dev string) string { return "?code=C&state=" + r[:42] + "%2B." + b }},
		{"R with a slash", func(r, b, dev string) string { return "?code=C&state=" + r[:42] + "%2F." + b }},
		{"R with padding", func(r, b, dev string) string { return "?code=C&state=" + r[:42] + "%3D." + b }},
		{"empty B", func(r, b, dev string) string { return "?code=C&state=" + r + "." }},
		{"two dots", func(r, b, dev string) string { return "?code=C&state=" + r + "." + b + "." + b }},
		{"B with padding", func(r, b, dev string) string { return "?code=C&state=" + r + "." + b + "%3D" }},
		{"B with plus and slash", func(r, b, dev string) string { return "?code=C&state=" + r + ".aHR0cDovL%2B%2Fv" }},
		{"B not base64url", func(r, b, dev string) string { return "?code=C&state=" + r + ".!!!!" }},
		{"B of impossible length", func(r, b, dev string) string {
			for len(b)%4 != 1 {
				b += "A"
			}
			return "?code=C&state=" + r + "." + b
		}},
		{"B with stray bits", func(r, b, dev string) string {
			// An id whose URL leaves 4 unused bits in B's last character;
			// setting one decodes to the same bytes but is not canonical.
			u := "http://" + dev + "/auth/callback/a_b"
			for len(u)%3 != 1 {
				u += "c"
			}
			e := []byte(b64([]byte(u)))
			const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			e[len(e)-1] = alphabet[strings.IndexByte(alphabet, e[len(e)-1])|1]
			return "?code=C&state=" + r + "." + string(e)
		}},
		{"B not a URL", func(r, b, dev string) string { return "?code=C&state=" + r + "." + b64([]byte("hello, world")) }},
		{"B not UTF-8", func(r, b, dev string) string {
			return "?code=C&state=" + r + "." + b64([]byte("http://"+dev+"/auth/callback/a_b\xff"))
		}},
		{"state percent-encoded", func(r, b, dev string) string { return "?code=C&state=" + r + "%2E" + b + "%00" }},
		{"two states", func(r, b, dev string) string { return "?code=C&state=" + r + "." + b + "&state=" + r + "." + b }},
		{"two codes", func(r, b, dev string) string { return "?code=C&code=D&state=" + r + "." + b }},
		{"two errors", func(r, b, dev string) string { return "?error=a&error=b&state=" + r + "." + b }},
		{"two iss", func(r, b, dev string) string { return "?code=C&iss=a&iss=b&state=" + r + "." + b }},
	}
	type refusal struct {
		name string
		dev  *recorder
	}
	var cases []refusal
	var loads []load
	for _, tt := range targets {
		dev := newRecorder(t, deviceMarker)
		st := state(strings.ReplaceAll(tt.Target, "DEV", dev.addr()))
		cases = append(cases, refusal{"target/" + tt.Name, dev})
		loads = append(loads, load{"target/" + tt.Name, "/?" + url.Values{"code": {"C"}, "state": {st}}.Encode()})
	}
	for _, tt := range queries {
		dev := newRecorder(t, deviceMarker)
		b := b64([]byte("http://" + dev.addr() + "/auth/callback/a_b"))
		cases = append(cases, refusal{"query/" + tt.name, dev})
		loads = append(loads, load{"query/" + tt.name, "/" + tt.query(random(), b, dev.addr())})
	}
	proxy := newRecorder(t, proxyMarker)
	rel := newRelay(t, loads)
	results := batch(t, rel, proxy, len(loads))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := results[c.name]
			if r.Left != "" || r.Title != "This link cannot be used" || !strings.Contains(r.Text, refused) {
				t.Errorf("page shows %+v, want the refusal", r)
			}
			if got := c.dev.requests(); len(got) != 0 {
				t.Errorf("device got %v, want nothing", got)
			}
		})
	}
	if got := proxy.requests(); len(got) != 0 {
		t.Errorf("proxy got %v, want nothing", got)
	}
}

// TestRefuseFramed checks that the page sends nothing when another page
// frames it: a navigation from a frame is not a top-level one.
func TestRefuseFramed(t *testing.T) {
	t.Parallel()
	rel := newRelay(t, nil)
	dev := newRecorder(t, deviceMarker)
	st := state(dev.srv.URL + "/auth/callback/skill_app")
	// Loaded, and the relay page in the frame has decided, to refuse or to
	// send.
	const framed = `document.querySelector("iframe").contentDocument.getElementById("box").className`
	p := visit(t, rel.URL+"/frame?"+url.Values{"code": {"C"}, "state": {st}}.Encode(), `location.href !== "about:blank" && document.readyState === "complete" && (!document.querySelector("iframe") || `+framed+` !== "")`)
	if dom := p.Evaluate("document.documentElement.outerHTML"); !strings.Contains(dom, "FRAMING-PAGE") {
		t.Fatalf("framing page not loaded:\n%s", dom)
	}
	if got := p.Evaluate(framed); got != "refused" {
		t.Errorf("the framed relay page is %q, want refused", got)
	}
	if got := dev.requests(); len(got) != 0 {
		t.Errorf("device got %v, want nothing", got)
	}
	if got := sharedProxy.requests(); len(got) != 0 {
		t.Errorf("proxy got %v, want nothing", got)
	}
}

// TestLooks renders the refusal at a phone's size: the style applied under
// the page's own CSP (the title's red is painted).
func TestLooks(t *testing.T) {
	t.Parallel()
	rel := newRelay(t, nil)
	p := visit(t, rel.URL+"/?state=nothing", `document.readyState === "complete" && document.getElementById("box").className === "refused"`)
	img := p.Screenshot(t.Name())
	red := color.RGBA{0xb4, 0x23, 0x18, 0xff}
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r>>8, red.R) && near(g>>8, red.G) && near(bl>>8, red.B) {
				n++
			}
		}
	}
	if n < 50 {
		t.Errorf("%d pixels of the title's red: the page's style or script did not apply", n)
	}
}

func near(a uint32, b uint8) bool { d := int(a) - int(b); return d > -12 && d < 12 }

// TestPageFitsAPhone shows the page at a phone's size, 412 by 915 CSS
// pixels, in English and in German (long words), refusing a link and
// sending the phone on, and checks that nothing is cut off: the page is no
// wider than the screen. The device answers 204 No Content, so the browser
// stays on the relay page as it does while it waits on a device it cannot
// reach. With OVOS_OAUTH_SCREENSHOTS set, each is saved there.
func TestPageFitsAPhone(t *testing.T) {
	t.Parallel()
	rel := newRelay(t, nil)
	b := browser.Browser(t)
	for _, lang := range []string{"en", "de"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			reached := make(chan struct{}, 1)
			dev := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case reached <- struct{}{}:
				default:
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			t.Cleanup(dev.Close)
			st := state(dev.URL + "/auth/callback/skill_app")
			p := b.Open(t, "about:blank")
			p.Languages(lang)
			p.Phone(412, 915)
			for _, view := range []struct{ name, query string }{
				{"refused", "state=nothing"},
				{"sending", url.Values{"code": {"C"}, "state": {st}}.Encode()},
			} {
				p.Navigate(rel.URL + "/?" + view.query)
				if view.name == "sending" {
					select {
					case <-reached:
					case <-time.After(time.Minute):
						t.Fatal("the page did not send the browser on to the device")
					}
				}
				p.WaitFor(`document.getElementById("box").className === "` + view.name + `" ? "shown" : ""`)
				if w := p.Evaluate(`document.documentElement.scrollWidth > window.innerWidth ? document.documentElement.scrollWidth + " > " + window.innerWidth : ""`); w != "" {
					t.Errorf("%s, %s: the page is wider than the phone (%s px): cut off", lang, view.name, w)
				}
				p.SaveScreenshot("relay_" + view.name + "_" + lang)
			}
		})
	}
}
