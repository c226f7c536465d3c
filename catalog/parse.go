package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// ParseYAML is the default entity data parser: a YAML (or JSON) file of one or more
// documents, each an entity; empty documents are skipped.
func ParseYAML(_ context.Context, loc Location, data []byte) ([]Entity, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []Entity
	for i := 1; ; i++ {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: not valid YAML: %w", loc.Target, i, err)
		}
		if doc == nil {
			continue
		}
		m, ok := doc.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: document %d: expected an entity object, got %T", loc.Target, i, doc)
		}
		raw, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", loc.Target, i, err)
		}
		var e Entity
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", loc.Target, i, err)
		}
		out = append(out, e)
	}
}
