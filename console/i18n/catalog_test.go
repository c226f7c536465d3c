package i18n_test

import (
	"os/exec"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/language"

	"github.com/stagebus/stagebus/console/i18n"
)

// pageEN and pageDE are the message files of a made-up page package.
const (
	pageEN = `# a page's messages
page.title: Events
page.greeting: "Hello, {{.Name}}!"
page.count:
  one: "{{.Count}} event"
  other: "{{.Count}} events"
page.deadletters:
  one: "One dead letter in {{.Topic}}"
  other: "{{.Count}} dead letters in {{.Topic}}"
`
	pageDE = `page.title: Ereignisse
page.greeting: "Hallo, {{.Name}}!"
page.count:
  one: "{{.Count}} Ereignis"
  other: "{{.Count}} Ereignisse"
page.deadletters:
  one: "Ein unzustellbares Ereignis in {{.Topic}}"
  other: "{{.Count}} unzustellbare Ereignisse in {{.Topic}}"
`
)

func source(name, en, de string) i18n.Source {
	return i18n.Source{Name: name, FS: fstest.MapFS{"en.yaml": {Data: []byte(en)}, "de.yaml": {Data: []byte(de)}}}
}

func newCatalog(t testing.TB) *i18n.Catalog {
	t.Helper()
	c, err := i18n.NewCatalog(i18n.Messages, source("console/testpage", pageEN, pageDE))
	require.NoError(t, err)
	return c
}

func TestNewCatalog(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	ids := []string{"format.date", "format.datetime", "page.count", "page.deadletters", "page.greeting", "page.title"}
	require.Equal(t, ids, c.IDs())
	c.IDs()[0] = "changed"
	require.Equal(t, ids, c.IDs(), "IDs returns a copy")

	require.Equal(t, []language.Tag{language.English, language.German}, i18n.Languages)
	for _, tag := range i18n.Languages {
		require.Equal(t, tag, c.Localizer(tag).Tag())
	}
	for _, tc := range []struct {
		tag  language.Tag
		want language.Tag
	}{
		{language.MustParse("de-CH"), language.German},
		{language.MustParse("de-u-rg-chzzzz"), language.German},
		{language.BritishEnglish, language.English},
		{language.French, language.English},
		{language.Und, language.English},
	} {
		require.Equal(t, tc.want, c.Localizer(tc.tag).Tag(), tc.tag.String())
	}

	require.NoError(t, i18n.CheckSource(i18n.Messages))
	require.NoError(t, i18n.CheckSource(source("console/testpage", pageEN, pageDE)))
	// Empty files (or only comments) are allowed: a package may have no messages yet.
	_, err := i18n.NewCatalog(i18n.Messages, source("empty", "", "# none yet\n"))
	require.NoError(t, err)
}

func TestNewCatalogProblems(t *testing.T) {
	t.Parallel()
	page := source("console/testpage", pageEN, pageDE)
	for _, tc := range []struct {
		name    string
		sources []i18n.Source
		errs    []string // each must be one of the problems
	}{
		{"missing in de", []i18n.Source{i18n.Messages, source("p", "a: A\nb: B\n", "a: A\n")},
			[]string{"p: de.yaml: b: missing (defined in en.yaml:2)"}},
		{"missing in en", []i18n.Source{i18n.Messages, source("p", "a: A\n", "a: A\nb: B\n")},
			[]string{"p: en.yaml: b: missing (defined in de.yaml:2)"}},
		{"duplicate across sources", []i18n.Source{i18n.Messages, page, source("console/other", "x: X\npage.title: T\n", "x: X\npage.title: T\n")},
			[]string{"console/other: en.yaml:2: page.title: defined twice: also in console/testpage, en.yaml:2"}},
		{"duplicate of Messages", []i18n.Source{i18n.Messages, source("p", "format.date: '2006'\n", "format.date: '2006'\n")},
			[]string{"p: en.yaml:1: format.date: defined twice: also in console/i18n, en.yaml:5"}},
		{"duplicate in a file", []i18n.Source{i18n.Messages, source("p", "a: A\nb: B\na: C\n", "a: A\nb: B\n")},
			[]string{"p: en.yaml:3: a: defined twice in this file (first at line 1)"}},
		{"plural lacks one", []i18n.Source{i18n.Messages, source("p", "n:\n  one: one\n  other: many\n", "n:\n  other: viele\n")},
			[]string{`p: de.yaml:1: n: lacks plural form "one" (de needs one, other)`}},
		{"plural lacks other", []i18n.Source{i18n.Messages, source("p", "n:\n  one: one\n", "n:\n  one: eins\n  other: viele\n")},
			[]string{`p: en.yaml:1: n: lacks plural form "other" (en needs one, other)`}},
		{"plural form unused", []i18n.Source{i18n.Messages, source("p", "n:\n  one: one\n  few: few\n  other: many\n", "n:\n  one: eins\n  other: viele\n")},
			[]string{`p: en.yaml:3: n: has plural form "few", which en does not use (it uses one, other)`}},
		{"not a plural form", []i18n.Source{i18n.Messages, source("p", "n:\n  one: one\n  ohter: many\n", "n:\n  one: eins\n  other: viele\n")},
			[]string{`p: en.yaml:3: n: "ohter" is not a CLDR plural form (zero, one, two, few, many, other)`, `p: en.yaml:1: n: lacks plural form "other"`}},
		{"plural form twice", []i18n.Source{i18n.Messages, source("p", "n:\n  one: one\n  other: many\n", "n:\n  one: eins\n  other: viele\n  other: mehr\n")},
			[]string{`p: de.yaml:4: n: plural form "other" given twice`}},
		{"plural here, string there", []i18n.Source{i18n.Messages, source("p", "n:\n  one: one\n  other: many\n", "n: viele\n")},
			[]string{"p: de.yaml:1: n: a string here but a map of plural forms in en.yaml"}},
		{"template does not parse", []i18n.Source{i18n.Messages, source("p", "a: 'Hi {{.Name'\n", "a: 'Hallo {{.Name}}'\n")},
			[]string{"p: en.yaml:1: a: does not parse: template: a:1: unclosed action"}},
		{"plural template does not parse", []i18n.Source{i18n.Messages, source("p", "n:\n  one: one\n  other: '{{if .Count}}many'\n", "n:\n  one: eins\n  other: viele\n")},
			[]string{`p: en.yaml:3: n: plural form "other": does not parse: template: n:1: unexpected EOF`}},
		{"translation uses another argument", []i18n.Source{i18n.Messages, source("p", "a: 'Hello {{.Name}}'\n", "a: 'Hallo {{.Nme}}'\n")},
			[]string{"p: de.yaml:1: a: uses {{.Nme}}, which the text in en.yaml does not"}},
		{"empty message", []i18n.Source{i18n.Messages, source("p", "a: ''\n", "a: A\n")},
			[]string{"p: en.yaml:1: a: empty message"}},
		{"not a string", []i18n.Source{i18n.Messages, source("p", "a: 5\n", "a: A\n")},
			[]string{`p: en.yaml:1: a: expected a string or a map of plural forms (quote "5" to make it one)`}},
		{"nested map", []i18n.Source{i18n.Messages, source("p", "page:\n  title: T\n", "page:\n  title: T\n")},
			[]string{`p: en.yaml:2: page: expected a string or a map of plural forms; ids are flat (write "page.title: …", not a nested map)`}},
		{"bad id", []i18n.Source{i18n.Messages, source("p", "a b: A\n", "a b: A\n")},
			[]string{`p: en.yaml:1: "a b" is not a message id (a string without spaces)`}},
		{"not a map", []i18n.Source{i18n.Messages, source("p", "- a\n- b\n", "")},
			[]string{"p: en.yaml:1: expected a map from message id to message"}},
		{"not YAML", []i18n.Source{i18n.Messages, source("p", "a: [\n", "")},
			[]string{"p: en.yaml: not valid YAML: yaml: line 1:"}},
		{"missing file", []i18n.Source{i18n.Messages, {Name: "p", FS: fstest.MapFS{"en.yaml": {Data: []byte("a: A\n")}}}},
			[]string{"p: de.yaml: open de.yaml: file does not exist", "p: de.yaml: a: missing (defined in en.yaml:1)"}},
		{"bad Sub", []i18n.Source{i18n.Messages, {Name: "p", FS: i18n.Sub(fstest.MapFS{}, "../x")}},
			[]string{"p: en.yaml: sub ../x: invalid argument"}},
		{"no FS, no name", []i18n.Source{i18n.Messages, {}},
			[]string{"source 1: no FS"}},
		{"no Messages", []i18n.Source{page},
			[]string{"format.datetime: missing: pass i18n.Messages to NewCatalog", "format.date: missing: pass i18n.Messages to NewCatalog"}},
		{"bad layout", []i18n.Source{source("p", "format.datetime: '2 Jan 2006'\nformat.date: '2 Jan 2006'\n", "format.datetime: '02.01.2006, 15:04'\nformat.date: '02.01.06'\n")},
			[]string{
				`p: en.yaml:1: format.datetime: "2 Jan 2006" is not a Go time layout of a date and time (2031-11-23 17:48:59 shows as "23 Nov 2031")`,
				`p: de.yaml:1: format.datetime: "02.01.2006, 15:04" is not a Go time layout of a date and time`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := i18n.NewCatalog(tc.sources...)
			require.Error(t, err)
			require.Nil(t, c)
			ps, ok := err.(i18n.Problems)
			require.True(t, ok, "%T", err)
			got := make([]string, len(ps))
			for i, p := range ps {
				got[i] = p.Error()
			}
			for _, want := range tc.errs {
				require.True(t, containsPrefix(got, want), "want %q among\n%s", want, strings.Join(got, "\n"))
			}
			if len(ps) == 1 {
				require.Equal(t, "invalid messages: "+ps[0].Error(), err.Error())
			} else {
				require.True(t, strings.HasPrefix(err.Error(), "invalid messages ("), err.Error())
			}
		})
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func TestCheckSource(t *testing.T) {
	t.Parallel()
	err := i18n.CheckSource(source("p", "b: B\na: A\nn:\n  one: one\n  other: many\n", "n:\n  other: viele\nc: C\n"))
	require.EqualError(t, err, `invalid messages (4 problems):
  p: en.yaml: c: missing (defined in de.yaml:3)
  p: de.yaml: a: missing (defined in en.yaml:2)
  p: de.yaml: b: missing (defined in en.yaml:1)
  p: de.yaml:1: n: lacks plural form "one" (de needs one, other)`)
	// CheckSource sees one source: it neither needs Messages nor knows its ids.
	require.NoError(t, i18n.CheckSource(source("p", "format.date: '2006-01-02'\n", "format.date: '02.01.2006'\n")))
}

func TestMatch(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	for _, tc := range []struct {
		cookie, accept string
		want           language.Tag
	}{
		{"", "", language.English},
		{"de", "", language.German},
		{"DE", "en", language.German},
		{"en", "de", language.English},
		{"fr", "de", language.German},   // unsupported cookie: the header decides
		{"de-CH", "", language.English}, // the cookie holds one of our values, nothing else
		{"", "de-CH;q=0.9,en;q=0.5", language.German},
		{"", "en;q=0.5,de-CH;q=0.9", language.German}, // q-values, not order
		{"", "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", language.German},
		{"", "en-GB,en;q=0.9,de;q=0.8", language.English},
		{"", "fr", language.English},
		{"", "fr-FR, fr;q=0.9, de;q=0.1", language.German},
		{"", "de;q=0, en", language.English}, // q=0: not acceptable
		{"", "*", language.English},
		{"", "gsw", language.German}, // Swiss German
		{"", "garbage!!;;", language.English},
		{"", "de, xx-;q=0.5", language.English}, // a malformed header is ignored as a whole
		{"", strings.Repeat("de-", 2000), language.English},
	} {
		require.Equal(t, tc.want, c.Match(tc.cookie, tc.accept), "cookie %q, Accept-Language %q", tc.cookie, tc.accept)
	}
}

func FuzzMatch(f *testing.F) {
	c := newCatalog(f)
	f.Add("", "de-CH;q=0.9,en;q=0.5")
	f.Add("de", "en")
	f.Add("x", "*;q=0.1, fr-CA;q=0.8")
	f.Add("", "en-US-u-va-posix,de;q=1.000")
	f.Fuzz(func(t *testing.T, cookie, accept string) {
		got := c.Match(cookie, accept)
		require.Contains(t, i18n.Languages, got)
		for _, tag := range i18n.Languages {
			if strings.EqualFold(cookie, tag.String()) {
				require.Equal(t, tag, got)
			}
		}
		require.Equal(t, got, c.Localizer(got).Tag())
	})
}

// FuzzCheckSource feeds the same bytes as en.yaml and de.yaml: problems are fine, panics are not.
func FuzzCheckSource(f *testing.F) {
	f.Add(pageEN)
	f.Add("a: &x A\nb: *x\n<<: {c: C}\n")
	f.Add("n: {one: '{{define \"x\"}}{{end}}', other: '{{range .X}}{{.Y}}{{else}}{{$.Z}}{{end}}'}\n")
	f.Add("? [a]\n: b\n")
	f.Fuzz(func(t *testing.T, data string) {
		src := source("fuzz", data, data)
		if i18n.CheckSource(src) != nil {
			return
		}
		c, err := i18n.NewCatalog(i18n.Messages, src)
		if err != nil {
			return
		}
		for _, id := range c.IDs() {
			_, _ = c.Localizer(language.German).T(id, "Count", 2)
		}
	})
}

// TestImports keeps the package a leaf of Stagebus: every console package may use it, so it
// imports none of them (nor anything else of Stagebus's).
func TestImports(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	const self = "github.com/stagebus/stagebus/console/i18n"
	for _, dep := range strings.Fields(string(out)) {
		require.False(t, dep != self && strings.HasPrefix(dep, "github.com/stagebus/stagebus/"), "console/i18n imports %s", dep)
	}
	require.Contains(t, strings.Fields(string(out)), self)
}
