// Package i18n is ovos-oauth's message catalogue: every sentence a person
// reads — the callback server's pages, the lines in a QR image, the CLI's
// human output and the relay page's table — in each language it ships.
//
// A language is one file, messages/<tag>.json, a flat JSON object of key to
// text, so that a translator edits one file. English (en.json) is the
// reference: every other file has its keys, and in each text the same
// {name} placeholders; TestCatalog fails otherwise. A text lacking in a
// language is printed in English.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Key names one message. The keys are constants (keys.go), so that a
// mistyped one does not compile; TestKeys holds them to en.json.
type Key string

// Fallback is the language of a tag that no file matches, and the one every
// missing text is taken from.
const Fallback = "en"

//go:embed messages/*.json
var files embed.FS

// Catalog holds every language's messages. It is immutable once parsed and
// safe for concurrent use.
type Catalog struct {
	langs map[string]map[Key]string
}

// shipped is the catalogue of the files built into the binary, parsed on
// first use. They are part of the program: one that does not parse is a bug
// TestCatalog catches, so it panics, as template.Must does.
var shipped = sync.OnceValue(func() *Catalog {
	c, err := Parse(files)
	if err != nil {
		panic(fmt.Sprintf("i18n: the built-in catalogue: %v", err))
	}
	return c
})

// Shipped returns the catalogue built into the binary.
func Shipped() *Catalog { return shipped() }

// builtin is the built-in files for For, each language parsed on its
// first use: a daemon speaks one language, and English where that one
// lacks a text; parsing all of them took a megabyte at every start, and
// held 400 KB.
var builtin = sync.OnceValue(func() *lazyCatalog { return newLazyCatalog(files) })

// For returns a printer of the built-in catalogue for the language tag, as
// Catalog.Printer, having parsed only the files it needs.
func For(tag string) *Printer {
	p, err := builtin().printer(tag)
	if err != nil {
		panic(fmt.Sprintf("i18n: the built-in catalogue: %v", err))
	}
	return p
}

// lazyCatalog is the catalogue of fsys's messages/*.json, each language
// parsed on its first use.
type lazyCatalog struct {
	langs map[string]func() (map[Key]string, error)
}

func newLazyCatalog(fsys fs.FS) *lazyCatalog {
	names, _ := fs.Glob(fsys, "messages/*.json") // only a bad pattern fails
	c := &lazyCatalog{langs: make(map[string]func() (map[Key]string, error), len(names))}
	for _, name := range names {
		c.langs[strings.TrimSuffix(path.Base(name), ".json")] = sync.OnceValues(func() (map[Key]string, error) {
			return parseFile(fsys, name)
		})
	}
	return c
}

// printer is Catalog.Printer, parsing the language that Match finds, and
// English.
func (c *lazyCatalog) printer(tag string) (*Printer, error) {
	lang := match(tag, func(l string) bool { _, ok := c.langs[l]; return ok })
	parseEn, ok := c.langs[Fallback]
	if !ok {
		return nil, fmt.Errorf("no messages/%s.json", Fallback)
	}
	en, err := parseEn()
	if err != nil {
		return nil, err
	}
	msgs := en
	if lang != Fallback {
		if msgs, err = c.langs[lang](); err != nil {
			return nil, err
		}
	}
	return &Printer{lang: lang, msgs: msgs, en: en}, nil
}

// Parse reads messages/*.json from fsys, one language per file named by its
// tag in lowercase (en.json, pt.json, pt-br.json). It checks the syntax
// only; Check compares the languages.
func Parse(fsys fs.FS) (*Catalog, error) {
	names, err := fs.Glob(fsys, "messages/*.json")
	if err != nil {
		return nil, err
	}
	c := &Catalog{langs: make(map[string]map[Key]string, len(names))}
	for _, name := range names {
		tag := strings.TrimSuffix(path.Base(name), ".json")
		if tag != normalize(tag) || tag == "" {
			return nil, fmt.Errorf("%s: name a language file by its tag in lowercase, like pt-br.json", name)
		}
		m, err := parseFile(fsys, name)
		if err != nil {
			return nil, err
		}
		c.langs[tag] = m
	}
	if _, ok := c.langs[Fallback]; !ok {
		return nil, fmt.Errorf("no messages/%s.json", Fallback)
	}
	return c, nil
}

// parseFile reads one language's file.
func parseFile(fsys fs.FS, name string) (map[Key]string, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	var m map[Key]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

// Check reports every key a language lacks or has beyond English, and every
// text whose placeholders differ from English's.
func (c *Catalog) Check() error {
	en := c.langs[Fallback]
	var problems []string
	for _, lang := range c.Languages() {
		m := c.langs[lang]
		for _, k := range slices.Sorted(maps.Keys(en)) {
			text, ok := m[k]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s: %s is missing", lang, k))
			case strings.TrimSpace(text) == "":
				problems = append(problems, fmt.Sprintf("%s: %s is empty", lang, k))
			case !slices.Equal(Placeholders(text), Placeholders(en[k])):
				problems = append(problems, fmt.Sprintf("%s: %s has placeholders %v, English %v", lang, k, Placeholders(text), Placeholders(en[k])))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if _, ok := en[k]; !ok {
				problems = append(problems, fmt.Sprintf("%s: %s is not in English", lang, k))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("message catalogue:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// Languages returns the tags of the catalogue's languages, sorted.
func (c *Catalog) Languages() []string { return slices.Sorted(maps.Keys(c.langs)) }

// Messages returns a copy of one language's texts, nil for a language the
// catalogue does not have.
func (c *Catalog) Messages(lang string) map[Key]string { return maps.Clone(c.langs[lang]) }

// Match returns the catalogue's language for a tag as OVOS writes it in
// mycroft.conf's lang (en-us, pt-PT, pt_BR, ca-es) or a browser in
// navigator.language: the language of that exact tag, else of its base
// language (pt for pt-br), else English.
func (c *Catalog) Match(tag string) string {
	return match(tag, func(lang string) bool { _, ok := c.langs[lang]; return ok })
}

// match is Match over the languages has reports.
func match(tag string, has func(lang string) bool) string {
	tag = normalize(tag)
	if has(tag) {
		return tag
	}
	base, _, _ := strings.Cut(tag, "-")
	if has(base) {
		return base
	}
	return Fallback
}

// normalize writes a language tag in lowercase with hyphens.
func normalize(tag string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(tag), "_", "-"))
}

// Printer returns the printer of the language that Match finds for tag.
func (c *Catalog) Printer(tag string) *Printer {
	lang := c.Match(tag)
	return &Printer{lang: lang, msgs: c.langs[lang], en: c.langs[Fallback]}
}

// Printer prints the messages of one language. It is immutable and safe
// for concurrent use.
type Printer struct {
	lang     string
	msgs, en map[Key]string
}

// Lang returns the printer's language tag, for an HTML lang attribute.
func (p *Printer) Lang() string { return p.lang }

// Text returns the message of key, its {name} placeholders filled from
// args, which alternate name and value: Text(k, "service", "Spotify").
// A text the language lacks is English's; a key no language has is
// returned as it is, and a placeholder args do not fill stays as written,
// so that a slip shows on the page rather than hiding a sentence.
func (p *Printer) Text(key Key, args ...string) string {
	text, ok := p.msgs[key]
	if !ok {
		if text, ok = p.en[key]; !ok {
			return string(key)
		}
	}
	if len(args) == 0 || !strings.Contains(text, "{") {
		return text
	}
	pairs := make([]string, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		pairs = append(pairs, "{"+args[i]+"}", args[i+1])
	}
	// One pass: a value that holds "{name}" is not filled in again.
	return strings.NewReplacer(pairs...).Replace(text)
}

// HTML returns the message of key as HTML: the text escaped, its
// placeholders filled from args as Text does, a value of type
// template.HTML as it is (markup the caller built), any other escaped.
func (p *Printer) HTML(key Key, args ...any) template.HTML {
	text := template.HTMLEscapeString(p.Text(key))
	pairs := make([]string, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		name, _ := args[i].(string)
		var value string
		switch v := args[i+1].(type) {
		case template.HTML:
			value = string(v)
		default:
			value = template.HTMLEscapeString(fmt.Sprint(v))
		}
		pairs = append(pairs, "{"+name+"}", value)
	}
	return template.HTML(strings.NewReplacer(pairs...).Replace(text))
}

var placeholder = regexp.MustCompile(`\{[a-z_]+\}`)

// Placeholders returns the {name} placeholders of a text, sorted, each once.
func Placeholders(text string) []string {
	return slices.Compact(slices.Sorted(slices.Values(placeholder.FindAllString(text, -1))))
}
