package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/stagebus/stagebus/database"
)

// Condition is one filter condition: the key exists, with one of Values when there are any.
// Keys and values compare case-insensitively.
type Condition struct {
	Key    string
	Values []string
}

// FilterSet is a set of conditions that must all hold.
type FilterSet []Condition

// ParseFilters parses Backstage filter parameters: each parameter is a filter set
// "key=value,key2,key=other" (the sets are ORed; within one, conditions are ANDed, and the
// values given for one key ORed).
func ParseFilters(params []string) ([]FilterSet, error) {
	var out []FilterSet
	for _, p := range params {
		if strings.TrimSpace(p) == "" {
			continue
		}
		index := map[string]int{}
		var set FilterSet
		for _, part := range strings.Split(p, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			key, value, hasValue := strings.Cut(part, "=")
			key = strings.ToLower(strings.TrimSpace(key))
			if key == "" {
				return nil, fmt.Errorf("invalid filter %q: a condition needs a key", p)
			}
			i, ok := index[key]
			if !ok {
				i = len(set)
				index[key] = i
				set = append(set, Condition{Key: key})
			}
			if hasValue {
				set[i].Values = append(set[i].Values, strings.ToLower(strings.TrimSpace(value)))
			}
		}
		if len(set) > 0 {
			out = append(out, set)
		}
	}
	return out, nil
}

// Order sorts by a field.
type Order struct {
	Field string
	Desc  bool
}

// Query selects entities: those matching one of the filter sets (all when there are none)
// and the predicate (when set) and the full-text term (when set).
type Query struct {
	Filters        []FilterSet
	Predicate      *Predicate
	Order          []Order
	FullTextTerm   string
	FullTextFields []string
	Limit, Offset  int
	// After and Before page by keyset (at most one order field, no offset): the entities
	// after After, or the last Limit before Before.
	After, Before *Keyset
	// SkipTotal leaves Page.Total at 0 instead of counting the matches.
	SkipTotal bool
}

// canonicalRelation maps lower-cased relation types to their names.
var canonicalRelation = func() map[string]string {
	m := map[string]string{}
	for t := range inverse {
		m[strings.ToLower(t)] = t
	}
	return m
}()

// sqlBuilder builds the entity filters' SQL, collecting their arguments.
type sqlBuilder struct {
	args database.Args
}

// where builds the WHERE clause of the filter sets and full-text filter over entities e.
func (b *sqlBuilder) where(q Query) string {
	var clauses []string
	if len(q.Filters) > 0 {
		var sets []string
		for _, set := range q.Filters {
			var conds []string
			for _, c := range set {
				conds = append(conds, b.condition(c))
			}
			sets = append(sets, "("+strings.Join(conds, " AND ")+")")
		}
		clauses = append(clauses, "("+strings.Join(sets, " OR ")+")")
	}
	if q.Predicate != nil {
		clauses = append(clauses, b.predicate(*q.Predicate))
	}
	if term := strings.ToLower(strings.TrimSpace(q.FullTextTerm)); term != "" {
		fields := q.FullTextFields
		if len(fields) == 0 {
			fields = []string{"metadata.name", "metadata.title", "spec.profile.displayname"}
		}
		keys := make([]string, len(fields))
		for i, f := range fields {
			keys[i] = b.args.Add(strings.ToLower(f))
		}
		clauses = append(clauses, fmt.Sprintf("EXISTS (SELECT 1 FROM catalog_search s WHERE s.entity_ref = e.entity_ref AND s.key IN (%s) AND s.value LIKE %s ESCAPE '\\')",
			strings.Join(keys, ", "), b.args.Add("%"+likeEscape(term)+"%")))
	}
	if len(clauses) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(clauses, " AND ")
}

// likeEscape escapes s for a LIKE pattern whose escape character is a backslash (write
// ESCAPE '\'), so that % and _ match themselves.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// refColumns are the fields stored as columns of catalog_entities (lower-cased).
var refColumns = map[string]string{"kind": "e.kind", "metadata.namespace": "e.namespace", "metadata.name": "e.name"}

func (b *sqlBuilder) condition(c Condition) string {
	if col, ok := refColumns[c.Key]; ok {
		if len(c.Values) == 0 {
			return "1 = 1" // every entity has these
		}
		return col + " IN (" + b.list(c.Values) + ")"
	}
	if rel, ok := strings.CutPrefix(c.Key, "relations."); ok {
		t := canonicalRelation[rel]
		if t == "" {
			return "1 = 0"
		}
		out := fmt.Sprintf("EXISTS (SELECT 1 FROM catalog_relations r WHERE r.source_ref = e.entity_ref AND r.type = %s", b.args.Add(t))
		in := fmt.Sprintf("EXISTS (SELECT 1 FROM catalog_relations r WHERE r.target_ref = e.entity_ref AND r.type = %s", b.args.Add(inverse[t]))
		if len(c.Values) > 0 {
			out += " AND r.target_ref IN (" + b.list(c.Values) + ")"
			in += " AND r.source_ref IN (" + b.list(c.Values) + ")"
		}
		return "(" + out + ") OR " + in + "))"
	}
	// An IN list of the matching refs lets the planner drive the query from the most
	// selective condition through the (key, value) index.
	q := fmt.Sprintf("e.entity_ref IN (SELECT s.entity_ref FROM catalog_search s WHERE s.key = %s", b.args.Add(c.Key))
	if len(c.Values) > 0 {
		q += " AND s.value IN (" + b.list(c.Values) + ")"
	}
	return q + ")"
}

func (b *sqlBuilder) list(values []string) string {
	ph := make([]string, len(values))
	for i, v := range values {
		ph[i] = b.args.Add(v)
	}
	return strings.Join(ph, ", ")
}

// Keyset is a position in the order of a query with at most one order field: an entity's
// value of that field (lower-cased; nil when it has none) and its ref. Paging by keyset stays
// exact while entities are added and removed, unlike an offset.
type Keyset struct {
	Value *string `json:"v,omitempty"`
	Ref   string  `json:"r"`
}

// Page is what Page returns: the entities, the keyset of each (the first order field's value
// and the ref), how many entities match in all (unless the query skipped the count), and
// whether more follow in the direction read.
type Page struct {
	Entities []Entity
	Keys     []Keyset
	Total    int
	More     bool
}

// Query returns a page of matching entities, with relations, and how many match in all.
func (s *Store) Query(ctx context.Context, q Query) ([]Entity, int, error) {
	p, err := s.Page(ctx, q)
	return p.Entities, p.Total, err
}

// Page returns a page of matching entities in the query's order (each order field's value,
// absent values last, then the ref): Limit of them (all when 0) after Offset, or, with a
// keyset, those after After or the last ones before Before (still returned in order).
func (s *Store) Page(ctx context.Context, q Query) (Page, error) {
	var out Page
	if !q.SkipTotal {
		var b sqlBuilder
		where := b.where(q)
		if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM catalog_entities e"+where, b.args...).Scan(&out.Total); err != nil {
			return Page{}, fmt.Errorf("count entities: %w", err)
		}
	}
	keyset := q.After != nil || q.Before != nil
	if keyset && (len(q.Order) > 1 || q.Offset > 0) {
		return Page{}, errors.New("catalog: keyset paging takes at most one order field and no offset")
	}
	// The page is chosen on refs and sort values alone (indexes only), then the bodies of just
	// that page are read. Each order field's value is the smallest of the entity's values.
	var b sqlBuilder
	cols := []string{"e.entity_ref AS ref"}
	for i, o := range q.Order {
		sx, ok := refColumns[strings.ToLower(o.Field)]
		if !ok {
			sx = "(SELECT MIN(s.value) FROM catalog_search s WHERE s.entity_ref = e.entity_ref AND s.key = " + b.args.Add(strings.ToLower(o.Field)) + ")"
		}
		cols = append(cols, fmt.Sprintf("%s AS sv%d", sx, i))
	}
	inner := "SELECT " + strings.Join(cols, ", ") + " FROM catalog_entities e" + b.where(q)
	reverse := q.Before != nil
	var orderBy []string
	for i, o := range q.Order {
		asc := !o.Desc
		if reverse {
			asc = !asc
		}
		nulls := "NULLS LAST"
		if reverse {
			nulls = "NULLS FIRST"
		}
		orderBy = append(orderBy, fmt.Sprintf("t.sv%d %s %s", i, map[bool]string{true: "ASC", false: "DESC"}[asc], nulls))
	}
	orderBy = append(orderBy, "t.ref "+map[bool]string{true: "DESC", false: "ASC"}[reverse])
	query := "SELECT t.ref"
	if len(q.Order) > 0 {
		query += ", t.sv0"
	} else {
		query += ", NULL"
	}
	query += " FROM (" + inner + ") t"
	if keyset {
		query += " WHERE " + b.keyset(q)
	}
	query += " ORDER BY " + strings.Join(orderBy, ", ")
	if q.Limit > 0 {
		query += " LIMIT " + b.args.Add(q.Limit+1)
	}
	if q.Offset > 0 {
		if q.Limit <= 0 && s.db.Dialect() == database.SQLite {
			query += " LIMIT -1" // SQLite needs a LIMIT before OFFSET
		}
		query += " OFFSET " + b.args.Add(q.Offset)
	}
	rows, err := s.db.QueryContext(ctx, query, b.args...)
	if err != nil {
		return Page{}, fmt.Errorf("query entities: %w", err)
	}
	var refs []string
	var keys []Keyset
	for rows.Next() {
		var k Keyset
		var v sql.NullString
		if err := rows.Scan(&k.Ref, &v); err != nil {
			rows.Close()
			return Page{}, err
		}
		if v.Valid {
			k.Value = &v.String
		}
		refs, keys = append(refs, k.Ref), append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("query entities: %w", err)
	}
	if q.Limit > 0 && len(refs) > q.Limit {
		refs, keys, out.More = refs[:q.Limit], keys[:q.Limit], true
	}
	if reverse {
		slices.Reverse(refs)
		slices.Reverse(keys)
	}
	byRef, err := s.byRefs(ctx, refs)
	if err != nil {
		return Page{}, err
	}
	for i, r := range refs { // refs that vanished in between are left out
		if e, ok := byRef[r]; ok {
			out.Entities = append(out.Entities, e)
			out.Keys = append(out.Keys, keys[i])
		}
	}
	return out, nil
}

// keyset is the condition on t.ref and t.sv0 (the first order field's value) that selects
// the rows after q.After, or before q.Before, in the query's order.
func (b *sqlBuilder) keyset(q Query) string {
	k, forward := q.After, true
	if k == nil {
		k, forward = q.Before, false
	}
	refCmp := map[bool]string{true: ">", false: "<"}[forward]
	if len(q.Order) == 0 {
		return "t.ref " + refCmp + " " + b.args.Add(k.Ref)
	}
	// Ascending, absent values last: after (v, r) come greater values, then v with greater
	// refs, then the absent ones.
	greater := (forward != q.Order[0].Desc)
	cmp := map[bool]string{true: ">", false: "<"}[greater]
	if k.Value == nil {
		if forward {
			return "(t.sv0 IS NULL AND t.ref > " + b.args.Add(k.Ref) + ")"
		}
		return "(t.sv0 IS NOT NULL OR t.ref < " + b.args.Add(k.Ref) + ")"
	}
	v := b.args.Add(*k.Value)
	ref := b.args.Add(k.Ref)
	c := fmt.Sprintf("(t.sv0 %s %s OR (t.sv0 = %s AND t.ref %s %s)", cmp, v, v, refCmp, ref)
	if forward {
		c += " OR t.sv0 IS NULL"
	}
	return c + ")"
}

// refs runs a query returning entity refs.
func (s *Store) refs(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query entities: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ref string
		if err := rows.Scan(&ref); err != nil {
			return nil, err
		}
		out = append(out, ref)
	}
	return out, rows.Err()
}

// byRefs loads the entities of canonical refs.
func (s *Store) byRefs(ctx context.Context, refs []string) (map[string]Entity, error) {
	byRef := make(map[string]Entity, len(refs))
	for start := 0; start < len(refs); start += 400 {
		chunk := refs[start:min(start+400, len(refs))]
		q, args := inList(`SELECT entity_ref, uid, etag, body FROM catalog_entities WHERE entity_ref IN `, chunk, 1)
		es, err := s.load(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			byRef[e.Ref().String()] = e
		}
	}
	return byRef, nil
}

// byRefsInOrder loads the entities of canonical refs, in the order given; refs that vanished
// in between are left out.
func (s *Store) byRefsInOrder(ctx context.Context, refs []string) ([]Entity, error) {
	byRef, err := s.byRefs(ctx, refs)
	if err != nil {
		return nil, err
	}
	out := make([]Entity, 0, len(refs))
	for _, r := range refs {
		if e, ok := byRef[r]; ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// load runs a query returning entity_ref, uid, etag, body and attaches relations.
func (s *Store) load(ctx context.Context, query string, args ...any) ([]Entity, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query entities: %w", err)
	}
	defer rows.Close()
	var out []Entity
	var refs []string
	for rows.Next() {
		var ref, uid, etag, body string
		if err := rows.Scan(&ref, &uid, &etag, &body); err != nil {
			return nil, err
		}
		var e Entity
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			return nil, fmt.Errorf("entity %s: %w", ref, err)
		}
		e.Metadata.UID, e.Metadata.Etag = uid, etag
		if e.Metadata.Namespace == "" { // stored before namespaces were filled in
			e.Metadata.Namespace = DefaultNamespace
		}
		out = append(out, e)
		refs = append(refs, ref)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := s.attachRelations(ctx, out, refs); err != nil {
		return nil, err
	}
	return out, nil
}

// attachRelations fills in each entity's relations: its own, and the inverse of those that
// point at it.
func (s *Store) attachRelations(ctx context.Context, entities []Entity, refs []string) error {
	if len(refs) == 0 {
		return nil
	}
	byRef := map[string][]Relation{}
	for start := 0; start < len(refs); start += 400 {
		chunk := refs[start:min(start+400, len(refs))]
		for _, side := range []string{"source_ref", "target_ref"} {
			q, args := inList("SELECT source_ref, type, target_ref FROM catalog_relations WHERE "+side+" IN ", chunk, 1)
			rows, err := s.db.QueryContext(ctx, q, args...)
			if err != nil {
				return fmt.Errorf("load relations: %w", err)
			}
			for rows.Next() {
				var src, typ, dst string
				if err := rows.Scan(&src, &typ, &dst); err != nil {
					rows.Close()
					return err
				}
				if side == "source_ref" {
					byRef[src] = append(byRef[src], Relation{Type: typ, TargetRef: dst})
				} else if inv := inverse[typ]; inv != "" {
					byRef[dst] = append(byRef[dst], Relation{Type: inv, TargetRef: src})
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
	}
	for i := range entities {
		rels := byRef[refs[i]]
		sort.Slice(rels, func(a, b int) bool {
			if rels[a].Type != rels[b].Type {
				return rels[a].Type < rels[b].Type
			}
			return rels[a].TargetRef < rels[b].TargetRef
		})
		entities[i].Relations = dedupRelations(rels)
	}
	return nil
}

func dedupRelations(rels []Relation) []Relation {
	out := rels[:0]
	for i, r := range rels {
		if i > 0 && r == rels[i-1] {
			continue
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// GetByRef returns one entity, or ErrNotFound.
func (s *Store) GetByRef(ctx context.Context, ref EntityRef) (Entity, error) {
	return s.one(ctx, `SELECT entity_ref, uid, etag, body FROM catalog_entities WHERE entity_ref = $1`, ref.String())
}

// GetByUID returns one entity, or ErrNotFound.
func (s *Store) GetByUID(ctx context.Context, uid string) (Entity, error) {
	return s.one(ctx, `SELECT entity_ref, uid, etag, body FROM catalog_entities WHERE uid = $1`, uid)
}

func (s *Store) one(ctx context.Context, q string, arg string) (Entity, error) {
	es, err := s.load(ctx, q, arg)
	if err != nil {
		return Entity{}, err
	}
	if len(es) == 0 {
		return Entity{}, ErrNotFound
	}
	return es[0], nil
}

// GetByRefs returns the entities in the order of refs, nil where there is none (or the ref
// cannot be parsed, or the entity does not match the query's filters and predicate).
func (s *Store) GetByRefs(ctx context.Context, refs []string, q Query) ([]*Entity, error) {
	canonical := make([]string, len(refs))
	var valid []string
	for i, r := range refs {
		if ref, err := ParseRef(r, "", DefaultNamespace); err == nil {
			canonical[i] = ref.String()
			valid = append(valid, ref.String())
		}
	}
	found := map[string]Entity{}
	for start := 0; start < len(valid); start += 400 {
		chunk := valid[start:min(start+400, len(valid))]
		var b sqlBuilder
		where := b.where(Query{Filters: q.Filters, Predicate: q.Predicate})
		if where == "" {
			where = " WHERE "
		} else {
			where += " AND "
		}
		in := make([]string, len(chunk))
		for i, r := range chunk {
			in[i] = b.args.Add(r)
		}
		es, err := s.load(ctx, "SELECT e.entity_ref, e.uid, e.etag, e.body FROM catalog_entities e"+where+"e.entity_ref IN ("+strings.Join(in, ", ")+")", b.args...)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			found[e.Ref().String()] = e
		}
	}
	out := make([]*Entity, len(refs))
	for i, c := range canonical {
		if e, ok := found[c]; ok && c != "" {
			e := e
			out[i] = &e
		}
	}
	return out, nil
}

// FacetCount is one value of a facet and how many entities have it.
type FacetCount struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// Facets counts the values of each facet field among the entities the query matches (its
// paging is ignored).
func (s *Store) Facets(ctx context.Context, facets []string, q Query) (map[string][]FacetCount, error) {
	out := map[string][]FacetCount{}
	for _, f := range facets {
		var b sqlBuilder
		key := b.args.Add(strings.ToLower(f))
		where := b.where(q)
		cond := " AND e.entity_ref IN (SELECT e.entity_ref FROM catalog_entities e" + where + ")"
		rows, err := s.db.QueryContext(ctx, `SELECT MIN(s.original_value), count(DISTINCT s.entity_ref) FROM catalog_search s JOIN catalog_entities e ON e.entity_ref = s.entity_ref
			WHERE s.key = `+key+` AND s.value IS NOT NULL`+cond+` GROUP BY s.value ORDER BY 2 DESC, 1`, b.args...)
		if err != nil {
			return nil, fmt.Errorf("facet %s: %w", f, err)
		}
		counts := []FacetCount{}
		for rows.Next() {
			var fc FacetCount
			if err := rows.Scan(&fc.Value, &fc.Count); err != nil {
				rows.Close()
				return nil, err
			}
			counts = append(counts, fc)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		out[f] = counts
	}
	return out, nil
}

// Project keeps only the given fields (dot paths) of an entity's JSON; no fields keeps all.
func Project(e Entity, fields []string) (any, error) {
	if len(fields) == 0 {
		return e, nil
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	var full map[string]any
	if err := json.Unmarshal(raw, &full); err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, f := range fields {
		parts := strings.Split(strings.TrimSpace(f), ".")
		copyPath(full, out, parts)
	}
	return out, nil
}

func copyPath(src, dst map[string]any, parts []string) {
	v, ok := src[parts[0]]
	if !ok {
		return
	}
	if len(parts) == 1 {
		dst[parts[0]] = v
		return
	}
	sub, ok := v.(map[string]any)
	if !ok {
		return
	}
	d, ok := dst[parts[0]].(map[string]any)
	if !ok {
		d = map[string]any{}
		dst[parts[0]] = d
	}
	copyPath(sub, d, parts[1:])
}
