package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/config"
)

// The README is the user's manual, read on a phone or in a terminal: it
// stays short, and what does not fit goes to docs/.
const maxREADME = 20_000

// repoRoot is the repository's root, seen from this package's directory,
// where go test runs.
const repoRoot = "../.."

// TestREADMEFitsItsSize: the README stays a manual of at most 20 KB.
func TestREADMEFitsItsSize(t *testing.T) {
	t.Parallel()
	fi, err := os.Stat(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > maxREADME {
		t.Errorf("README.md is %d bytes, more than %d: move reference material to docs/ and link it", fi.Size(), maxREADME)
	}
}

// TestDocLinksResolve: every relative link in the README and in docs/, and
// every ../ path they name, leads to a file of this repository (not to a
// folder beside it, which a fresh clone does not have), and every #anchor
// to a heading of the file it names.
func TestDocLinksResolve(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	docs := markdownFiles(t, root)
	headings := map[string][]string{} // file → the anchors of its headings
	texts := map[string]string{}
	for _, f := range docs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts[f] = string(b)
		headings[f] = anchors(string(b))
	}
	for _, f := range docs {
		rel, _ := filepath.Rel(root, f)
		prose := withoutCode(texts[f])
		for _, m := range mdLink.FindAllStringSubmatch(prose, -1) {
			target := m[1]
			if isExternal(target) {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			dest := f
			if path != "" {
				dest = filepath.Join(filepath.Dir(f), filepath.FromSlash(path))
				if !inside(root, dest) {
					t.Errorf("%s: link %q leaves the repository", rel, target)
					continue
				}
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s: link %q: %v", rel, target, err)
					continue
				}
			}
			if anchor == "" {
				continue
			}
			hs, ok := headings[dest]
			if !ok {
				if _, err := os.Stat(dest); err == nil && strings.HasSuffix(dest, ".md") {
					t.Errorf("%s: link %q: %s is not a checked document", rel, target, dest)
				}
				continue
			}
			if !slices.Contains(hs, anchor) {
				t.Errorf("%s: link %q: no heading with anchor #%s in %s", rel, target, anchor, filepath.Base(dest))
			}
		}
		// A path the text names outside a link, in code too: it must be
		// in the repository as well.
		for _, m := range upPath.FindAllStringSubmatch(texts[f], -1) {
			dest := filepath.Join(filepath.Dir(f), filepath.FromSlash(m[1]))
			if !inside(root, dest) {
				t.Errorf("%s: names %q, outside the repository", rel, m[1])
			} else if _, err := os.Stat(dest); err != nil {
				t.Errorf("%s: names %q: %v", rel, m[1], err)
			}
		}
	}
}

// TestDocsCarryNoHistory: documents say how things are, not the issue or
// commit that made them so.
func TestDocsCarryNoHistory(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	history := regexp.MustCompile(`(?i)\b(issue|PR) #?\d+\b|\bcommit [0-9a-f]{7,40}\b|\bat [0-9a-f]{7,40}\b`)
	for _, f := range markdownFiles(t, root) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for _, m := range history.FindAllString(string(b), -1) {
			t.Errorf("%s: %q is history; say what holds now, and why", rel, m)
		}
	}
}

// TestREADMELayoutListsEveryPackage: the README's Layout names every
// package under cmd/, internal/ and web/.
func TestREADMELayoutListsEveryPackage(t *testing.T) {
	t.Parallel()
	layout := readmeSection(t, "Layout")
	seen := map[string]bool{}
	for _, dir := range []string{"cmd", "internal", "web"} {
		err := filepath.WalkDir(filepath.Join(repoRoot, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if d.IsDir() || filepath.Ext(path) != ".go" {
				return nil
			}
			pkg, _ := filepath.Rel(repoRoot, filepath.Dir(path))
			pkg = filepath.ToSlash(pkg)
			if seen[pkg] {
				return nil
			}
			seen[pkg] = true
			if !strings.Contains(layout, "`"+pkg+"`") {
				t.Errorf("the README's Layout does not list `%s`; add a line saying what it is", pkg)
			}
			// Not fs.SkipDir: from a file, it would skip the rest of the
			// folder, subpackages included.
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestREADMEConfigurationListsEverySetting: every key of the config file,
// with its flag and environment variable, and every flag of serve, is in
// the README's Configuration table.
func TestREADMEConfigurationListsEverySetting(t *testing.T) {
	t.Parallel()
	section := readmeSection(t, "Configuration")
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		key := typ.Field(i).Tag.Get("mapstructure")
		if key == "" {
			continue
		}
		for _, want := range []string{
			key,
			"--" + strings.ReplaceAll(key, "_", "-"),
			"OVOS_OAUTH_" + strings.ToUpper(key),
		} {
			if !strings.Contains(section, "`"+want+"`") {
				t.Errorf("the README's Configuration does not list `%s` (setting %s)", want, key)
			}
		}
	}
	var help bytes.Buffer
	_, err := config.Load([]string{"--help"}, func(string) string { return "" }, &help)
	if !errors.Is(err, config.ErrHelp) {
		t.Fatalf("ovos-oauth serve --help: %v, want config.ErrHelp", err)
	}
	flags := regexp.MustCompile(`(?m)^\s+(?:-\w, )?(--[a-z][a-z-]*)`).FindAllStringSubmatch(help.String(), -1)
	if len(flags) == 0 {
		t.Fatalf("no flags found in ovos-oauth serve --help:\n%s", help.String())
	}
	for _, m := range flags {
		if m[1] == "--help" {
			continue
		}
		if !strings.Contains(section, "`"+m[1]+"`") {
			t.Errorf("the README's Configuration does not list the serve flag `%s`", m[1])
		}
	}
}

// TestREADMEQuickStartIsWhatRuns: the README's two commands on a fresh
// machine are make targets, and the tests are run as CI runs them.
func TestREADMEQuickStartIsWhatRuns(t *testing.T) {
	t.Parallel()
	quick := readmeSection(t, "Quick start")
	makefile, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile(filepath.Join(repoRoot, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"run", "test"} {
		if !regexp.MustCompile(`(?m)^make ` + target + `\b`).MatchString(quick) {
			t.Errorf("the README's Quick start has no line starting `make %s`", target)
		}
		if !regexp.MustCompile(`(?m)^` + target + `:`).Match(makefile) {
			t.Errorf("the Makefile has no target %s, which the README's Quick start runs", target)
		}
	}
	if !regexp.MustCompile(`(?m)^make test$`).Match(ci) {
		t.Error(".ci/run does not run make test, which the README's Quick start says CI runs")
	}
}

var (
	// mdLink is an inline link or image: [text](target) or [text](target "title").
	mdLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	// upPath is a relative path that climbs: ../something.
	upPath = regexp.MustCompile("(?:^|[\\s(\\[`'\"])(\\.\\./[^\\s)\\]`'\"#]+)")
	// fence and inlineCode are what withoutCode blanks out.
	fence      = regexp.MustCompile("(?ms)^```.*?^```")
	inlineCode = regexp.MustCompile("`[^`\n]*`")
)

// markdownFiles is the README and every document under docs/.
func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	files := []string{filepath.Join(root, "README.md")}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append(files, more...)
}

func isExternal(target string) bool {
	for _, p := range []string{"http://", "https://", "mailto:"} {
		if strings.HasPrefix(target, p) {
			return true
		}
	}
	return false
}

func inside(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// withoutCode is text without its code blocks and code spans, where
// brackets and parentheses are not links.
func withoutCode(text string) string {
	return inlineCode.ReplaceAllString(fence.ReplaceAllString(text, ""), "")
}

// anchors lists the anchors GitHub gives the headings of a Markdown text:
// lower case, punctuation dropped, spaces as hyphens, -1, -2… for repeats.
func anchors(text string) []string {
	var out []string
	seen := map[string]int{}
	drop := regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	for line := range strings.Lines(fence.ReplaceAllString(text, "")) {
		line = strings.TrimRight(line, "\n")
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		slug := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(title), ""), " ", "-")
		if n := seen[slug]; n > 0 {
			out = append(out, slug+"-"+strconv.Itoa(n))
		} else {
			out = append(out, slug)
		}
		seen[slug]++
	}
	return out
}

// readmeSection is the text of the README's "## title" section, up to the
// next "## " heading.
func readmeSection(t *testing.T, title string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("the README has no section %q", "## "+title)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}
