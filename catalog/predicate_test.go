package catalog

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParsePredicate(t *testing.T) {
	t.Parallel()
	fields := map[string]string{"id": "L1", "type": "url", "target": "https://x.example/a.yaml"}
	for _, tc := range []struct {
		query   string
		matches bool
		err     string
	}{
		{`{}`, true, ""},
		{`{"type": "URL"}`, true, ""},
		{`{"type": "url", "id": "l2"}`, false, ""},
		{`{"id": {"$in": ["l2", "L1"]}}`, true, ""},
		{`{"target": {"$hasPrefix": "HTTPS://x."}}`, true, ""},
		{`{"entityref": {"$exists": true}}`, false, ""},
		{`{"$not": {"entityref": {"$exists": true}}}`, true, ""},
		{`{"$any": [{"id": "x"}, {"id": 1}]}`, false, ""},
		{`{"$all": [{"type": "url"}, {"$any": [{"id": "L1"}]}]}`, true, ""},
		{`{"id": {"$contains": "L1"}}`, true, ""},
		{`{"$all": [], "id": "x"}`, false, "must be the only key"},
		{`{"$nor": []}`, false, `unknown operator "$nor"`},
		{`{"id": {"$in": "x"}}`, false, "$in must be an array"},
		{`{"id": {"$in": [{}]}}`, false, "strings, numbers or booleans"},
		{`{"id": {"$exists": "yes"}}`, false, "true or false"},
		{`{"id": {"$regex": "."}}`, false, `unknown operator "$regex"`},
		{`{"id": {"$in": [], "$exists": true}}`, false, "must be a string"},
		{`{"id": null}`, false, "must be a string"},
		{`[]`, false, "must be an object"},
		{`{"$all": {}}`, false, "must be an array of predicates"},
		{strings.Repeat(`{"$not": `, 17) + `{"id": "x"}` + strings.Repeat(`}`, 17), false, "nested more than 16 levels"},
		{`{"id": {"$in": [` + strings.Repeat(`"x", `, 1000) + `"y"]}}`, false, "more than 1000 conditions and values"},
	} {
		p, err := ParsePredicate(json.RawMessage(tc.query))
		if tc.err != "" {
			require.ErrorIs(t, err, ErrPredicate, tc.query)
			require.ErrorContains(t, err, tc.err, tc.query)
			continue
		}
		require.NoError(t, err, tc.query)
		require.Equal(t, tc.matches, p.Matches(fields), tc.query)
	}
}

// FuzzParsePredicate: whatever parses builds SQL whose placeholders are its arguments, with
// balanced parentheses, and evaluates without panicking.
func FuzzParsePredicate(f *testing.F) {
	for _, s := range []string{`{"kind": "component"}`, `{"$all": [{"a": {"$in": [1, true, "x"]}}, {"$not": {"b": {"$exists": false}}}]}`,
		`{"$any": [{"metadata.name": {"$hasPrefix": "a_%"}}]}`, `{"spec.tags": {"$contains": "java"}}`, `{"relations.ownedby": "group:default/a"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		p, err := ParsePredicate(json.RawMessage(query))
		if err != nil {
			return
		}
		var b sqlBuilder
		sql := b.predicate(p)
		if strings.Count(sql, "(") != strings.Count(sql, ")") {
			t.Fatalf("unbalanced SQL %q", sql)
		}
		if strings.Count(sql, "$") < len(b.args) {
			t.Fatalf("SQL %q has fewer placeholders than its %d arguments", sql, len(b.args))
		}
		_ = p.Matches(map[string]string{"id": "x", "kind": "component"})
		_ = p.Keys()
	})
}
