package console

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"text/template/parse"
	"time"

	"github.com/stagebus/stagebus/console/i18n"
)

// layoutFiles hold the layout every page is rendered in.
//
//go:embed templates/layout.html
var layoutFiles embed.FS

// renderer holds every page's template set, one per language, parsed at start-up.
type renderer struct {
	pages map[string]map[string]*template.Template // page -> language -> set
}

// placeholderFuncs declare the template functions for parsing; each language's clone binds
// the real ones.
func placeholderFuncs(a *assets) template.FuncMap {
	return funcs(nil, a)
}

// funcs are the template functions for one language (loc nil: placeholders for parsing).
func funcs(loc *i18n.Localizer, a *assets) template.FuncMap {
	return template.FuncMap{
		"t":        func(id string, args ...any) (string, error) { return loc.T(id, args...) },
		"num":      func(v any) string { return loc.Number(v) },
		"datetime": func(t time.Time) string { return loc.Time(t) },
		"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"asset":    a.path,
		"path":     url.PathEscape,
	}
}

// newRenderer parses the layout with each section's pages and checks that every message a
// template names exists.
func newRenderer(catalog *i18n.Catalog, a *assets, sections []Section) (*renderer, error) {
	base, err := template.New("").Option("missingkey=error").Funcs(placeholderFuncs(a)).ParseFS(layoutFiles, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("layout: %w", err)
	}
	known := map[string]bool{}
	for _, id := range catalog.IDs() {
		known[id] = true
	}
	r := &renderer{pages: map[string]map[string]*template.Template{}}
	for _, s := range sections {
		files, err := fs.Glob(s.Templates, "*.html")
		if err != nil {
			return nil, fmt.Errorf("section %s: %w", s.Name, err)
		}
		for _, f := range files {
			set, err := template.Must(base.Clone()).ParseFS(s.Templates, f)
			if err != nil {
				return nil, fmt.Errorf("section %s: %w", s.Name, err)
			}
			if err := checkMessages(set, known); err != nil {
				return nil, fmt.Errorf("section %s, %s: %w", s.Name, f, err)
			}
			name := s.Name + "/" + strings.TrimSuffix(path.Base(f), ".html")
			r.pages[name] = map[string]*template.Template{}
			for _, lang := range i18n.Languages {
				clone, err := set.Clone()
				if err != nil {
					return nil, err
				}
				r.pages[name][lang.String()] = clone.Funcs(funcs(catalog.Localizer(lang), a))
			}
		}
	}
	return r, nil
}

// execute runs template name of page in lang.
func (r *renderer) execute(w io.Writer, lang, page, name string, data any) error {
	sets, ok := r.pages[page]
	if !ok {
		return fmt.Errorf("console: no page %q", page)
	}
	set := sets[lang]
	if set == nil {
		set = sets[i18n.Languages[0].String()]
	}
	return set.ExecuteTemplate(w, name, data)
}

// checkMessages finds every call of t with a literal id in the set's templates and requires
// the id to exist. Ids built at run time are checked when a page renders (t fails).
func checkMessages(set *template.Template, known map[string]bool) error {
	var missing []string
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			if len(n.Args) >= 2 {
				if id, ok := n.Args[0].(*parse.IdentifierNode); ok && id.Ident == "t" {
					if s, ok := n.Args[1].(*parse.StringNode); ok && !known[s.Text] {
						missing = append(missing, s.Text)
					}
				}
			}
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		}
	}
	for _, t := range set.Templates() {
		if t.Tree != nil {
			walk(t.Tree.Root)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("messages missing from the catalogs: %s", strings.Join(missing, ", "))
	}
	return nil
}
