package config

import (
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var secretType = reflect.TypeFor[Secret]()

// Redacter is implemented by values that print themselves with their secrets removed, such as
// a connection string whose password is replaced: RedactedConfig returns a plain value
// (string, number, bool, map[string]any or []any).
type Redacter interface {
	RedactedConfig() any
}

// Print writes the effective configuration as YAML: every owned section as decoded (defaults
// included), the keys no module owns as written, and every secret replaced by [Redacted].
func (c *Config) Print(w io.Writer) error {
	out := redactUnowned(c.tree.root)
	for _, s := range c.sections {
		n := encode(c.values[s.path], false)
		if n == nil {
			continue
		}
		setPath(out, s.path, n)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(toYAML(out)); err != nil {
		return err
	}
	return enc.Close()
}

// setPath puts n at a dot path under root, creating objects on the way.
func setPath(root *Node, path string, n *Node) {
	keys := strings.Split(path, ".")
	cur := root
	for _, k := range keys[:len(keys)-1] {
		next := cur.Get(k)
		if next == nil || next.Kind != MapKind {
			next = newMap(Pos{})
			cur.set(k, next)
		}
		cur = next
	}
	cur.set(keys[len(keys)-1], n)
}

// redactUnowned copies the tree, redacting values under keys whose names suggest secrets.
func redactUnowned(n *Node) *Node {
	switch n.Kind {
	case MapKind:
		out := newMap(n.Pos)
		for _, k := range n.keys {
			c := n.children[k]
			if secretKey.MatchString(k) && c.Kind != MapKind {
				out.set(k, scalar(Redacted))
				continue
			}
			out.set(k, redactUnowned(c))
		}
		return out
	case SeqKind:
		out := &Node{Kind: SeqKind, Pos: n.Pos}
		for _, it := range n.Items {
			out.Items = append(out.Items, redactUnowned(it))
		}
		return out
	}
	return n
}

func scalar(s string) *Node { return &Node{Kind: ScalarKind, Tag: "!!str", Value: s} }

// encode turns a decoded value back into a node, redacting secrets. Empty strings, nil and
// empty collections are left out.
func encode(v reflect.Value, secret bool) *Node {
	if !v.IsValid() {
		return nil
	}
	if v.Type() == secretType || (secret && !v.IsZero()) {
		if v.IsZero() {
			return nil
		}
		return scalar(Redacted)
	}
	if v.Type() == durationType {
		return scalar(time.Duration(v.Int()).String())
	}
	if r, ok := v.Interface().(Redacter); ok && !v.IsZero() {
		return fromPlain(r.RedactedConfig(), Pos{})
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return encode(v.Elem(), secret)
	case reflect.Struct:
		out := newMap(Pos{})
		for i := range v.NumField() {
			f := v.Type().Field(i)
			name := fieldName(f)
			if name == "" {
				continue
			}
			if c := encode(v.Field(i), f.Tag.Get("secret") == "true"); c != nil {
				out.set(name, c)
			}
		}
		if len(out.keys) == 0 {
			return nil
		}
		return out
	case reflect.Map:
		if v.Len() == 0 {
			return nil
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		out := newMap(Pos{})
		for _, k := range keys {
			if c := encode(v.MapIndex(k), secret); c != nil {
				out.set(k.String(), c)
			}
		}
		return out
	case reflect.Slice:
		if v.Len() == 0 {
			return nil
		}
		out := &Node{Kind: SeqKind}
		for i := range v.Len() {
			if c := encode(v.Index(i), secret); c != nil {
				out.Items = append(out.Items, c)
			}
		}
		return out
	case reflect.String:
		if v.Len() == 0 {
			return nil
		}
		return scalar(v.String())
	case reflect.Bool:
		return &Node{Kind: ScalarKind, Tag: "!!bool", Value: strconv.FormatBool(v.Bool())}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &Node{Kind: ScalarKind, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10)}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &Node{Kind: ScalarKind, Tag: "!!int", Value: strconv.FormatUint(v.Uint(), 10)}
	case reflect.Float32, reflect.Float64:
		return &Node{Kind: ScalarKind, Tag: "!!float", Value: strconv.FormatFloat(v.Float(), 'g', -1, 64)}
	}
	return nil
}

// toYAML converts a node to a yaml.Node for encoding.
func toYAML(n *Node) *yaml.Node {
	switch n.Kind {
	case MapKind:
		y := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range n.keys {
			y.Content = append(y.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, toYAML(n.children[k]))
		}
		return y
	case SeqKind:
		y := &yaml.Node{Kind: yaml.SequenceNode}
		for _, it := range n.Items {
			y.Content = append(y.Content, toYAML(it))
		}
		return y
	case NullKind:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	}
	if n.Tag != "!!str" {
		return &yaml.Node{Kind: yaml.ScalarNode, Value: n.Value}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: n.Tag, Value: n.Value}
}
