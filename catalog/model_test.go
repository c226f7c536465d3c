package catalog

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func component(name string, spec map[string]any) Entity {
	return Entity{APIVersion: "backstage.io/v1alpha1", Kind: "Component", Metadata: Metadata{Name: name}, Spec: spec}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	v := DefaultValidators()
	tests := []struct {
		name   string
		mutate func(*Entity)
		want   string // "" means valid
	}{
		{name: "a valid component", mutate: func(*Entity) {}},
		{name: "names with dots, dashes and underscores", mutate: func(e *Entity) { e.Metadata.Name = "artist-web_v2.1" }},
		{name: "labels, annotations and tags", mutate: func(e *Entity) {
			e.Metadata.Labels = map[string]string{"example.com/tier": "gold", "team": ""}
			e.Metadata.Annotations = map[string]string{"github.com/project-slug": "acme/artist-web"}
			e.Metadata.Tags = []string{"java", "c++", "data-platform"}
		}},
		{name: "apiVersion without a group", mutate: func(e *Entity) { e.APIVersion = "v1" }, want: `apiVersion "v1" is not valid`},
		{name: "kind with a dash", mutate: func(e *Entity) { e.Kind = "My-Kind" }, want: `kind "My-Kind" is not valid`},
		{name: "name with a space", mutate: func(e *Entity) { e.Metadata.Name = "artist web" }, want: `metadata.name "artist web" is not valid`},
		{name: "name ending in a dash", mutate: func(e *Entity) { e.Metadata.Name = "artist-" }, want: "metadata.name"},
		{name: "name of 64 characters", mutate: func(e *Entity) { e.Metadata.Name = strings.Repeat("a", 64) }, want: "metadata.name"},
		{name: "upper-case namespace", mutate: func(e *Entity) { e.Metadata.Namespace = "Prod" }, want: `metadata.namespace "Prod" is not valid`},
		{name: "bad label key", mutate: func(e *Entity) { e.Metadata.Labels = map[string]string{"Bad Key": "x"} }, want: `metadata.labels key "Bad Key"`},
		{name: "bad label value", mutate: func(e *Entity) { e.Metadata.Labels = map[string]string{"k": "a b"} }, want: `metadata.labels.k value "a b"`},
		{name: "upper-case tag", mutate: func(e *Entity) { e.Metadata.Tags = []string{"Java"} }, want: `metadata.tags entry "Java"`},
		{name: "link without url", mutate: func(e *Entity) { e.Metadata.Links = []Link{{Title: "docs"}} }, want: "metadata.links[0] needs a url"},
		{name: "every problem at once", mutate: func(e *Entity) { e.Kind = ""; e.Metadata.Name = "" }, want: "kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := component("artist-web", nil)
			tt.mutate(&e)
			err := v.Validate(e)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
	err := v.Validate(Entity{})
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.Len(t, ve.Problems, 3, "apiVersion, kind and name are all reported")
}

func TestParseRef(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, kind, ns, want string
		err                bool
	}{
		{in: "component:default/artist-web", want: "component:default/artist-web"},
		{in: "Component:Default/Artist-Web", want: "component:default/artist-web"},
		{in: "artist-web", kind: "component", want: "component:default/artist-web"},
		{in: "ops", kind: "group", ns: "prod", want: "group:prod/ops"},
		{in: "user:development/guest", want: "user:development/guest"},
		{in: "no-kind", err: true},
		{in: "component:", err: true},
		{in: "component:a/b/c", err: true},
	}
	for _, tt := range tests {
		r, err := ParseRef(tt.in, tt.kind, tt.ns)
		if tt.err {
			require.ErrorIs(t, err, ErrBadRef, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, r.String())
	}
}

func TestDeriveRelations(t *testing.T) {
	t.Parallel()
	e := component("artist-web", map[string]any{
		"owner": "team-a", "system": "artist-engagement", "dependsOn": []any{"resource:artists-db", "component:prod/auth"},
		"providesApis": []any{"artist-api"}, "consumesApis": []any{"api:payments/charge"}, "subcomponentOf": "portal",
	})
	e.Metadata.Namespace = "music"
	require.Equal(t, []Relation{
		{Type: RelationConsumesAPI, TargetRef: "api:payments/charge"},
		{Type: RelationDependsOn, TargetRef: "component:prod/auth"},
		{Type: RelationDependsOn, TargetRef: "resource:music/artists-db"},
		{Type: RelationOwnedBy, TargetRef: "group:music/team-a"},
		{Type: RelationPartOf, TargetRef: "component:music/portal"},
		{Type: RelationPartOf, TargetRef: "system:music/artist-engagement"},
		{Type: RelationProvidesAPI, TargetRef: "api:music/artist-api"},
	}, deriveRelations(e))
	user := Entity{APIVersion: "backstage.io/v1alpha1", Kind: "User", Metadata: Metadata{Name: "ada"}, Spec: map[string]any{"memberOf": []any{"ops"}}}
	require.Equal(t, []Relation{{Type: RelationMemberOf, TargetRef: "group:default/ops"}}, deriveRelations(user))
	group := Entity{APIVersion: "backstage.io/v1alpha1", Kind: "Group", Metadata: Metadata{Name: "ops"}, Spec: map[string]any{"parent": "eng", "children": []any{"sre"}, "members": []any{"ada"}}}
	require.Equal(t, []Relation{{Type: RelationChildOf, TargetRef: "group:default/eng"}, {Type: RelationHasMember, TargetRef: "user:default/ada"}, {Type: RelationParentOf, TargetRef: "group:default/sre"}}, deriveRelations(group))
	require.Equal(t, deriveRelations(group), DeclaredRelations(group))
	for typ, inv := range inverse {
		require.Equal(t, typ, InverseRelation(InverseRelation(typ)))
		require.Equal(t, inv, InverseRelation(typ))
	}
	require.Empty(t, InverseRelation("likes"))
}

func TestParseYAML(t *testing.T) {
	t.Parallel()
	data := `
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: artist-web
  custom-field: kept
  annotations:
    github.com/project-slug: acme/artist-web
spec:
  type: website
  owner: team-a
---
# an empty document is skipped
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: artist-api
spec:
  type: openapi
`
	es, err := ParseYAML(context.Background(), Location{Target: "catalog-info.yaml"}, []byte(data))
	require.NoError(t, err)
	require.Len(t, es, 2)
	require.Equal(t, "artist-web", es[0].Metadata.Name)
	require.Equal(t, "kept", es[0].Metadata.Extra["custom-field"])
	require.Equal(t, "website", es[0].Spec["type"])
	require.Equal(t, "API", es[1].Kind)

	_, err = ParseYAML(context.Background(), Location{Target: "x.yaml"}, []byte("- a\n- b\n"))
	require.ErrorContains(t, err, "x.yaml: document 1: expected an entity object")
	_, err = ParseYAML(context.Background(), Location{Target: "x.yaml"}, []byte("kind: [\n"))
	require.ErrorContains(t, err, "x.yaml: document 1: not valid YAML")
}

func FuzzParseYAML(f *testing.F) {
	f.Add("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\n")
	f.Add("---\n---\n")
	f.Add("metadata: [1]\n")
	f.Fuzz(func(t *testing.T, data string) {
		es, err := ParseYAML(context.Background(), Location{Target: "fuzz"}, []byte(data))
		if err != nil {
			return
		}
		v := DefaultValidators()
		for _, e := range es {
			_ = v.Validate(e)
			_, _ = searchRows(e)
			_ = deriveRelations(e)
		}
	})
}

func TestSearchRows(t *testing.T) {
	t.Parallel()
	e := component("Artist-Web", map[string]any{"type": "Service", "lifecycle": "production", "ports": []any{float64(80), float64(443)}, "deep": map[string]any{"list": []any{map[string]any{"k": "v"}}}})
	e.Metadata.Tags = []string{"java"}
	rows, err := searchRows(e)
	require.NoError(t, err)
	has := map[string]bool{}
	for _, r := range rows {
		if r.valid {
			has[r.key+"="+r.value] = true
		} else {
			has[r.key] = true
		}
	}
	for _, want := range []string{"kind=component", "metadata.name=artist-web", "metadata.namespace=default", "spec.type=service", "spec",
		"metadata.tags=java", "metadata.tags.java=true", "spec.ports=80", "spec.ports.443=true", "spec.deep.list.k=v"} {
		require.True(t, has[want], want)
	}
}
