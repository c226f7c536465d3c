package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Unmarshaler is implemented (on the pointer) by types that decode themselves from a node,
// such as a value that may be written as a string or as a list. An error of type [Problems]
// (from [DecodeNode], with key paths relative to the node) is reported with the node's path
// in front; any other error becomes one problem at the node.
type Unmarshaler interface {
	UnmarshalConfig(n *Node) error
}

// Defaulter is implemented (on the pointer) by types that fill in their defaults before
// decoding. It is called for a section and for every struct created while decoding.
type Defaulter interface {
	SetDefaults()
}

// Validator is implemented by types that check themselves after decoding. The errors it
// returns (errors.Join for several) become problems at the value's key path; a [FieldError]
// points at one key below it.
type Validator interface {
	Validate() error
}

// FieldError is a validation error about one key of the value being validated.
type FieldError struct {
	Key string
	Err error
}

// Error formats the error as "key: message".
func (e *FieldError) Error() string { return e.Key + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// Fieldf returns a [FieldError] for key with a formatted message.
func Fieldf(key, format string, args ...any) error {
	return &FieldError{Key: key, Err: fmt.Errorf(format, args...)}
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[Unmarshaler]()
)

// DecodeNode decodes n into target (a pointer) with the standard rules, for [Unmarshaler]
// implementations that accept the ordinary form besides their own. Problems carry key paths
// relative to n.
func DecodeNode(n *Node, target any) error {
	d := &decoder{}
	d.decode(n, reflect.ValueOf(target).Elem(), "")
	if len(d.problems) > 0 {
		return d.problems
	}
	return nil
}

type decoder struct {
	problems Problems
}

func (d *decoder) add(pos Pos, path, format string, args ...any) {
	d.problems = append(d.problems, Problem{Pos: pos, Path: path, Message: fmt.Sprintf(format, args...)})
}

// decode fills v (settable) from n, then runs its Validate method. Keys absent from n keep
// the value v already has. A struct is validated even when some of its keys had problems
// (those keep their defaults), so that one run reports everything.
func (d *decoder) decode(n *Node, v reflect.Value, path string) {
	before := len(d.problems)
	d.decodeValue(n, v, path)
	if v.Kind() == reflect.Struct || (len(d.problems) == before && v.Kind() != reflect.Pointer) {
		d.validate(n, v, path)
	}
}

func (d *decoder) decodeValue(n *Node, v reflect.Value, path string) {
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		if err := v.Addr().Interface().(Unmarshaler).UnmarshalConfig(n); err != nil {
			var ps Problems
			if errors.As(err, &ps) {
				for _, p := range ps {
					p.Path = join(path, p.Path)
					d.problems = append(d.problems, p)
				}
			} else {
				d.add(n.Pos, path, "%v", err)
			}
		}
		return
	}
	if v.Type() == durationType {
		dur, err := parseDuration(n)
		if err != nil {
			d.add(n.Pos, path, "%v", err)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(fresh(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map:
		if n.Kind != MapKind {
			d.add(n.Pos, path, "expected an object, got %s", n.describe())
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		for _, k := range n.keys {
			item := fresh(v.Type().Elem()).Elem()
			if old := v.MapIndex(reflect.ValueOf(k)); old.IsValid() {
				item.Set(old)
			}
			d.decode(n.children[k], item, join(path, k))
			v.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), item)
		}
	case reflect.Slice:
		if n.Kind != SeqKind {
			d.add(n.Pos, path, "expected a list, got %s", n.describe())
			return
		}
		s := reflect.MakeSlice(v.Type(), 0, len(n.Items))
		for i, it := range n.Items {
			item := fresh(v.Type().Elem()).Elem()
			d.decode(it, item, fmt.Sprintf("%s[%d]", path, i))
			s = reflect.Append(s, item)
		}
		v.Set(s)
	case reflect.Interface:
		v.Set(reflect.ValueOf(n.plain()))
	default:
		d.decodeScalar(n, v, path)
	}
}

// fresh allocates a new value of type t with its defaults applied.
func fresh(t reflect.Type) reflect.Value {
	p := reflect.New(t)
	if df, ok := p.Interface().(Defaulter); ok {
		df.SetDefaults()
	}
	return p
}

func (d *decoder) decodeStruct(n *Node, v reflect.Value, path string) {
	if n.Kind != MapKind {
		d.add(n.Pos, path, "expected an object, got %s", n.describe())
		return
	}
	fields := structFields(v.Type())
	for _, k := range n.keys {
		f, ok := fields[k]
		if !ok {
			d.problems = append(d.problems, unknownKey(n.children[k].Pos, path, k, fieldNames(v.Type())))
			continue
		}
		d.decode(n.children[k], v.FieldByIndex(f.Index), join(path, k))
	}
}

// validate runs the value's Validate method and records what it reports.
func (d *decoder) validate(n *Node, v reflect.Value, path string) {
	var val Validator
	if v.CanAddr() {
		val, _ = v.Addr().Interface().(Validator)
	}
	if val == nil {
		val, _ = v.Interface().(Validator)
	}
	if val == nil {
		return
	}
	for _, err := range flatten(val.Validate()) {
		var fe *FieldError
		pos, p := Pos{}, path
		if n != nil {
			pos = n.Pos
		}
		if errors.As(err, &fe) {
			p = join(path, fe.Key)
			if c := n.Lookup(fe.Key); c != nil {
				pos = c.Pos
			}
			err = fe.Err
		}
		d.add(pos, p, "%v", err)
	}
}

// flatten splits errors.Join trees into their leaves.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func (d *decoder) decodeScalar(n *Node, v reflect.Value, path string) {
	if n.Kind != ScalarKind {
		d.add(n.Pos, path, "expected %s, got %s", kindName(v.Kind()), n.describe())
		return
	}
	switch v.Kind() {
	case reflect.String:
		if n.Tag == "!!bool" {
			d.add(n.Pos, path, "expected a string, got %s; quote it", n.describe())
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if err != nil || (n.Tag != "!!bool" && n.Value != "true" && n.Value != "false") {
			d.add(n.Pos, path, "expected true or false, got %s", n.describe())
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, v.Type().Bits())
		if err != nil || n.Tag == "!!bool" || n.Tag == "!!float" {
			d.add(n.Pos, path, "expected an integer, got %s", n.describe())
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, err := strconv.ParseUint(strings.ReplaceAll(n.Value, "_", ""), 0, v.Type().Bits())
		if err != nil || n.Tag == "!!bool" || n.Tag == "!!float" {
			d.add(n.Pos, path, "expected a non-negative integer, got %s", n.describe())
			return
		}
		v.SetUint(i)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, v.Type().Bits())
		if err != nil || n.Tag == "!!bool" {
			d.add(n.Pos, path, "expected a number, got %s", n.describe())
			return
		}
		v.SetFloat(f)
	default:
		d.add(n.Pos, path, "internal error: cannot decode into %s", v.Type())
	}
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "an integer"
}

// parseDuration accepts Go durations ("90s", "1h30m") with the extra unit "d" for days, or a
// Backstage duration object such as {hours: 1, minutes: 30}.
func parseDuration(n *Node) (time.Duration, error) {
	switch n.Kind {
	case ScalarKind:
		s := strings.TrimSpace(n.Value)
		if days, ok := strings.CutSuffix(s, "d"); ok {
			if f, err := strconv.ParseFloat(days, 64); err == nil && f >= 0 {
				return time.Duration(f * float64(24*time.Hour)), nil
			}
		}
		dur, err := time.ParseDuration(s)
		if err != nil || dur < 0 {
			return 0, fmt.Errorf("expected a duration such as 30s, 5m, 1h or 14d, got %s", n.describe())
		}
		return dur, nil
	case MapKind:
		units := map[string]time.Duration{
			"weeks": 7 * 24 * time.Hour, "days": 24 * time.Hour, "hours": time.Hour,
			"minutes": time.Minute, "seconds": time.Second, "milliseconds": time.Millisecond,
		}
		names := []string{"weeks", "days", "hours", "minutes", "seconds", "milliseconds"}
		var total time.Duration
		for _, k := range n.keys {
			unit, ok := units[k]
			if !ok {
				return 0, unknownKey(n.children[k].Pos, "", k, names)
			}
			c := n.children[k]
			f, err := strconv.ParseFloat(c.Value, 64)
			if c.Kind != ScalarKind || err != nil || f < 0 {
				return 0, fmt.Errorf("%s: expected a non-negative number, got %s", k, c.describe())
			}
			total += time.Duration(f * float64(unit))
		}
		return total, nil
	}
	return 0, fmt.Errorf("expected a duration such as 30s or {minutes: 30}, got %s", n.describe())
}

// structFields maps config key names to struct fields: the yaml tag's name, or the field name
// with a lower-case first letter.
func structFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		if name := fieldName(f); name != "" {
			out[name] = f
		}
	}
	return out
}

func fieldName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		name = strings.ToLower(f.Name[:1]) + f.Name[1:]
	}
	return name
}

func fieldNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if name := fieldName(t.Field(i)); name != "" {
			out = append(out, name)
		}
	}
	return out
}
