package i18n

import (
	"cmp"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
)

// lang is a language the console ships: its message file and the CLDR plural forms that
// go-i18n's rules for it select, which are the forms each of its plural messages must have.
type lang struct {
	tag   language.Tag
	file  string
	forms []string
}

// langs is what Languages lists, in the same order; the first is the default. The package
// reads langs, never Languages, which callers could change.
var langs = []lang{
	{tag: language.English, file: "en.yaml", forms: []string{"one", "other"}},
	{tag: language.German, file: "de.yaml", forms: []string{"one", "other"}},
}

// cldrForms are the CLDR plural forms, in CLDR order.
var cldrForms = []string{"zero", "one", "two", "few", "many", "other"}

// The ids of the layouts that Localizer.Time and Localizer.Date use, from Messages.
const (
	idDateTime = "format.datetime"
	idDate     = "format.date"
)

// entry is one message in one language.
type entry struct {
	line   int
	plural bool              // written as a map of plural forms
	forms  map[string]string // by plural form; a plain string is the form "other"
	fields map[string]bool   // the arguments its templates use ({{.Name}})
}

// file is one language's message file of a source.
type file struct {
	name    string
	entries map[string]*entry
}

// source is a loaded Source, whether or not it has problems.
type source struct {
	name  string
	files []file   // one per langs, in that order
	ids   []string // the ids of all files, sorted
}

// first returns the file (index) and entry where id is defined first, in langs order.
func (s *source) first(id string) (int, *entry) {
	for i, f := range s.files {
		if e := f.entries[id]; e != nil {
			return i, e
		}
	}
	return -1, nil
}

// loadSource reads and checks every file of src, and checks that they define the same
// messages. Its problems are in file and line order.
func loadSource(index int, src Source) (*source, Problems) {
	s := &source{name: src.Name}
	if s.name == "" {
		s.name = "source " + strconv.Itoa(index)
	}
	if src.FS == nil {
		return s, Problems{{Source: s.name, Message: "no FS"}}
	}
	var ps Problems
	ids := map[string]bool{}
	for _, l := range langs {
		f, fps := loadFile(s.name, src.FS, l)
		ps = append(ps, fps...)
		s.files = append(s.files, f)
		for id := range f.entries {
			ids[id] = true
		}
	}
	s.ids = slices.Sorted(maps.Keys(ids))
	ps = append(ps, s.compare()...)
	fileIndex := func(name string) int {
		return slices.IndexFunc(langs, func(l lang) bool { return l.file == name })
	}
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(fileIndex(a.File), fileIndex(b.File)), cmp.Compare(a.Line, b.Line), strings.Compare(a.ID, b.ID))
	})
	return s, ps
}

// compare reports the ids missing from a language, messages that are plural in one language
// and not in another, and translations that use arguments the default language's text does
// not (most likely a typo, which only a render in that language would reveal).
func (s *source) compare() Problems {
	var ps Problems
	base := s.files[0]
	for _, id := range s.ids {
		fi, first := s.first(id)
		for i, f := range s.files {
			e := f.entries[id]
			switch {
			case e == nil:
				ps = append(ps, Problem{Source: s.name, File: f.name, ID: id,
					Message: fmt.Sprintf("missing (defined in %s:%d)", s.files[fi].name, first.line)})
			case e.plural != first.plural:
				ps = append(ps, Problem{Source: s.name, File: f.name, Line: e.line, ID: id,
					Message: fmt.Sprintf("%s here but %s in %s", kind(e), kind(first), s.files[fi].name)})
			case i > 0 && base.entries[id] != nil:
				for _, name := range slices.Sorted(maps.Keys(e.fields)) {
					if !base.entries[id].fields[name] && (name != "Count" || !e.plural) {
						ps = append(ps, Problem{Source: s.name, File: f.name, Line: e.line, ID: id,
							Message: fmt.Sprintf("uses {{.%s}}, which the text in %s does not", name, base.name)})
					}
				}
			}
		}
	}
	return ps
}

func kind(e *entry) string {
	if e.plural {
		return "a map of plural forms"
	}
	return "a string"
}

// loadFile reads and checks the message file of l in fsys. Entries are kept even when they
// have problems, so that an id is not also reported missing.
func loadFile(sourceName string, fsys fs.FS, l lang) (file, Problems) {
	f := file{name: l.file, entries: map[string]*entry{}}
	var ps Problems
	problem := func(line int, id, format string, args ...any) {
		ps = append(ps, Problem{Source: sourceName, File: l.file, Line: line, ID: id, Message: fmt.Sprintf(format, args...)})
	}
	data, err := fs.ReadFile(fsys, l.file)
	if err != nil {
		problem(0, "", "%v", err)
		return f, ps
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		problem(0, "", "not valid YAML: %v", err)
		return f, ps
	}
	if len(doc.Content) == 0 { // empty, or comments only
		return f, ps
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		problem(root.Line, "", "expected a map from message id to message")
		return f, ps
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		id := k.Value
		if !isString(k) || id == "" || strings.ContainsFunc(id, unicode.IsSpace) {
			problem(k.Line, "", "%q is not a message id (a string without spaces)", id)
			continue
		}
		if prev := f.entries[id]; prev != nil {
			problem(k.Line, id, "defined twice in this file (first at line %d)", prev.line)
			continue
		}
		e := &entry{line: k.Line, forms: map[string]string{}, fields: map[string]bool{}}
		f.entries[id] = e
		texts := map[string]*yaml.Node{} // the forms whose value is a string, to check
		switch {
		case isString(v):
			e.forms["other"] = v.Value
			texts["other"] = v
		case v.Kind == yaml.MappingNode && len(v.Content) > 0 && !hasFormKey(v):
			problem(v.Line, id, "expected a string or a map of plural forms; ids are flat (write %q, not a nested map)", id+"."+v.Content[0].Value+": …")
			continue
		case v.Kind == yaml.MappingNode:
			e.plural = true
			for j := 0; j+1 < len(v.Content); j += 2 {
				fk, fv := v.Content[j], v.Content[j+1]
				form := fk.Value
				if _, dup := e.forms[form]; dup {
					problem(fk.Line, id, "plural form %q given twice", form)
					continue
				}
				if !isString(fk) || !slices.Contains(cldrForms, form) {
					problem(fk.Line, id, "%q is not a CLDR plural form (%s)", form, strings.Join(cldrForms, ", "))
					continue
				}
				e.forms[form] = fv.Value
				if !isString(fv) {
					problem(fv.Line, id, "plural form %q: expected a string%s", form, quoteHint(fv))
					continue
				}
				texts[form] = fv
			}
			for _, need := range l.forms {
				if _, ok := e.forms[need]; !ok {
					problem(k.Line, id, "lacks plural form %q (%s needs %s)", need, l.tag, strings.Join(l.forms, ", "))
				}
			}
			for _, form := range cldrForms {
				if n := texts[form]; n != nil && !slices.Contains(l.forms, form) {
					problem(n.Line, id, "has plural form %q, which %s does not use (it uses %s)", form, l.tag, strings.Join(l.forms, ", "))
				}
			}
		default:
			problem(v.Line, id, "expected a string or a map of plural forms%s", quoteHint(v))
			continue
		}
		for _, form := range cldrForms {
			n := texts[form]
			if n == nil {
				continue
			}
			label := ""
			if e.plural {
				label = "plural form " + strconv.Quote(form) + ": "
			}
			if n.Value == "" {
				problem(n.Line, id, "%sempty message", label)
				continue
			}
			t, err := template.New(id).Option("missingkey=error").Parse(n.Value)
			if err != nil {
				problem(n.Line, id, "%sdoes not parse: %v", label, err)
				continue
			}
			if t.Tree != nil {
				addFields(t.Root, e.fields)
			}
		}
		if (id == idDateTime || id == idDate) && !e.plural && texts["other"] != nil {
			if err := checkLayout(e.forms["other"], id == idDate); err != nil {
				problem(texts["other"].Line, id, "%v", err)
			}
		}
	}
	return f, ps
}

// isString reports whether n is a string scalar (quoted, or plain but not a number, bool or null).
func isString(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str"
}

// hasFormKey reports whether the map n has a key that names a CLDR plural form.
func hasFormKey(n *yaml.Node) bool {
	for i := 0; i < len(n.Content); i += 2 {
		if k := n.Content[i]; isString(k) && slices.Contains(cldrForms, k.Value) {
			return true
		}
	}
	return false
}

// quoteHint suggests quoting a scalar that YAML reads as something other than a string.
func quoteHint(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return fmt.Sprintf(" (quote %q to make it one)", n.Value)
	}
	return ""
}

// addFields adds the top-level fields of the template data that n uses, {{.Name}} or
// {{$.Name}}, to out. Inside range and with, dot is something else, so only their pipelines
// and else branches count.
func addFields(n parse.Node, out map[string]bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			addFields(c, out)
		}
	case *parse.ActionNode:
		addFields(n.Pipe, out)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			addFields(c, out)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			addFields(a, out)
		}
	case *parse.ChainNode:
		addFields(n.Node, out)
	case *parse.FieldNode:
		out[n.Ident[0]] = true
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			out[n.Ident[1]] = true
		}
	case *parse.IfNode:
		addFields(n.Pipe, out)
		addFields(n.List, out)
		addFields(n.ElseList, out)
	case *parse.RangeNode:
		addFields(n.Pipe, out)
		addFields(n.ElseList, out)
	case *parse.WithNode:
		addFields(n.Pipe, out)
		addFields(n.ElseList, out)
	case *parse.TemplateNode:
		addFields(n.Pipe, out)
	}
}

// layoutProbe has a different value in every field, so a layout that drops or garbles one
// does not read its own output back.
var layoutProbe = time.Date(2031, time.November, 23, 17, 48, 59, 0, time.UTC)

// checkLayout checks that layout is a Go time layout that shows a date and time (or, with
// dateOnly, a date and nothing else) in full.
func checkLayout(layout string, dateOnly bool) error {
	want, what := layoutProbe, "date and time"
	if dateOnly {
		y, m, d := layoutProbe.Date()
		want, what = time.Date(y, m, d, 0, 0, 0, 0, time.UTC), "date"
	}
	shown := layoutProbe.Format(layout)
	got, err := time.Parse(layout, shown)
	if err != nil || !got.Equal(want) {
		return fmt.Errorf("%q is not a Go time layout of a %s (%s shows as %q)", layout, what, layoutProbe.Format(time.DateTime), shown)
	}
	return nil
}
