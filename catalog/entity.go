package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Entity is a catalog entity in Backstage's descriptor format.
type Entity struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   Metadata       `json:"metadata"`
	Spec       map[string]any `json:"spec,omitempty"`
	Relations  []Relation     `json:"relations,omitempty"`
}

// Metadata is an entity's metadata. Fields Backstage does not define are kept in Extra and
// written back unchanged.
type Metadata struct {
	UID         string            `json:"uid,omitempty"`
	Etag        string            `json:"etag,omitempty"`
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Title       string            `json:"title,omitempty"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	Links       []Link            `json:"links,omitempty"`
	Extra       map[string]any    `json:"-"`
}

// Link is an entry of metadata.links.
type Link struct {
	URL   string `json:"url"`
	Title string `json:"title,omitempty"`
	Icon  string `json:"icon,omitempty"`
	Type  string `json:"type,omitempty"`
}

// Relation is a typed edge to another entity.
type Relation struct {
	Type      string `json:"type"`
	TargetRef string `json:"targetRef"`
}

// knownMetadata are the metadata fields with their own struct field.
var knownMetadata = map[string]bool{"uid": true, "etag": true, "name": true, "namespace": true, "title": true,
	"description": true, "labels": true, "annotations": true, "tags": true, "links": true}

// UnmarshalJSON keeps unknown metadata fields in Extra.
func (m *Metadata) UnmarshalJSON(b []byte) error {
	type plain Metadata
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	for k, raw := range all {
		if knownMetadata[k] {
			continue
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		if p.Extra == nil {
			p.Extra = map[string]any{}
		}
		p.Extra[k] = v
	}
	*m = Metadata(p)
	return nil
}

// MarshalJSON writes the known fields and Extra.
func (m Metadata) MarshalJSON() ([]byte, error) {
	type plain Metadata
	b, err := json.Marshal(plain(m))
	if err != nil || len(m.Extra) == 0 {
		return b, err
	}
	var all map[string]any
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	for k, v := range m.Extra {
		if !knownMetadata[k] {
			all[k] = v
		}
	}
	return json.Marshal(all)
}

// DefaultNamespace is the namespace of entities that name none.
const DefaultNamespace = "default"

// EntityRef identifies an entity: kind, namespace and name, compared case-insensitively.
type EntityRef struct {
	Kind, Namespace, Name string
}

// String is the canonical form kind:namespace/name, lower-cased as Backstage's
// stringifyEntityRef writes it.
func (r EntityRef) String() string {
	return strings.ToLower(r.Kind) + ":" + strings.ToLower(r.Namespace) + "/" + strings.ToLower(r.Name)
}

// Ref returns the entity's ref.
func (e Entity) Ref() EntityRef {
	ns := e.Metadata.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	return EntityRef{Kind: e.Kind, Namespace: ns, Name: e.Metadata.Name}
}

// ErrBadRef reports an entity ref that cannot be parsed.
var ErrBadRef = errors.New("invalid entity ref")

// ParseRef parses [kind:][namespace/]name; defaultKind and the default namespace fill in what
// is missing. A ref without kind and no default kind is an error.
func ParseRef(s, defaultKind, defaultNamespace string) (EntityRef, error) {
	r := EntityRef{Kind: defaultKind, Namespace: defaultNamespace}
	rest := s
	if k, after, ok := strings.Cut(rest, ":"); ok {
		r.Kind, rest = k, after
	}
	if ns, name, ok := strings.Cut(rest, "/"); ok {
		r.Namespace, rest = ns, name
	}
	r.Name = rest
	if r.Namespace == "" {
		r.Namespace = DefaultNamespace
	}
	if r.Kind == "" || r.Name == "" || strings.ContainsAny(r.Name, ":/") {
		return EntityRef{}, fmt.Errorf("%w %q: expected [kind:][namespace/]name", ErrBadRef, s)
	}
	return r, nil
}

// The annotations that say where an entity was read, as Backstage writes them: both hold a
// location ref (url:https://…/catalog-info.yaml). Stagebus reads each location directly, so
// the location an entity is managed by is also its origin.
const (
	AnnotationManagedByLocation       = "backstage.io/managed-by-location"
	AnnotationManagedByOriginLocation = "backstage.io/managed-by-origin-location"
)

// The annotations that say where to see an entity's source, as Backstage's
// AnnotateLocationEntityProcessor writes them for url locations.
const (
	AnnotationViewURL        = "backstage.io/view-url"
	AnnotationEditURL        = "backstage.io/edit-url"
	AnnotationSourceLocation = "backstage.io/source-location"
)

// sourceAnnotations are the view, edit and source annotations of an entity read from a url:
// the file itself, its editor on hosts with GitHub's …/blob/<ref>/… URLs, and the folder.
func sourceAnnotations(target string) map[string]string {
	out := map[string]string{AnnotationViewURL: target}
	if i := strings.LastIndex(target, "/"); i > strings.Index(target, "://")+2 {
		out[AnnotationSourceLocation] = LocationURL + ":" + target[:i+1]
	}
	if before, after, ok := strings.Cut(target, "/blob/"); ok {
		out[AnnotationEditURL] = before + "/edit/" + after
	}
	return out
}

// isLocationRef reports whether s is a location ref: url:<target> or file:<target>.
func isLocationRef(s string) bool {
	typ, target, ok := strings.Cut(s, ":")
	return ok && target != "" && (typ == LocationURL || typ == LocationFile)
}
