package catalog

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// maxSearchValue caps the values kept for filtering, as Backstage does.
const maxSearchValue = 200

// searchRow is one flattened key/value of an entity, for filters, ordering and facets. Keys
// and values are lower-cased; valid is false for a key that only marks that an object exists.
type searchRow struct {
	key, value, original string
	valid                bool
}

// searchRows flattens an entity the way Backstage's search table does: every object path is a
// key, scalars are values, and a list of scalars gives both key=item and key.item=true. Arrays
// of objects are descended into with the same path.
func searchRows(e Entity) ([]searchRow, error) {
	raw, err := json.Marshal(Entity{APIVersion: e.APIVersion, Kind: e.Kind, Metadata: e.Metadata, Spec: e.Spec})
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var rows []searchRow
	add := func(key, original string, valid bool) {
		key = strings.ToLower(key)
		value := strings.ToLower(original)
		if len(value) > maxSearchValue || len(key) > maxSearchValue {
			return
		}
		id := key + "\x00" + value + fmt.Sprint(valid)
		if seen[id] {
			return
		}
		seen[id] = true
		rows = append(rows, searchRow{key: key, value: value, original: original, valid: valid})
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch t := v.(type) {
		case map[string]any:
			if path != "" {
				add(path, "", false)
			}
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, t[k])
			}
		case []any:
			add(path, "", false)
			for _, it := range t {
				switch it.(type) {
				case map[string]any, []any:
					walk(path, it)
				case nil:
				default:
					s := scalar(it)
					add(path, s, true)
					add(path+"."+s, "true", true)
				}
			}
		case nil:
		default:
			add(path, scalar(t), true)
		}
	}
	walk("", doc)
	// The namespace is always searchable, even when the entity leaves it implicit.
	if e.Metadata.Namespace == "" {
		add("metadata.namespace", DefaultNamespace, true)
	}
	return rows, nil
}

func scalar(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case float64:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%f", t), "0"), ".")
	default:
		return fmt.Sprint(t)
	}
}
