package callback

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"
)

// page is what a person sees on their phone.
type page struct {
	Title   string
	Message string
	Hint    string
	OK      bool
}

var (
	pageSuccess  = page{OK: true, Title: "You're logged in", Message: "Your device has its access now.", Hint: "You can close this page."}
	pageNotFound = page{Title: "Page not found", Message: "There is nothing at this address.", Hint: "Scan the code on your device again."}
	pageMethod   = page{Title: "Not allowed", Message: "This address only answers page loads."}
	pageTooLong  = page{Title: "Address too long", Message: "This address is longer than any login answer."}
)

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}} · ovos-oauth</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:2rem 1.25rem;background:#f4f5f7;color:#1d2330;line-height:1.5}
main{max-width:28rem;margin:10vh auto 0;background:#fff;border-radius:12px;padding:1.75rem 1.5rem;box-shadow:0 1px 4px rgba(0,0,0,.08)}
h1{font-size:1.35rem;margin:0 0 .75rem}
.mark{font-size:2.5rem;line-height:1;margin-bottom:.75rem}
.ok .mark{color:#1a7f37}.fail .mark{color:#b42318}
p{margin:.5rem 0}.hint{color:#5b6472;font-size:.95rem}
</style>
</head>
<body>
<main class="{{if .OK}}ok{{else}}fail{{end}}">
<div class="mark" aria-hidden="true">{{if .OK}}&#10003;{{else}}&#10007;{{end}}</div>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{with .Hint}}<p class="hint">{{.}}</p>{{end}}
</main>
</body>
</html>
`))

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
