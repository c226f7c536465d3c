package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Predicate is a filter predicate, the query language of newer Backstage catalogs
// (@backstage/filter-predicates): an object of field conditions that must all hold, or one of
// the combinators $all, $any and $not. A field condition is a value (equal, case-insensitive;
// for an array field, one of its elements), {"$in": [values]}, {"$exists": bool},
// {"$hasPrefix": "text"} or {"$contains": value} (an array field has the element).
//
// Exactly one of the groups of fields is set: All, Any, Not, or Key with its condition.
type Predicate struct {
	All []Predicate
	Any []Predicate
	Not *Predicate
	// Key is the field's dot path (spec.type), lower-cased.
	Key string
	// Values are the accepted values (lower-cased), for equality, $in and $contains.
	Values []string
	// Exists is set for $exists.
	Exists *bool
	// Prefix is set for $hasPrefix (lower-cased).
	Prefix *string
}

// ErrPredicate reports a filter predicate that cannot be parsed.
var ErrPredicate = errors.New("invalid filter predicate")

// Bounds of a filter predicate, so that one request cannot build a statement the database
// refuses or takes long to plan.
const (
	maxPredicateDepth = 16
	maxPredicateTerms = 1000
)

// ParsePredicate parses a filter predicate from JSON: at most 16 levels of nesting, and 1000
// conditions and values in all.
func ParsePredicate(raw json.RawMessage) (Predicate, error) {
	var pp predicateParser
	p, err := pp.parse(raw, "query", 0)
	if err != nil {
		return Predicate{}, fmt.Errorf("%w: %w", ErrPredicate, err)
	}
	return p, nil
}

// predicateParser counts the terms of the predicate it parses.
type predicateParser struct {
	terms int
}

// count adds n terms, failing past the bound.
func (pp *predicateParser) count(n int) error {
	if pp.terms += n; pp.terms > maxPredicateTerms {
		return fmt.Errorf("more than %d conditions and values", maxPredicateTerms)
	}
	return nil
}

func (pp *predicateParser) parse(raw json.RawMessage, at string, depth int) (Predicate, error) {
	if depth > maxPredicateDepth {
		return Predicate{}, fmt.Errorf("%s: nested more than %d levels deep", at, maxPredicateDepth)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return Predicate{}, fmt.Errorf("%s must be an object", at)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, op := range []string{"$all", "$any", "$not"} {
		v, ok := obj[op]
		if !ok {
			continue
		}
		if len(obj) != 1 {
			return Predicate{}, fmt.Errorf("%s: %s must be the only key of its object; wrap the conditions in $all to combine them", at, op)
		}
		if op == "$not" {
			inner, err := pp.parse(v, at+".$not", depth+1)
			return Predicate{Not: &inner}, err
		}
		var list []json.RawMessage
		if err := json.Unmarshal(v, &list); err != nil {
			return Predicate{}, fmt.Errorf("%s.%s must be an array of predicates", at, op)
		}
		ps := make([]Predicate, len(list))
		for i, item := range list {
			var err error
			if ps[i], err = pp.parse(item, fmt.Sprintf("%s.%s[%d]", at, op, i), depth+1); err != nil {
				return Predicate{}, err
			}
		}
		if op == "$all" {
			return Predicate{All: ps}, nil
		}
		return Predicate{Any: ps}, nil
	}
	all := make([]Predicate, 0, len(keys))
	for _, k := range keys {
		if k == "" || strings.HasPrefix(k, "$") {
			return Predicate{}, fmt.Errorf("%s: unknown operator %q; use $all, $any or $not, or a field path", at, k)
		}
		c, err := parseCondition(obj[k], at+"."+k)
		if err == nil {
			err = pp.count(1 + len(c.Values))
		}
		if err != nil {
			return Predicate{}, err
		}
		c.Key = strings.ToLower(k)
		all = append(all, c)
	}
	if len(all) == 1 {
		return all[0], nil
	}
	return Predicate{All: all}, nil
}

// parseCondition parses the condition on one field.
func parseCondition(raw json.RawMessage, at string) (Predicate, error) {
	if v, ok := primitive(raw); ok {
		return Predicate{Values: []string{v}}, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || len(obj) != 1 {
		return Predicate{}, fmt.Errorf("%s must be a string, number or boolean, or one of {$in}, {$exists}, {$hasPrefix}, {$contains}", at)
	}
	var op string
	var v json.RawMessage
	for op, v = range obj { // the one key
	}
	switch op {
	case "$in":
		var list []json.RawMessage
		if err := json.Unmarshal(v, &list); err != nil {
			return Predicate{}, fmt.Errorf("%s.$in must be an array of values", at)
		}
		vals := make([]string, 0, len(list))
		for _, item := range list {
			s, ok := primitive(item)
			if !ok {
				return Predicate{}, fmt.Errorf("%s.$in must be an array of strings, numbers or booleans", at)
			}
			vals = append(vals, s)
		}
		return Predicate{Values: vals}, nil
	case "$exists":
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return Predicate{}, fmt.Errorf("%s.$exists must be true or false", at)
		}
		return Predicate{Exists: &b}, nil
	case "$hasPrefix":
		var p string
		if err := json.Unmarshal(v, &p); err != nil {
			return Predicate{}, fmt.Errorf("%s.$hasPrefix must be a string", at)
		}
		p = strings.ToLower(p)
		return Predicate{Prefix: &p}, nil
	case "$contains":
		s, ok := primitive(v)
		if !ok {
			return Predicate{}, fmt.Errorf("%s.$contains: only a string, number or boolean element is supported here", at)
		}
		return Predicate{Values: []string{s}}, nil
	}
	return Predicate{}, fmt.Errorf("%s: unknown operator %q; use $in, $exists, $hasPrefix or $contains", at, op)
}

// primitive returns a JSON string, number or boolean as the lower-cased text it is compared
// as.
func primitive(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return strings.ToLower(s), true
	case 't', 'f':
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return "", false
		}
		return strconv.FormatBool(b), true
	}
	var n json.Number
	if (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) || json.Unmarshal(raw, &n) != nil {
		return "", false
	}
	return n.String(), true
}

// predicate builds the SQL condition of a predicate over entities e.
func (b *sqlBuilder) predicate(p Predicate) string {
	join := func(ps []Predicate, op, empty string) string {
		if len(ps) == 0 {
			return empty
		}
		parts := make([]string, len(ps))
		for i, q := range ps {
			parts[i] = b.predicate(q)
		}
		return "(" + strings.Join(parts, " "+op+" ") + ")"
	}
	switch {
	case p.All != nil || (p.Key == "" && p.Any == nil && p.Not == nil):
		return join(p.All, "AND", "1 = 1")
	case p.Any != nil:
		return join(p.Any, "OR", "1 = 0")
	case p.Not != nil:
		return "NOT " + b.predicate(*p.Not)
	case p.Exists != nil:
		c := b.condition(Condition{Key: p.Key})
		if !*p.Exists {
			return "NOT (" + c + ")"
		}
		return c
	case p.Prefix != nil:
		return b.prefix(p.Key, likeEscape(*p.Prefix)+"%")
	case len(p.Values) == 0: // {"$in": []}: no value to match
		return "1 = 0"
	}
	return "(" + b.condition(Condition{Key: p.Key, Values: p.Values}) + ")"
}

// prefix builds the condition that a field (a ref column, a relation, or a searchable field)
// has a value matching the LIKE pattern like.
func (b *sqlBuilder) prefix(key, like string) string {
	if col, ok := refColumns[key]; ok {
		return col + " LIKE " + b.args.Add(like) + ` ESCAPE '\'`
	}
	if rel, ok := strings.CutPrefix(key, "relations."); ok {
		t := canonicalRelation[rel]
		if t == "" {
			return "1 = 0"
		}
		return fmt.Sprintf(`(EXISTS (SELECT 1 FROM catalog_relations r WHERE r.source_ref = e.entity_ref AND r.type = %s AND r.target_ref LIKE %s ESCAPE '\')`+
			` OR EXISTS (SELECT 1 FROM catalog_relations r WHERE r.target_ref = e.entity_ref AND r.type = %s AND r.source_ref LIKE %s ESCAPE '\'))`,
			b.args.Add(t), b.args.Add(like), b.args.Add(inverse[t]), b.args.Add(like))
	}
	return "e.entity_ref IN (SELECT s.entity_ref FROM catalog_search s WHERE s.key = " + b.args.Add(key) + " AND s.value LIKE " + b.args.Add(like) + ` ESCAPE '\')`
}

// Matches evaluates the predicate over flat fields (lower-cased keys), as the location routes
// filter locations.
func (p Predicate) Matches(fields map[string]string) bool {
	switch {
	case p.All != nil || (p.Key == "" && p.Any == nil && p.Not == nil):
		for _, q := range p.All {
			if !q.Matches(fields) {
				return false
			}
		}
		return true
	case p.Any != nil:
		for _, q := range p.Any {
			if q.Matches(fields) {
				return true
			}
		}
		return false
	case p.Not != nil:
		return !p.Not.Matches(fields)
	}
	v, ok := fields[p.Key]
	switch {
	case p.Exists != nil:
		return ok == *p.Exists
	case !ok:
		return false
	case p.Prefix != nil:
		return strings.HasPrefix(strings.ToLower(v), *p.Prefix)
	}
	for _, want := range p.Values {
		if strings.EqualFold(v, want) {
			return true
		}
	}
	return false
}

// Keys returns every field key the predicate tests.
func (p Predicate) Keys() []string {
	var out []string
	for _, q := range append(append([]Predicate(nil), p.All...), p.Any...) {
		out = append(out, q.Keys()...)
	}
	if p.Not != nil {
		out = append(out, p.Not.Keys()...)
	}
	if p.Key != "" {
		out = append(out, p.Key)
	}
	return out
}
