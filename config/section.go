package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.uber.org/fx"
)

// Section declares that a module owns the configuration at a dot-separated key path and
// decodes it into a value of one Go type. Sections must not overlap.
type Section struct {
	path string
	typ  reflect.Type
}

// NewSection returns the section for path decoded into a T.
func NewSection[T any](path string) Section {
	return Section{path: path, typ: reflect.TypeFor[T]()}
}

// Path returns the key path the section owns.
func (s Section) Path() string { return s.path }

// Type returns the Go type the section decodes into.
func (s Section) Type() reflect.Type { return s.typ }

// Provide registers T as the owner of path and provides the decoded T to the fx graph. It
// is how a module declares its configuration:
//
//	var Module = fx.Module("httpserver", config.Provide[Config]("backend.listen"), …)
func Provide[T any](path string) fx.Option {
	return fx.Options(
		fx.Provide(fx.Annotate(
			func() Section { return NewSection[T](path) },
			fx.ResultTags(`group:"config.sections"`),
		)),
		fx.Provide(func(c *Config) T { return Get[T](c, path) }),
	)
}

// Config is the decoded configuration: the merged tree and a typed value per section.
type Config struct {
	tree     *Tree
	sections []Section
	values   map[string]reflect.Value
	warnings []string
}

// Params are the inputs of [New] in an fx graph.
type Params struct {
	fx.In
	Tree     *Tree
	Sections []Section `group:"config.sections"`
}

// New decodes every section of the tree; see [Decode].
func New(p Params) (*Config, error) { return Decode(p.Tree, p.Sections...) }

// Decode decodes each section from the tree and checks the keys around them. It returns
// every problem at once, as [Problems]. Top-level keys that no section owns are warnings.
func Decode(tree *Tree, sections ...Section) (*Config, error) {
	sections = append([]Section(nil), sections...)
	sort.Slice(sections, func(i, j int) bool { return sections[i].path < sections[j].path })
	for i := 1; i < len(sections); i++ {
		a, b := sections[i-1].path, sections[i].path
		if a == b || strings.HasPrefix(b, a+".") {
			return nil, fmt.Errorf("config sections overlap: %q and %q are both owned", a, b)
		}
	}
	c := &Config{tree: tree, sections: sections, values: map[string]reflect.Value{}}
	d := &decoder{}
	for _, s := range sections {
		v := fresh(s.typ).Elem()
		if n := tree.root.Lookup(s.path); n != nil {
			d.decode(n, v, s.path)
		} else {
			d.validate(nil, v, s.path)
		}
		c.values[s.path] = v
	}
	c.checkUnowned(tree.root, "", d)
	if len(d.problems) > 0 {
		return nil, d.problems.sorted()
	}
	return c, nil
}

// checkUnowned walks the keys above and beside the sections: a key inside an owned area that
// no section knows is a problem; an unowned top-level key is a warning.
func (c *Config) checkUnowned(n *Node, path string, d *decoder) {
	for _, k := range n.keys {
		p := join(path, k)
		switch {
		case c.owner(p) != nil:
			continue
		case len(c.below(p)) > 0:
			child := n.children[k]
			if child.Kind != MapKind {
				d.add(child.Pos, p, "expected an object, got %s", child.describe())
				continue
			}
			c.checkUnowned(child, p, d)
		case path == "":
			c.warnings = append(c.warnings, fmt.Sprintf("%s: top-level key %q is not used by any Stagebus module; it is ignored", n.children[k].Pos, k))
		default:
			d.problems = append(d.problems, unknownKey(n.children[k].Pos, path, k, c.below(path)))
		}
	}
}

// owner returns the section that owns path exactly or from above, or nil.
func (c *Config) owner(path string) *Section {
	for i, s := range c.sections {
		if s.path == path || strings.HasPrefix(path, s.path+".") {
			return &c.sections[i]
		}
	}
	return nil
}

// below lists the next key segments under path that lead to sections.
func (c *Config) below(path string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range c.sections {
		rest, ok := strings.CutPrefix(s.path, path+".")
		if path == "" {
			rest, ok = s.path, true
		}
		if !ok {
			continue
		}
		next, _, _ := strings.Cut(rest, ".")
		if !seen[next] {
			seen[next] = true
			out = append(out, next)
		}
	}
	return out
}

// Get returns the decoded value of the section at path. It panics when no section of type T
// was decoded there, which is a wiring mistake, not a configuration problem.
func Get[T any](c *Config, path string) T {
	v, ok := c.values[path]
	if !ok {
		panic(fmt.Sprintf("config: no section registered at %q", path))
	}
	return v.Interface().(T)
}

// Warnings returns the non-fatal findings, such as top-level keys no module uses.
func (c *Config) Warnings() []string { return c.warnings }

// Tree returns the merged tree the configuration was decoded from.
func (c *Config) Tree() *Tree { return c.tree }

// Module provides the decoded *Config from the *Tree the command supplies, and owns
// auth.environment.
var Module = fx.Module("config",
	fx.Provide(New),
	Provide[Environment](EnvironmentPath),
)
