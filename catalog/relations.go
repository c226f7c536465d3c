package catalog

import (
	"sort"
	"strings"
)

// Relation types, as Backstage names them.
const (
	RelationOwnedBy       = "ownedBy"
	RelationOwnerOf       = "ownerOf"
	RelationPartOf        = "partOf"
	RelationHasPart       = "hasPart"
	RelationDependsOn     = "dependsOn"
	RelationDependencyOf  = "dependencyOf"
	RelationProvidesAPI   = "providesApi"
	RelationAPIProvidedBy = "apiProvidedBy"
	RelationConsumesAPI   = "consumesApi"
	RelationAPIConsumedBy = "apiConsumedBy"
	RelationMemberOf      = "memberOf"
	RelationHasMember     = "hasMember"
	RelationChildOf       = "childOf"
	RelationParentOf      = "parentOf"
)

// inverse maps each relation type to the type seen from the other end.
var inverse = map[string]string{
	RelationOwnedBy: RelationOwnerOf, RelationOwnerOf: RelationOwnedBy,
	RelationPartOf: RelationHasPart, RelationHasPart: RelationPartOf,
	RelationDependsOn: RelationDependencyOf, RelationDependencyOf: RelationDependsOn,
	RelationProvidesAPI: RelationAPIProvidedBy, RelationAPIProvidedBy: RelationProvidesAPI,
	RelationConsumesAPI: RelationAPIConsumedBy, RelationAPIConsumedBy: RelationConsumesAPI,
	RelationMemberOf: RelationHasMember, RelationHasMember: RelationMemberOf,
	RelationChildOf: RelationParentOf, RelationParentOf: RelationChildOf,
}

// specRelation is a spec field that relates an entity to others.
type specRelation struct {
	field       string
	relation    string
	defaultKind string
}

// specRelations are Backstage's built-in relations derived from spec fields.
var specRelations = []specRelation{
	{"owner", RelationOwnedBy, "group"},
	{"system", RelationPartOf, "system"},
	{"domain", RelationPartOf, "domain"},
	{"subcomponentOf", RelationPartOf, "component"},
	{"dependsOn", RelationDependsOn, "component"},
	{"providesApis", RelationProvidesAPI, "api"},
	{"consumesApis", RelationConsumesAPI, "api"},
	{"memberOf", RelationMemberOf, "group"},
	{"parent", RelationChildOf, "group"},
	{"children", RelationParentOf, "group"},
	{"members", RelationHasMember, "user"},
}

// deriveRelations returns the relations an entity's spec declares, from the entity outwards,
// with the targets' refs in canonical form. Refs that cannot be parsed are skipped.
func deriveRelations(e Entity) []Relation {
	ns := e.Ref().Namespace
	seen := map[Relation]bool{}
	var out []Relation
	for _, sr := range specRelations {
		for _, target := range stringsOf(e.Spec[sr.field]) {
			ref, err := ParseRef(target, sr.defaultKind, ns)
			if err != nil {
				continue
			}
			r := Relation{Type: sr.relation, TargetRef: ref.String()}
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].TargetRef < out[j].TargetRef
	})
	return out
}

// stringsOf reads a spec value that is a string or a list of strings.
func stringsOf(v any) []string {
	switch t := v.(type) {
	case string:
		if strings.TrimSpace(t) != "" {
			return []string{strings.TrimSpace(t)}
		}
	case []any:
		var out []string
		for _, it := range t {
			if s, ok := it.(string); ok && strings.TrimSpace(s) != "" {
				out = append(out, strings.TrimSpace(s))
			}
		}
		return out
	}
	return nil
}

// DeclaredRelations returns the relations e's spec declares, from e outwards (ownedBy its
// spec.owner, partOf its spec.system, …), sorted by type and target: the relations the store
// keeps for e. An entity read from the Store carries these and the inverses of the relations
// other entities declare towards it (ownerOf on the group a component names as its owner).
func DeclaredRelations(e Entity) []Relation { return deriveRelations(e) }

// InverseRelation returns relation type t as seen from its target (ownerOf for ownedBy), or
// "" for a type the catalog does not know.
func InverseRelation(t string) string { return inverse[t] }
