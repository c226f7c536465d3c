package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DefaultFiles are read when no --config flag is given; the second only when it exists.
var DefaultFiles = []string{"app-config.yaml", "app-config.local.yaml"}

// EnvPrefix starts the names of environment variables that override single keys.
const EnvPrefix = "APP_CONFIG_"

// yamlLine finds the line number at the start of a YAML parser error.
var yamlLine = regexp.MustCompile(`^line (\d+): `)

// maxIncludeDepth bounds $include chains, which also stops include cycles.
const maxIncludeDepth = 16

// Tree is the effective configuration: every layer merged, substitutions done, nulls pruned.
type Tree struct {
	// Files are the configuration files that were read, in priority order (last wins).
	Files []string
	root  *Node
}

// Root returns the top-level object (never nil).
func (t *Tree) Root() *Node { return t.root }

// Load reads the given files (or [DefaultFiles] when there are none), applies substitutions
// from environ (os.Environ's "NAME=value" form) and the APP_CONFIG_ overrides, and merges
// the layers. Problems in any file are all reported, as [Problems].
func Load(files []string, environ []string) (*Tree, error) {
	env := envMap(environ)
	if len(files) == 0 {
		files = []string{DefaultFiles[0]}
		if _, err := os.Stat(DefaultFiles[1]); err == nil {
			files = append(files, DefaultFiles[1])
		}
	}
	l := &loader{env: env}
	var root *Node
	for _, f := range files {
		n := l.file(f)
		if n == nil {
			continue
		}
		if n.Kind != MapKind {
			l.problem(n.Pos, "", "the file must hold an object of top-level keys, got "+n.describe())
			continue
		}
		root = merge(root, n)
	}
	root = merge(root, envOverrides(environ, &l.problems))
	if len(l.problems) > 0 {
		return nil, l.problems
	}
	if root != nil {
		root = prune(root)
	}
	if root == nil {
		root = newMap(Pos{File: files[0]})
	}
	return &Tree{Files: files, root: root}, nil
}

type loader struct {
	env      map[string]string
	problems Problems
	depth    int
}

func (l *loader) problem(pos Pos, path, msg string) {
	l.problems = append(l.problems, Problem{Pos: pos, Path: path, Message: msg})
}

// file parses one YAML or JSON file into a node, with substitutions applied.
func (l *loader) file(name string) *Node {
	data, err := os.ReadFile(name)
	if err != nil {
		msg := "cannot read the file: " + errors.Unwrap(err).Error()
		if errors.Is(err, os.ErrNotExist) {
			msg = "file not found; create it or pass the file to read with --config FILE"
		}
		l.problem(Pos{File: name}, "", msg)
		return nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		pos, msg := Pos{File: name}, strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			pos.Line, _ = strconv.Atoi(m[1])
			msg = strings.TrimPrefix(msg, m[0])
		}
		l.problem(pos, "", "not valid YAML: "+msg)
		return nil
	}
	if len(doc.Content) == 0 {
		return newMap(Pos{File: name, Line: 1})
	}
	n, _ := l.convert(doc.Content[0], name, "")
	return n
}

// convert turns a yaml.Node into a Node. ok is false when the value is absent (an unset
// variable), so that the key is dropped and a lower layer applies.
func (l *loader) convert(y *yaml.Node, file, path string) (n *Node, ok bool) {
	pos := Pos{File: file, Line: y.Line}
	switch y.Kind {
	case yaml.DocumentNode:
		return l.convert(y.Content[0], file, path)
	case yaml.AliasNode:
		return l.convert(y.Alias, file, path)
	case yaml.SequenceNode:
		out := &Node{Kind: SeqKind, Pos: pos}
		for i, c := range y.Content {
			if item, ok := l.convert(c, file, fmt.Sprintf("%s[%d]", path, i)); ok {
				out.Items = append(out.Items, item)
			}
		}
		return out, true
	case yaml.MappingNode:
		if len(y.Content) == 2 && strings.HasPrefix(y.Content[0].Value, "$") && y.Content[0].Value != "$" {
			return l.directive(y.Content[0].Value, y.Content[1], file, path)
		}
		out := newMap(pos)
		for i := 0; i+1 < len(y.Content); i += 2 {
			k, v := y.Content[i], y.Content[i+1]
			if k.Value == "<<" && k.Tag == "!!merge" {
				if m, ok := l.convert(v, file, path); ok && m.Kind == MapKind {
					for _, mk := range m.keys {
						if _, exists := out.children[mk]; !exists {
							out.set(mk, m.children[mk])
						}
					}
				}
				continue
			}
			child, ok := l.convert(v, file, join(path, k.Value))
			if !ok {
				continue
			}
			child.Pos = Pos{File: file, Line: k.Line}
			out.set(k.Value, child)
		}
		return out, true
	}
	// Scalars.
	tag := y.ShortTag()
	switch tag {
	case "!!null":
		return &Node{Kind: NullKind, Pos: pos}, true
	case "!!int", "!!float", "!!bool":
		return &Node{Kind: ScalarKind, Pos: pos, Tag: tag, Value: y.Value}, true
	}
	s, ok, err := substitute(y.Value, l.env)
	if err != nil {
		l.problem(pos, path, err.Error())
		return nil, false
	}
	if !ok {
		return nil, false
	}
	return &Node{Kind: ScalarKind, Pos: pos, Tag: "!!str", Value: s}, true
}

// directive resolves {$env: NAME}, {$file: path} and {$include: path#dot.path}.
func (l *loader) directive(name string, arg *yaml.Node, file, path string) (*Node, bool) {
	pos := Pos{File: file, Line: arg.Line}
	if arg.Kind != yaml.ScalarNode || arg.ShortTag() != "!!str" {
		l.problem(pos, path, name+" needs a string argument")
		return nil, false
	}
	ref, ok, err := substitute(arg.Value, l.env)
	if err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("%s refers to an unset variable", name)
		}
		l.problem(pos, path, err.Error())
		return nil, false
	}
	rel := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(filepath.Dir(file), p)
	}
	switch name {
	case "$env":
		v, set := l.env[ref]
		if !set {
			return nil, false
		}
		return &Node{Kind: ScalarKind, Pos: pos, Tag: "!!str", Value: v}, true
	case "$file":
		data, err := os.ReadFile(rel(ref))
		if err != nil {
			l.problem(pos, path, fmt.Sprintf("$file: cannot read %s: %v", ref, errors.Unwrap(err)))
			return nil, false
		}
		s := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
		return &Node{Kind: ScalarKind, Pos: pos, Tag: "!!str", Value: s}, true
	case "$include":
		target, sub, _ := strings.Cut(ref, "#")
		if l.depth >= maxIncludeDepth {
			l.problem(pos, path, "$include: too deeply nested (a cycle?) at "+target)
			return nil, false
		}
		l.depth++
		n := l.file(rel(target))
		l.depth--
		if n == nil {
			l.problems[len(l.problems)-1].Message += fmt.Sprintf(" (included from %s)", pos)
			return nil, false
		}
		if sub != "" {
			found := n.Lookup(sub)
			if found == nil {
				l.problem(pos, path, fmt.Sprintf("$include: %s has no key %q", target, sub))
				return nil, false
			}
			n = found
		}
		return n, true
	}
	l.problem(pos, path, fmt.Sprintf("unknown directive %q; use $env, $file or $include (write $$ for a literal $ in a string)", name))
	return nil, false
}

// substitute replaces ${VAR} and ${VAR:-default}; $${ is a literal ${. ok is false when a
// variable without a default is unset, which makes the whole value absent.
func substitute(s string, env map[string]string) (out string, ok bool, err error) {
	if !strings.Contains(s, "${") {
		return s, true, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), true, nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", false, fmt.Errorf("unclosed ${ in %q; write $${ for a literal ${", s)
		}
		expr := s[i+2 : i+end]
		s = s[i+end+1:]
		name, def, hasDef := strings.Cut(expr, ":-")
		name = strings.TrimSpace(name)
		if name == "" {
			return "", false, fmt.Errorf("empty variable name in ${%s}", expr)
		}
		v, set := env[name]
		switch {
		case set && (v != "" || !hasDef):
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		default:
			return "", false, nil
		}
	}
}

// envOverrides builds the APP_CONFIG_ layer: APP_CONFIG_a_b_c=value sets a.b.c to the JSON
// value, or to the string when it is not JSON.
func envOverrides(environ []string, problems *Problems) *Node {
	var root *Node
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		pos := Pos{File: "env " + name}
		keys := strings.Split(strings.TrimPrefix(name, EnvPrefix), "_")
		valid := true
		for _, k := range keys {
			if k == "" {
				valid = false
			}
		}
		if !valid {
			*problems = append(*problems, Problem{Pos: pos, Message: "empty key in the variable name; use APP_CONFIG_section_key=value"})
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(val), &v); err != nil {
			v = val
		}
		n := fromPlain(v, pos)
		for i := len(keys) - 1; i >= 0; i-- {
			m := newMap(pos)
			m.set(keys[i], n)
			n = m
		}
		root = merge(root, n)
	}
	return root
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	if key == "" {
		return path
	}
	if strings.HasPrefix(key, "[") { // a list index: x[1], not x.[1]
		return path + key
	}
	return path + "." + key
}
