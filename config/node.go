package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Kind is the shape of a [Node].
type Kind int

// The kinds of configuration nodes.
const (
	// NullKind is an explicit null: the key is unset and hides lower layers.
	NullKind Kind = iota
	ScalarKind
	MapKind
	SeqKind
)

// Pos says where a value came from: a file and line, or an environment variable.
type Pos struct {
	File string
	Line int
}

// String formats the position as "file:line", or the file alone when the line is unknown.
func (p Pos) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return p.File
}

// Node is one value of the configuration tree. Scalars keep their YAML tag (!!str, !!int,
// !!float, !!bool) so that decoding can tell the string "1" from the number 1.
type Node struct {
	Kind  Kind
	Pos   Pos
	Tag   string
	Value string

	keys     []string
	children map[string]*Node
	Items    []*Node
}

func newMap(pos Pos) *Node {
	return &Node{Kind: MapKind, Pos: pos, children: map[string]*Node{}}
}

// Keys returns the keys of a map node in the order they were written.
func (n *Node) Keys() []string { return n.keys }

// Get returns the child at key, or nil.
func (n *Node) Get(key string) *Node {
	if n == nil || n.Kind != MapKind {
		return nil
	}
	return n.children[key]
}

// Lookup returns the node at a dot-separated path, or nil.
func (n *Node) Lookup(path string) *Node {
	if path == "" {
		return n
	}
	cur := n
	for _, k := range strings.Split(path, ".") {
		cur = cur.Get(k)
		if cur == nil {
			return nil
		}
	}
	return cur
}

// set adds or replaces a child, keeping the first position of the key.
func (n *Node) set(key string, child *Node) {
	if _, ok := n.children[key]; !ok {
		n.keys = append(n.keys, key)
	}
	n.children[key] = child
}

// describe names the kind of value for error messages.
func (n *Node) describe() string {
	switch n.Kind {
	case NullKind:
		return "null"
	case MapKind:
		return "an object"
	case SeqKind:
		return "a list"
	}
	switch n.Tag {
	case "!!int", "!!float":
		return "the number " + n.Value
	case "!!bool":
		return "the boolean " + n.Value
	}
	return fmt.Sprintf("the string %q", n.Value)
}

// merge lays over on top of base: objects merge key by key, anything else replaces, and an
// explicit null replaces too (pruned later, so the key ends up absent).
func merge(base, over *Node) *Node {
	if base == nil {
		return over
	}
	if over == nil {
		return base
	}
	if base.Kind != MapKind || over.Kind != MapKind {
		return over
	}
	out := newMap(base.Pos)
	for _, k := range base.keys {
		out.set(k, base.children[k])
	}
	for _, k := range over.keys {
		out.set(k, merge(out.children[k], over.children[k]))
	}
	return out
}

// prune drops explicit nulls (and objects left empty by them) so that an unset key is absent.
func prune(n *Node) *Node {
	switch n.Kind {
	case NullKind:
		return nil
	case MapKind:
		out := newMap(n.Pos)
		for _, k := range n.keys {
			if c := prune(n.children[k]); c != nil {
				out.set(k, c)
			}
		}
		if len(out.keys) == 0 && len(n.keys) > 0 {
			return nil
		}
		return out
	case SeqKind:
		out := &Node{Kind: SeqKind, Pos: n.Pos}
		for _, it := range n.Items {
			if c := prune(it); c != nil {
				out.Items = append(out.Items, c)
			}
		}
		return out
	}
	return n
}

// plain converts the node to Go values: map[string]any, []any, string, int64, float64, bool.
func (n *Node) plain() any {
	switch n.Kind {
	case MapKind:
		m := make(map[string]any, len(n.keys))
		for _, k := range n.keys {
			m[k] = n.children[k].plain()
		}
		return m
	case SeqKind:
		s := make([]any, 0, len(n.Items))
		for _, it := range n.Items {
			s = append(s, it.plain())
		}
		return s
	case NullKind:
		return nil
	}
	v, _ := scalarValue(n)
	return v
}

// fromPlain builds a node from JSON-like Go values (used for environment overrides).
func fromPlain(v any, pos Pos) *Node {
	switch t := v.(type) {
	case nil:
		return &Node{Kind: NullKind, Pos: pos}
	case map[string]any:
		n := newMap(pos)
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			n.set(k, fromPlain(t[k], pos))
		}
		return n
	case []any:
		n := &Node{Kind: SeqKind, Pos: pos}
		for _, it := range t {
			n.Items = append(n.Items, fromPlain(it, pos))
		}
		return n
	case bool:
		return &Node{Kind: ScalarKind, Pos: pos, Tag: "!!bool", Value: fmt.Sprint(t)}
	case float64:
		if t == float64(int64(t)) {
			return &Node{Kind: ScalarKind, Pos: pos, Tag: "!!int", Value: fmt.Sprint(int64(t))}
		}
		return &Node{Kind: ScalarKind, Pos: pos, Tag: "!!float", Value: fmt.Sprint(t)}
	default:
		return &Node{Kind: ScalarKind, Pos: pos, Tag: "!!str", Value: fmt.Sprint(t)}
	}
}

// scalarValue converts a scalar to int64, float64, bool or string according to its tag.
func scalarValue(n *Node) (any, error) {
	switch n.Tag {
	case "!!int":
		return strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	case "!!float":
		return strconv.ParseFloat(n.Value, 64)
	case "!!bool":
		return strconv.ParseBool(n.Value)
	}
	return n.Value, nil
}
