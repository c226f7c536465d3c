package i18n

import (
	"embed"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Languages are the languages the console ships, the first is the default (English, German).
// Callers must not change it; the package works from its own copy.
var Languages = []language.Tag{language.English, language.German}

// Source is one package's message files: en.yaml and de.yaml at the root of FS.
type Source struct {
	Name string // names the source in problems, for example "console/eventspage"
	FS   fs.FS
}

//go:embed messages/en.yaml messages/de.yaml
var files embed.FS

// Messages are this package's own messages: the layouts format.datetime and format.date of
// Localizer.Time and Localizer.Date. NewCatalog fails without them, so pass Messages along
// with the pages' sources.
var Messages = Source{Name: "console/i18n", FS: Sub(files, "messages")}

// Sub returns the folder dir of fsys as fs.Sub does, for a Source's FS. It never fails: when
// fs.Sub would (dir is not a valid path, or fsys is nil), every Open of the result returns that
// error, so NewCatalog and CheckSource report it.
func Sub(fsys fs.FS, dir string) fs.FS {
	if fsys == nil {
		return errFS{fmt.Errorf("sub %s: no FS", dir)}
	}
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return errFS{err}
	}
	return sub
}

// errFS is an FS that cannot open anything.
type errFS struct{ err error }

func (e errFS) Open(string) (fs.File, error) { return nil, e.err }

// Catalog holds every message of every language. Make one with NewCatalog; it does not change
// afterwards and is safe for concurrent use.
type Catalog struct {
	ids        []string
	plural     map[string]bool // every id: whether its message has plural forms
	matcher    language.Matcher
	localizers []*Localizer // one per langs, in that order
}

// NewCatalog loads en.yaml and de.yaml from each fs (at the fs root). A YAML file is a flat
// map: id -> string, or id -> map of CLDR plural forms (one/other, …) for messages with a
// count. Messages are text/template templates (see Localizer.T).
//
// The error is [Problems], every problem found, each naming the source (its Name, or "source
// N" by its index), the file, the line and the id: a file that is missing or not such a map;
// an id defined twice, in one file or across sources; an id present in one language but
// missing in another; a message that is plural in one language and a string in another; a
// plural message lacking a plural form its language needs (en, de: one, other) or having one
// it does not use; an empty message; a template that does not parse; a translation whose
// template uses an argument ({{.Name}}) that the English text does not (Count aside); a
// format.* layout that is not a time layout. The sources must include [Messages].
func NewCatalog(sources ...Source) (*Catalog, error) {
	type origin struct {
		source, file string
		line         int
	}
	var ps Problems
	c := &Catalog{plural: map[string]bool{}}
	origins := map[string]origin{}
	bundle := i18n.NewBundle(langs[0].tag)
	for i, src := range sources {
		s, sps := loadSource(i, src)
		ps = append(ps, sps...)
		for _, id := range s.ids {
			fi, e := s.first(id)
			if o, dup := origins[id]; dup {
				ps = append(ps, Problem{Source: s.name, File: s.files[fi].name, Line: e.line, ID: id,
					Message: fmt.Sprintf("defined twice: also in %s, %s:%d", o.source, o.file, o.line)})
				continue
			}
			origins[id] = origin{source: s.name, file: s.files[fi].name, line: e.line}
			c.plural[id] = e.plural
		}
		for li, f := range s.files {
			msgs := make([]*i18n.Message, 0, len(f.entries))
			for id, e := range f.entries {
				msgs = append(msgs, &i18n.Message{ID: id, Zero: e.forms["zero"], One: e.forms["one"], Two: e.forms["two"],
					Few: e.forms["few"], Many: e.forms["many"], Other: e.forms["other"]})
			}
			if err := bundle.AddMessages(langs[li].tag, msgs...); err != nil {
				ps = append(ps, Problem{Source: s.name, File: f.name, Message: err.Error()})
			}
		}
	}
	for _, id := range []string{idDateTime, idDate} {
		if _, ok := origins[id]; !ok {
			ps = append(ps, Problem{ID: id, Message: "missing: pass i18n.Messages to NewCatalog"})
		}
	}
	if len(ps) > 0 {
		return nil, ps
	}

	c.ids = slices.Sorted(maps.Keys(c.plural))
	tags := make([]language.Tag, len(langs))
	for i, l := range langs {
		tags[i] = l.tag
		loc := &Localizer{tag: l.tag, cat: c, loc: i18n.NewLocalizer(bundle, l.tag.String()), printer: message.NewPrinter(l.tag)}
		var err error
		if loc.datetime, err = loc.T(idDateTime); err != nil {
			return nil, fmt.Errorf("new catalog: %w", err)
		}
		if loc.date, err = loc.T(idDate); err != nil {
			return nil, fmt.Errorf("new catalog: %w", err)
		}
		c.localizers = append(c.localizers, loc)
	}
	c.matcher = language.NewMatcher(tags)
	return c, nil
}

// CheckSource checks one source alone, as NewCatalog does: both files present and well
// formed, the same ids in both languages, the plural forms each language needs, templates that
// parse and translations that use only the arguments of the English text. It does not need
// Messages and cannot see ids that other sources define too. Each page package's tests call
// it on the package's Source. The error is [Problems].
func CheckSource(src Source) error {
	if _, ps := loadSource(0, src); len(ps) > 0 {
		return ps
	}
	return nil
}

// IDs returns every message id, sorted. The slice is the caller's.
func (c *Catalog) IDs() []string {
	return slices.Clone(c.ids)
}

// Match picks the language: a supported cookie value ("en"/"de", in any case) wins, then
// Accept-Language (q-values honoured; "de-CH" is German), then English. A malformed header is
// ignored as a whole. The result is always one of Languages.
func (c *Catalog) Match(cookie, acceptLanguage string) language.Tag {
	for _, l := range langs {
		if strings.EqualFold(cookie, l.tag.String()) {
			return l.tag
		}
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return langs[0].tag
	}
	_, i, confidence := c.matcher.Match(tags...)
	if confidence == language.No {
		return langs[0].tag
	}
	return langs[i].tag
}

// Localizer returns the localizer for one of Languages, or for a tag of the same base language
// (de-CH: German); any other tag gets English.
func (c *Catalog) Localizer(tag language.Tag) *Localizer {
	for _, l := range c.localizers {
		if l.tag == tag {
			return l
		}
	}
	if base, confidence := tag.Base(); confidence == language.Exact {
		for _, l := range c.localizers {
			if b, _ := l.tag.Base(); b == base {
				return l
			}
		}
	}
	return c.localizers[0]
}
