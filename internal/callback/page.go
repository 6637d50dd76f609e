package callback

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// page is what a person sees on their phone.
type page struct {
	Title   string
	Message string
	Hint    string
	OK      bool
	// Paste, when set, makes the page a loopback login's: how to log in
	// and a form for the address the phone ended on.
	Paste *pasteForm
}

// pasteForm is what a loopback login's page needs.
type pasteForm struct {
	LoginLink string // back to /auth/start/<id>?login, never the state
	Action    string // the same page, POST
	Example   string // the redirect URI, so the user recognises the address
	Problem   string // why the last paste was refused, if it was
}

var (
	pageSuccess  = page{OK: true, Title: "You're logged in", Message: "Your device has its access now.", Hint: "You can close this page."}
	pageNotFound = page{Title: "Page not found", Message: "There is nothing at this address.", Hint: "Scan the code on your device again."}
	pageMethod   = page{Title: "Not allowed", Message: "This address only answers page loads."}
	pageTooLong  = page{Title: "Address too long", Message: "This address is longer than any login answer."}
	// A paste posted by another site's page: the user's own page posts to
	// itself, so a real user who lands here came by a link elsewhere.
	pageCrossSite = page{Title: "Not sent from this login's page", Message: "This address only takes what is pasted on its own page.", Hint: "Open the link from your device's QR code again and paste the address on the page it shows."}
)

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="{{if .Paste}}same-origin{{else}}no-referrer{{end}}">
<title>{{.Title}} · ovos-oauth</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:2rem 1.25rem;background:#f4f5f7;color:#1d2330;line-height:1.5}
main{max-width:28rem;margin:10vh auto 0;background:#fff;border-radius:12px;padding:1.75rem 1.5rem;box-shadow:0 1px 4px rgba(0,0,0,.08)}
h1{font-size:1.35rem;margin:0 0 .75rem}
.mark{font-size:2.5rem;line-height:1;margin-bottom:.75rem}
.ok .mark{color:#1a7f37}.fail .mark{color:#b42318}
p{margin:.5rem 0}.hint{color:#5b6472;font-size:.95rem}
ol{padding-left:1.25rem}li{margin:.6rem 0}code{word-break:break-all;font-size:.85rem}
.button,button{display:inline-block;background:#1d4ed8;color:#fff;border:0;border-radius:8px;padding:.6rem 1.2rem;font-size:1rem;text-decoration:none}
label{display:block;font-weight:600;margin-top:1rem}
textarea{box-sizing:border-box;width:100%;margin:.4rem 0 .8rem;font:inherit;font-size:.9rem;padding:.5rem;border:1px solid #c4c9d2;border-radius:8px}
.problem{color:#b42318;font-weight:600}
</style>
</head>
<body>
<main class="{{if .OK}}ok{{else}}fail{{end}}">
{{if not .Paste}}<div class="mark" aria-hidden="true">{{if .OK}}&#10003;{{else}}&#10007;{{end}}</div>{{end}}
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{with .Hint}}<p class="hint">{{.}}</p>{{end}}
{{with .Paste}}
<ol>
<li><a class="button" href="{{.LoginLink}}" target="_blank" rel="noopener noreferrer">Log in</a> (in a new tab; keep this one)</li>
<li>After you log in, your phone shows a page that cannot be opened, at an address that starts with <code>{{.Example}}</code>. That is expected: the address is meant for your device.</li>
<li>Copy that whole address from the address bar, come back to this tab, paste it here and tap <em>Finish</em>.</li>
</ol>
{{with .Problem}}<p class="problem" role="alert">{{.}}</p>{{end}}
<form method="post" action="{{.Action}}">
<label for="url">Address your phone ended on</label>
<textarea id="url" name="url" rows="4" required autocomplete="off" autocapitalize="off" spellcheck="false" placeholder="{{.Example}}?code=…"></textarea>
<button type="submit">Finish</button>
</form>
{{end}}
</main>
</body>
</html>
`))

// pastePage renders a loopback login's page; problem, when it has a Title,
// says why the last paste was refused.
func (s *Server) pastePage(w http.ResponseWriter, status int, f *oauth.Flow, problem page) {
	link := oauth.StartPath + f.ID
	p := page{
		OK:      true,
		Title:   "Log in, then paste the address",
		Message: "This login ends at an address only your device can open. Three steps:",
		Paste:   &pasteForm{LoginLink: link + "?login", Action: link, Example: f.RedirectURI},
	}
	if problem.Title != "" {
		p.Paste.Problem = problem.Title + ": " + problem.Message
	}
	// The form posts back to this page; everything else stays forbidden.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	// Its own posts carry its Origin, which the paste checks; the page's
	// address holds no code, and no other origin gets a Referer.
	w.Header().Set("Referrer-Policy", "same-origin")
	s.page(w, status, p)
}

func (s *Server) page(w http.ResponseWriter, status int, p page) {
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
