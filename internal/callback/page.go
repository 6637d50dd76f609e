package callback

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/qr"
)

// page is what a person sees on their phone. Every text in it comes from
// the server's Printer.
type page struct {
	Lang    string
	Title   string
	Message template.HTML
	Hint    string
	Mark    mark
	// Paste, when set, makes the page a loopback login's: how to log in
	// and a form for the address the phone ended on.
	Paste *pasteForm
	// Setup, when set, makes the page a setup's: how to make an app at
	// the provider and a form for its client id and secret.
	Setup *setupForm
	// Device, when set, shows a device login's code and where to enter it.
	Device *deviceCode
}

// mark is the sign above a page's title: how the login went.
type mark string

const (
	markOK   mark = "ok"   // ✓ green: done
	markFail mark = "fail" // ✗ red: did not work, or cannot
	markWait mark = "wait" // … grey: still going
)

// pasteForm is what a loopback login's page needs.
type pasteForm struct {
	LoginLink string // back to /auth/start/<id>?login, never the state
	Action    string // the same page, POST
	Example   string // the redirect URI, so the user recognises the address
	Problem   string // why the last paste was refused, if it was
	// Pasted is what the user pasted last, given back in the field so that
	// a slip can be corrected rather than copied again.
	Pasted string

	Login, LoginNote, StepCopy, Label, Finish string
	StepLanded                                template.HTML
}

// setupForm is what a setup's page needs.
type setupForm struct {
	Action string // the same page, POST
	Key    string // the setup's key, posted back
	Steps  []setupStep
	// Problem says why the last post was refused, if it was; ClientID is
	// the client id it carried, given back. The secret never is.
	Problem, ClientID string

	LabelID, LabelSecret, Save, Copy, Copied string
	Script                                   template.JS
}

// setupStep is one step of making the app; Box, when set, is what the
// step says to copy (the redirect URI, or its host), with a Copy button.
type setupStep struct {
	Text template.HTML
	Box  string
}

// deviceCode is a device login's code, and the page to enter it on.
type deviceCode struct {
	Code, Link, Open string
}

// copyScript makes the Copy buttons work, where scripts run: the button is
// hidden until the script shows it, so that a page without scripts has
// none that does nothing; the text, shown whole, can still be selected
// and copied by hand. The text is selected and copied with execCommand,
// which works on a page at a LAN address over http; the clipboard API,
// which needs a secure context, only where that did not copy.
const copyScript = `for (const b of document.querySelectorAll("button[data-copy]")) {
  const text = document.getElementById(b.dataset.copy);
  const done = () => { b.textContent = b.dataset.done; };
  b.hidden = false;
  b.addEventListener("click", () => {
    const range = document.createRange();
    range.selectNodeContents(text);
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    if (document.execCommand("copy")) {
      done();
    } else if (navigator.clipboard) {
      navigator.clipboard.writeText(text.textContent).then(done, () => {});
    }
  });
}`

// copyScriptHash allows copyScript, and no other script, in a setup
// page's Content-Security-Policy. It is computed from the script itself,
// so that an edit cannot leave it stale.
var copyScriptHash = func() string {
	sum := sha256.Sum256([]byte(copyScript))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="{{if or .Paste .Setup}}same-origin{{else}}no-referrer{{end}}">
<title>{{.Title}} · ovos-oauth</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:2rem 1.25rem;background:#f4f5f7;color:#1d2330;line-height:1.5}
main{max-width:28rem;margin:10vh auto 0;background:#fff;border-radius:12px;padding:1.75rem 1.5rem;box-shadow:0 1px 4px rgba(0,0,0,.08);overflow-wrap:break-word}
h1{font-size:1.35rem;margin:0 0 .75rem}
.mark{font-size:2.5rem;line-height:1;margin-bottom:.75rem}
.ok .mark{color:#1a7f37}.fail .mark{color:#b42318}.wait .mark{color:#5b6472}
p{margin:.5rem 0}.hint{color:#5b6472;font-size:.95rem}
ol{padding-left:1.25rem}li{margin:.6rem 0}code{word-break:break-all;font-size:.85rem}
.button,button{display:inline-block;background:#1d4ed8;color:#fff;border:0;border-radius:8px;padding:.6rem 1.2rem;font-size:1rem;text-decoration:none}
label{display:block;font-weight:600;margin-top:1rem}
textarea,input{box-sizing:border-box;width:100%;margin:.4rem 0 .8rem;font:inherit;font-size:.9rem;padding:.5rem;border:1px solid #c4c9d2;border-radius:8px}
.problem{color:#b42318;font-weight:600}
[hidden]{display:none!important}
.copy{display:flex;gap:.5rem;align-items:center;margin:.4rem 0}
.copy code{flex:1;min-width:0;padding:.45rem .5rem;background:#f4f5f7;border:1px solid #c4c9d2;border-radius:8px;user-select:all}
.copy button{padding:.45rem .8rem;font-size:.9rem}
.code{font-size:2rem;font-weight:700;letter-spacing:.08em;text-align:center;margin:1rem 0;font-family:ui-monospace,monospace;overflow-wrap:anywhere}
</style>
</head>
<body>
<main class="{{.Mark}}">
{{if not (or .Paste .Setup .Device)}}<div class="mark" aria-hidden="true">{{if eq .Mark "ok"}}&#10003;{{else if eq .Mark "wait"}}&#8943;{{else}}&#10007;{{end}}</div>{{end}}
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{with .Device}}<p class="code" id="user_code">{{.Code}}</p>
<p><a class="button" href="{{.Link}}" target="_blank" rel="noopener noreferrer">{{.Open}}</a></p>
{{end}}
{{with .Hint}}<p class="hint">{{.}}</p>{{end}}
{{with .Paste}}
<ol>
<li><a class="button" href="{{.LoginLink}}" target="_blank" rel="noopener noreferrer">{{.Login}}</a> {{.LoginNote}}</li>
<li>{{.StepLanded}}</li>
<li>{{.StepCopy}}</li>
</ol>
{{with .Problem}}<p class="problem" role="alert">{{.}}</p>{{end}}
<form method="post" action="{{.Action}}">
<label for="url">{{.Label}}</label>
<textarea id="url" name="url" rows="4" required autocomplete="off" autocapitalize="off" spellcheck="false" placeholder="{{.Example}}?code=…"{{if .Problem}} autofocus{{end}}>{{.Pasted}}</textarea>
<button type="submit">{{.Finish}}</button>
</form>
{{end}}
{{with .Setup}}
<ol>
{{range .Steps}}<li>{{.Text}}{{with .Box}}
<span class="copy"><code id="redirect_uri">{{.}}</code><button type="button" data-copy="redirect_uri" data-done="{{$.Setup.Copied}}" hidden>{{$.Setup.Copy}}</button></span>{{end}}</li>
{{end}}</ol>
{{with .Problem}}<p class="problem" role="alert">{{.}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="setup" value="{{.Key}}">
<label for="client_id">{{.LabelID}}</label>
<input id="client_id" name="client_id" required autocomplete="off" autocapitalize="off" spellcheck="false" value="{{.ClientID}}"{{if .Problem}} autofocus{{end}}>
<label for="client_secret">{{.LabelSecret}}</label>
<input id="client_secret" name="client_secret" type="password" autocomplete="off" autocapitalize="off" spellcheck="false">
<button type="submit">{{.Save}}</button>
</form>
<script>{{.Script}}</script>
{{end}}
</main>
</body>
</html>
`))

// simple is a page of a title, a message and a hint.
func (s *Server) simple(m mark, title, message, hint i18n.Key) page {
	p := page{Mark: m, Title: s.Printer.Text(title), Message: s.Printer.HTML(message)}
	if hint != "" {
		p.Hint = s.Printer.Text(hint)
	}
	return p
}

// success is the page of a finished login: which service the device can
// now use, for which skill.
func (s *Server) success(app *oauth.App) page {
	p := s.simple(markOK, i18n.PageSuccessTitle, "", i18n.PageSuccessHint)
	p.Message = s.Printer.HTML(i18n.PageSuccessMessage, "service", name(app.ServiceName()), "skill", name(app.SkillID))
	return p
}

// name sets a name in a sentence apart, in one piece where the screen
// allows: a skill id's hyphens do not break the line (a name longer than
// the screen still breaks, anywhere).
func name(s string) template.HTML {
	return template.HTML("<strong>" + template.HTMLEscapeString(strings.ReplaceAll(s, "-", "\u2011")) + "</strong>")
}

// errorPage answers an engine error with its status and page.
func (s *Server) errorPage(w http.ResponseWriter, err error) {
	status, p := s.failure(err)
	s.page(w, status, p)
}

// failure maps an engine error to a status and a page. The engine's own
// description is English and meant for the bus; the page says the same in
// the Printer's language, from the code and the cause.
func (s *Server) failure(err error) (int, page) {
	again := i18n.PageStartAgain
	switch oauth.ErrorCode(err) {
	case oauth.CodeAlreadyAnswered:
		switch {
		case errors.Is(err, oauth.ErrLoginFinished):
			// Not a failure: the user is logged in, and this is the
			// second look at the same login.
			return http.StatusOK, s.simple(markOK, i18n.PageFinishedTitle, i18n.PageFinishedMessage, "")
		case errors.Is(err, oauth.ErrLoginFinishing):
			return http.StatusConflict, s.simple(markWait, i18n.PageFinishingTitle, i18n.PageFinishingMessage, "")
		case errors.Is(err, oauth.ErrSetupDone):
			return http.StatusOK, s.simple(markOK, i18n.SetupDoneTitle, i18n.SetupDoneMessage, "")
		}
		return http.StatusConflict, s.simple(markFail, i18n.PageEndedTitle, i18n.PageEndedMessage, again)
	case oauth.CodeExpiredState:
		return http.StatusGone, s.simple(markFail, i18n.PageExpiredTitle, i18n.PageExpiredMessage, again)
	case oauth.CodeInterrupted:
		return http.StatusGone, s.simple(markFail, i18n.PageInterruptedTitle, i18n.PageInterruptedMessage, again)
	case oauth.CodeInvalidState:
		if errors.Is(err, oauth.ErrLoginEnded) {
			return http.StatusGone, s.simple(markFail, i18n.PageModeChangedTitle, i18n.PageModeChangedMessage, again)
		}
		return http.StatusBadRequest, s.simple(markFail, i18n.PageInvalidTitle, i18n.PageInvalidMessage, again)
	case oauth.CodeUnknownApp:
		return http.StatusNotFound, s.simple(markFail, i18n.PageUnknownAppTitle, i18n.PageUnknownAppMessage, again)
	case oauth.CodeAccessDenied:
		return http.StatusForbidden, s.simple(markFail, i18n.PageDeniedTitle, i18n.PageDeniedMessage, again)
	case oauth.CodeExchangeFailed:
		return http.StatusBadGateway, s.simple(markFail, i18n.PageExchangeFailedTitle, i18n.PageExchangeFailedMessage, again)
	case oauth.CodeProviderUnavailable:
		return http.StatusBadGateway, s.simple(markFail, i18n.PageUnavailableTitle, i18n.PageUnavailableMessage, again)
	case oauth.CodeNotAnAnswer:
		return http.StatusBadRequest, s.simple(markFail, i18n.PageNotAnAnswerTitle, i18n.PageNotAnAnswerMessage, again)
	case oauth.CodeInternal:
		return http.StatusInternalServerError, s.simple(markFail, i18n.PageInternalTitle, i18n.PageInternalMessage, again)
	}
	return http.StatusBadRequest, s.simple(markFail, i18n.PageIncompleteTitle, i18n.PageIncompleteMessage, again)
}

// pastePage renders a loopback login's page; problem, when set, says why
// the last paste was refused, and pasted is what it was.
func (s *Server) pastePage(w http.ResponseWriter, status int, f *oauth.Flow, problem, pasted string) {
	t := s.Printer
	link := oauth.StartPath + f.ID
	p := page{
		Mark:    markOK,
		Title:   t.Text(i18n.PasteTitle),
		Message: t.HTML(i18n.PasteIntro),
		Paste: &pasteForm{
			LoginLink: link + "?login", Action: link, Example: f.RedirectURI,
			Problem: problem, Pasted: pasted,
			Login:      t.Text(i18n.PasteLogin),
			LoginNote:  t.Text(i18n.PasteLoginNote),
			StepLanded: t.HTML(i18n.PasteStepLanded, "address", template.HTML("<code>"+template.HTMLEscapeString(f.RedirectURI)+"</code>")),
			StepCopy:   t.Text(i18n.PasteStepCopy),
			Label:      t.Text(i18n.PasteLabel),
			Finish:     t.Text(i18n.PasteFinish),
		},
	}
	// The form posts back to this page; everything else stays forbidden.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	// Its own posts carry its Origin, which the paste checks; the page's
	// address holds no code, and no other origin gets a Referer.
	w.Header().Set("Referrer-Policy", "same-origin")
	s.page(w, status, p)
}

// setupPage renders a setup's page: which service and skill it is for,
// the steps of making an app at the provider with the redirect URI to
// register, and the form. problem, when set, says why the last post was
// refused, and clientID is what it carried.
func (s *Server) setupPage(w http.ResponseWriter, status int, st *oauth.Setup, problem, clientID string) {
	t := s.Printer
	app := st.App
	service := app.ServiceName()
	form := &setupForm{
		Action: oauth.StartPath + st.Flow.ID, Key: st.Flow.SetupKey.Reveal(),
		Problem: problem, ClientID: clientID,
		LabelID: t.Text(i18n.SetupLabelID), LabelSecret: t.Text(i18n.SetupLabelSecret), Save: t.Text(i18n.SetupSave),
		Copy: t.Text(i18n.SetupCopy), Copied: t.Text(i18n.SetupCopied), Script: template.JS(copyScript),
	}
	for _, step := range st.Provider.SetupSteps(app.LoginMode()) {
		text := t.HTML(step.Say, "console", consoleLink(st.Provider.Console), "value", name(step.Value), "secret", name(step.Secret), "service", name(service))
		box := ""
		if uri, hostOnly := step.ShowsRedirect(); uri {
			box = st.RedirectURI
			if hostOnly {
				box = oauth.RedirectHost(box)
			}
		}
		form.Steps = append(form.Steps, setupStep{Text: text, Box: box})
	}
	p := page{
		Mark:    markOK,
		Title:   t.Text(i18n.SetupTitle, "service", service),
		Message: t.HTML(i18n.SetupIntro, "skill", name(app.SkillID), "service", name(service)),
		Setup:   form,
	}
	w.Header().Set("Content-Security-Policy", setupPolicy(app))
	// Its own posts carry its Origin, which the setup checks; no other
	// origin gets a Referer.
	w.Header().Set("Referrer-Policy", "same-origin")
	s.page(w, status, p)
}

// setupPolicy is a setup page's Content-Security-Policy: its Copy script
// by hash and no other, and its form posted only to itself. A post that
// saves goes on by a redirect to the provider, which browsers hold to
// form-action too, with the provider's own redirects after it (to its
// login page, or for a user logged in already back to the redirect URI):
// for logins that go there, the authorization endpoint's origin and any
// https origin are allowed as well.
func setupPolicy(app *oauth.App) string {
	actions := "'self'"
	if mode := app.LoginMode(); mode == oauth.LoginLAN || mode == oauth.LoginRelay {
		if o := sourceOrigin(app.AuthEndpoint); o != "" {
			actions += " " + o
		}
		actions += " https:"
	}
	return "default-src 'none'; style-src 'unsafe-inline'; script-src " + copyScriptHash + "; frame-ancestors 'none'; base-uri 'none'; form-action " + actions
}

// originChars is what an origin may hold to go into a policy: nothing that
// could end a source or a directive.
var originChars = regexp.MustCompile(`^https?://[A-Za-z0-9.\-]+(:[0-9]+)?$`)

// sourceOrigin is an http(s) URL's origin as a CSP source, "" when it has
// none that is safe to write there.
func sourceOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	o := strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
	if !originChars.MatchString(o) {
		return ""
	}
	return o
}

// consoleLink is a link to a provider's console, shown as its address
// without the scheme.
func consoleLink(console string) template.HTML {
	if console == "" {
		return ""
	}
	shown := strings.TrimSuffix(strings.TrimPrefix(console, "https://"), "/")
	return template.HTML(`<a href="` + template.HTMLEscapeString(console) + `" target="_blank" rel="noopener noreferrer">` + template.HTMLEscapeString(shown) + `</a>`)
}

// devicePage shows a device login's code, and a link to where it is
// entered, after a setup saved the app's credentials: the device polls
// the provider and finishes by itself.
func (s *Server) devicePage(w http.ResponseWriter, f *oauth.Flow) {
	t := s.Printer
	address := qr.ShortAddress(f.VerificationURI)
	p := page{
		Mark:    markWait,
		Title:   t.Text(i18n.SetupDeviceTitle),
		Message: t.HTML(i18n.SetupDeviceMessage, "address", name(address)),
		Hint:    t.Text(i18n.SetupDeviceHint),
		Device:  &deviceCode{Code: f.UserCode, Link: f.UserURL(), Open: t.Text(i18n.SetupDeviceOpen, "address", address)},
	}
	s.page(w, http.StatusOK, p)
}

func (s *Server) page(w http.ResponseWriter, status int, p page) {
	p.Lang = s.Printer.Lang()
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, p); err != nil {
		s.logger.Error("page not rendered", "err", err)
		http.Error(w, p.Title, status)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
