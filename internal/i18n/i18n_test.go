package i18n_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"html/template"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
)

// shippedLanguages are the languages ovos-oauth promises.
var shippedLanguages = []string{"ca", "de", "en", "es", "fr", "it", "nl", "pt"}

// TestCatalog: every shipped language has every key of English, no other,
// none empty, each with English's placeholders.
func TestCatalog(t *testing.T) {
	t.Parallel()
	c := i18n.Shipped()
	if d := cmp.Diff(c.Languages(), shippedLanguages); d != "" {
		t.Errorf("languages (-got +want):\n%s", d)
	}
	if err := c.Check(); err != nil {
		t.Error(err)
	}
}

// TestCheck: Check finds a missing key, an extra one, an empty text and a
// placeholder that differs from English's.
func TestCheck(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"messages/en.json": {Data: []byte(`{"a": "Hello {name}", "b": "Bye", "c": "C"}`)},
		"messages/de.json": {Data: []byte(`{"a": "Hallo {nom}", "c": " ", "x": "X"}`)},
	}
	c, err := i18n.Parse(fsys)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Check()
	if err == nil {
		t.Fatal("Check() = nil for a catalogue with problems")
	}
	for _, want := range []string{"de: a has placeholders [{nom}], English [{name}]", "de: b is missing", "de: c is empty", "de: x is not in English"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check() = %v, want it to say %q", err, want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	tests := map[string]fstest.MapFS{
		"no English":        {"messages/de.json": {Data: []byte(`{}`)}},
		"not JSON":          {"messages/en.json": {Data: []byte(`{"a": `)}},
		"not strings":       {"messages/en.json": {Data: []byte(`{"a": 1}`)}},
		"tag not lowercase": {"messages/en.json": {Data: []byte(`{}`)}, "messages/pt-BR.json": {Data: []byte(`{}`)}},
	}
	for name, fsys := range tests {
		if _, err := i18n.Parse(fsys); err == nil {
			t.Errorf("%s: Parse() = nil error", name)
		}
	}
}

// TestKeys: the constants of keys.go are exactly en.json's keys.
func TestKeys(t *testing.T) {
	t.Parallel()
	f, err := parser.ParseFile(token.NewFileSet(), "keys.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var consts []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Key" {
			for _, v := range vs.Values {
				s, err := strconv.Unquote(v.(*ast.BasicLit).Value)
				if err != nil {
					t.Fatal(err)
				}
				consts = append(consts, s)
			}
		}
		return true
	})
	en := english(t)
	var keys []string
	for k := range en {
		keys = append(keys, string(k))
	}
	slices.Sort(consts)
	slices.Sort(keys)
	if d := cmp.Diff(consts, keys); d != "" {
		t.Errorf("keys.go's constants (-) against en.json's keys (+):\n%s", d)
	}
}

func english(t *testing.T) map[i18n.Key]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("messages", "en.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[i18n.Key]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMatch(t *testing.T) {
	t.Parallel()
	c := i18n.Shipped()
	tests := map[string]string{
		"en-us": "en", "en": "en", "pt-PT": "pt", "pt-br": "pt", "pt_BR": "pt", "ca-es": "ca",
		"de-de": "de", "DE": "de", "fr-FR": "fr", "it-it": "it", "nl-nl": "nl", "es-es": "es",
		"gl-es": "en", "": "en", "zz": "en", " de-AT ": "de", "-": "en",
	}
	for tag, want := range tests {
		if got := c.Match(tag); got != want {
			t.Errorf("Match(%q) = %q, want %q", tag, got, want)
		}
		if got := c.Printer(tag).Lang(); got != want {
			t.Errorf("Printer(%q).Lang() = %q, want %q", tag, got, want)
		}
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"messages/en.json": {Data: []byte(`{"hi": "Hello {name}, from {place}", "only": "English only"}`)},
		"messages/de.json": {Data: []byte(`{"hi": "Hallo {name}, aus {place}"}`)},
	}
	c, err := i18n.Parse(fsys)
	if err != nil {
		t.Fatal(err)
	}
	de := c.Printer("de-de")
	tests := []struct {
		got, want string
	}{
		{de.Text("hi", "name", "Ana", "place", "Porto"), "Hallo Ana, aus Porto"},
		{c.Printer("en-us").Text("hi", "name", "Ana", "place", "Porto"), "Hello Ana, from Porto"},
		// A value is not filled in again.
		{de.Text("hi", "name", "{place}", "place", "Porto"), "Hallo {place}, aus Porto"},
		// What args leave out stays visible.
		{de.Text("hi", "name", "Ana"), "Hallo Ana, aus {place}"},
		{string(de.HTML("hi", "name", "<b>", "place", template.HTML("<code>P</code>"))), "Hallo &lt;b&gt;, aus <code>P</code>"},
		{de.Text("only"), "English only"},
		{de.Text("nowhere"), "nowhere"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%d: Text() = %q, want %q", i, tt.got, tt.want)
		}
	}
}

// TestCallsFillPlaceholders reads every Go file of the module for calls of
// Text or HTML with an i18n key, and checks that they name exactly the key's
// placeholders, in name-value pairs of string literals: a placeholder left
// unfilled would show on a page as {name}.
func TestCallsFillPlaceholders(t *testing.T) {
	t.Parallel()
	en := english(t)
	root := filepath.Join("..", "..")
	calls := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); !ok || sel.Sel.Name != "Text" && sel.Sel.Name != "HTML" {
				return true
			}
			key, ok := keyOf(call.Args[0])
			if !ok {
				return true
			}
			calls++
			pos := fset.Position(call.Pos())
			text, ok := en[i18n.Key(key)]
			if !ok {
				t.Errorf("%s: %s is not in en.json", pos, key)
				return true
			}
			if call.Ellipsis.IsValid() {
				return true // args from elsewhere: not checked here
			}
			rest := call.Args[1:]
			if len(rest)%2 != 0 {
				t.Errorf("%s: Text(%s, …) has an odd number of args", pos, key)
				return true
			}
			var names []string
			for i := 0; i < len(rest); i += 2 {
				lit, ok := rest[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Errorf("%s: Text(%s, …): placeholder names must be string literals", pos, key)
					return true
				}
				s, _ := strconv.Unquote(lit.Value)
				names = append(names, "{"+s+"}")
			}
			slices.Sort(names)
			if !slices.Equal(names, i18n.Placeholders(text)) {
				t.Errorf("%s: Text(%s, …) fills %v; the text has %v", pos, key, names, i18n.Placeholders(text))
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 {
		t.Error("no call of Text with an i18n key found: the walk is broken")
	}
}

// keyOf returns the key of an i18n.Name constant expression.
func keyOf(e ast.Expr) (string, bool) {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return "", false
	}
	if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "i18n" {
		return "", false
	}
	return keyConsts()[sel.Sel.Name], true
}

// keyConsts maps the constant names of keys.go to their keys.
var keyConsts = sync.OnceValue(func() map[string]string {
	f, err := parser.ParseFile(token.NewFileSet(), "keys.go", nil, 0)
	if err != nil {
		panic(err)
	}
	m := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for i, name := range vs.Names {
				if i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
						m[name.Name], _ = strconv.Unquote(lit.Value)
					}
				}
			}
		}
		return true
	})
	return m
})

// FuzzMatch: whatever tag mycroft.conf or a browser gives, a language of
// the catalogue.
func FuzzMatch(f *testing.F) {
	for _, s := range []string{"en-us", "pt_BR", "", "-", "zz-ZZ-x", "\x00"} {
		f.Add(s)
	}
	c := i18n.Shipped()
	langs := c.Languages()
	f.Fuzz(func(t *testing.T, tag string) {
		if got := c.Match(tag); !slices.Contains(langs, got) {
			t.Fatalf("Match(%q) = %q, not a language of the catalogue", tag, got)
		}
	})
}
