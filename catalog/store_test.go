package catalog_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
)

func entity(kind, name string, spec map[string]any) catalog.Entity {
	return catalog.Entity{APIVersion: "backstage.io/v1alpha1", Kind: kind, Metadata: catalog.Metadata{Name: name}, Spec: spec}
}

func deferred(es ...catalog.Entity) []catalog.DeferredEntity {
	out := make([]catalog.DeferredEntity, len(es))
	for i, e := range es {
		out[i] = catalog.DeferredEntity{Entity: e, LocationKey: "test"}
	}
	return out
}

func newStore(t *testing.T, db *database.DB) (*catalog.Store, *eventsvctest.Recorder) {
	t.Helper()
	model, err := catalog.NewModel(nil)
	require.NoError(t, err)
	rec := &eventsvctest.Recorder{}
	return catalog.NewStore(db, rec, model, zerolog.Nop()), rec
}

func refsOf(es []catalog.Entity) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Ref().String()
	}
	return out
}

// TestStoreContract runs on SQLite and PostgreSQL.
func TestStoreContract(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, catalog.Migrations, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s, rec := newStore(t, db)

		team := entity("Group", "team-a", map[string]any{"type": "team", "members": []any{"ada"}})
		ada := entity("User", "ada", map[string]any{"memberOf": []any{"team-a"}, "profile": map[string]any{"displayName": "Ada Lovelace"}})
		web := entity("Component", "artist-web", map[string]any{"type": "website", "lifecycle": "production", "owner": "team-a", "providesApis": []any{"artist-api"}})
		web.Metadata.Tags = []string{"java"}
		api := entity("API", "artist-api", map[string]any{"type": "openapi", "owner": "team-a"})

		t.Run("full mutation adds, and publishes the change stream", func(t *testing.T) {
			res, err := s.ApplyMutation(ctx, "provider-a", catalog.Mutation{Type: catalog.Full, Entities: deferred(team, ada, web, api)})
			require.NoError(t, err)
			require.Len(t, res.Upserted, 4)
			events := rec.Published(catalog.TopicEntityUpserted)
			require.Len(t, events, 4)
			require.Equal(t, "component:default/artist-web", events[2].Key)
			var got catalog.Entity
			require.NoError(t, json.Unmarshal(events[2].Payload, &got))
			require.Equal(t, "artist-web", got.Metadata.Name)
			require.NotEmpty(t, got.Metadata.UID)
		})

		t.Run("get by ref is case-insensitive, with relations on both ends", func(t *testing.T) {
			got, err := s.GetByRef(ctx, catalog.EntityRef{Kind: "COMPONENT", Namespace: "Default", Name: "Artist-Web"})
			require.NoError(t, err)
			require.Equal(t, "artist-web", got.Metadata.Name)
			require.Contains(t, got.Relations, catalog.Relation{Type: catalog.RelationOwnedBy, TargetRef: "group:default/team-a"})
			require.Contains(t, got.Relations, catalog.Relation{Type: catalog.RelationProvidesAPI, TargetRef: "api:default/artist-api"})
			grp, err := s.GetByRef(ctx, catalog.EntityRef{Kind: "group", Namespace: "default", Name: "team-a"})
			require.NoError(t, err)
			require.Contains(t, grp.Relations, catalog.Relation{Type: catalog.RelationOwnerOf, TargetRef: "component:default/artist-web"})
			require.Contains(t, grp.Relations, catalog.Relation{Type: catalog.RelationHasMember, TargetRef: "user:default/ada"})
			apiE, err := s.GetByRef(ctx, catalog.EntityRef{Kind: "api", Namespace: "default", Name: "artist-api"})
			require.NoError(t, err)
			require.Contains(t, apiE.Relations, catalog.Relation{Type: catalog.RelationAPIProvidedBy, TargetRef: "component:default/artist-web"})
			byUID, err := s.GetByUID(ctx, got.Metadata.UID)
			require.NoError(t, err)
			require.Equal(t, got.Metadata.Etag, byUID.Metadata.Etag)
			_, err = s.GetByRef(ctx, catalog.EntityRef{Kind: "component", Namespace: "default", Name: "nope"})
			require.ErrorIs(t, err, catalog.ErrNotFound)
		})

		t.Run("filters, ordering, paging", func(t *testing.T) {
			q := func(filters ...string) []string {
				fs, err := catalog.ParseFilters(filters)
				require.NoError(t, err)
				es, _, err := s.Query(ctx, catalog.Query{Filters: fs, Order: []catalog.Order{{Field: "metadata.name"}}})
				require.NoError(t, err)
				return refsOf(es)
			}
			require.Equal(t, []string{"component:default/artist-web"}, q("kind=component,spec.type=website"))
			require.Equal(t, []string{"api:default/artist-api", "component:default/artist-web"}, q("kind=component", "kind=API"))
			require.Equal(t, []string{"api:default/artist-api", "component:default/artist-web"}, q("kind=component,kind=api"), "values for one key are ORed")
			require.Equal(t, []string{"component:default/artist-web"}, q("metadata.tags.java"))
			require.Equal(t, []string{"component:default/artist-web"}, q("metadata.tags=java"))
			require.Equal(t, []string{"user:default/ada"}, q("kind=user,relations.memberof=group:default/team-a"))
			require.Equal(t, []string{"group:default/team-a"}, q("relations.hasMember=user:default/ada"), "inverse relations filter too")
			require.Equal(t, []string{"user:default/ada"}, q("spec.profile.displayname=ada lovelace"))
			require.Empty(t, q("kind=component,spec.type=service"))

			page, total, err := s.Query(ctx, catalog.Query{Order: []catalog.Order{{Field: "metadata.name", Desc: true}}, Limit: 2, Offset: 1})
			require.NoError(t, err)
			require.Equal(t, 4, total)
			require.Equal(t, []string{"component:default/artist-web", "api:default/artist-api"}, refsOf(page))
			text, _, err := s.Query(ctx, catalog.Query{FullTextTerm: "LOVE"})
			require.NoError(t, err)
			require.Equal(t, []string{"user:default/ada"}, refsOf(text))
		})

		t.Run("facets and by-refs", func(t *testing.T) {
			facets, err := s.Facets(ctx, []string{"kind", "spec.type"}, catalog.Query{})
			require.NoError(t, err)
			require.ElementsMatch(t, []catalog.FacetCount{{"API", 1}, {"Component", 1}, {"Group", 1}, {"User", 1}}, facets["kind"])
			found, err := s.GetByRefs(ctx, []string{"component:default/artist-web", "component:default/missing", "not a ref", "user:ada"}, catalog.Query{})
			require.NoError(t, err)
			require.Len(t, found, 4)
			require.Equal(t, "artist-web", found[0].Metadata.Name)
			require.Nil(t, found[1])
			require.Nil(t, found[2])
			require.Equal(t, "ada", found[3].Metadata.Name)
		})

		t.Run("a ref claimed by a second provider stays with the first", func(t *testing.T) {
			rec.Reset()
			other := web
			other.Spec = map[string]any{"type": "service", "owner": "team-b"}
			res, err := s.ApplyMutation(ctx, "provider-b", catalog.Mutation{Type: catalog.Delta, Entities: deferred(other)})
			require.NoError(t, err)
			require.Equal(t, []catalog.Conflict{{EntityRef: "component:default/artist-web", Owner: "provider-a"}}, res.Conflicts)
			got, err := s.GetByRef(ctx, web.Ref())
			require.NoError(t, err)
			require.Equal(t, "website", got.Spec["type"])
			require.Empty(t, rec.Published())
		})

		t.Run("unchanged entities keep their etag and publish nothing", func(t *testing.T) {
			before, err := s.GetByRef(ctx, web.Ref())
			require.NoError(t, err)
			res, err := s.ApplyMutation(ctx, "provider-a", catalog.Mutation{Type: catalog.Full, Entities: deferred(team, ada, web, api)})
			require.NoError(t, err)
			require.Equal(t, 4, res.Unchanged)
			after, err := s.GetByRef(ctx, web.Ref())
			require.NoError(t, err)
			require.Equal(t, before.Metadata.Etag, after.Metadata.Etag)
			require.Equal(t, before.Metadata.UID, after.Metadata.UID)
			require.Empty(t, rec.Published())
		})

		t.Run("delta removes; full replaces what the provider owns", func(t *testing.T) {
			res, err := s.ApplyMutation(ctx, "provider-a", catalog.Mutation{Type: catalog.Delta, Removed: []string{"api:artist-api"}})
			require.NoError(t, err)
			require.Equal(t, []string{"api:default/artist-api"}, res.Deleted)
			deleted := rec.Published(catalog.TopicEntityDeleted)
			require.Len(t, deleted, 1)
			require.Equal(t, "api:default/artist-api", deleted[0].Key)

			changed := web
			changed.Spec = map[string]any{"type": "website", "owner": "team-b"}
			res, err = s.ApplyMutation(ctx, "provider-a", catalog.Mutation{Type: catalog.Full, Entities: deferred(changed)})
			require.NoError(t, err)
			require.Equal(t, []string{"component:default/artist-web"}, res.Upserted)
			require.ElementsMatch(t, []string{"group:default/team-a", "user:default/ada"}, res.Deleted)
			got, err := s.GetByRef(ctx, web.Ref())
			require.NoError(t, err)
			require.Equal(t, []catalog.Relation{{Type: catalog.RelationOwnedBy, TargetRef: "group:default/team-b"}}, got.Relations, "old relations are gone")
		})

		t.Run("invalid entities are refused, the rest applies", func(t *testing.T) {
			bad := entity("Component", "bad name", nil)
			good := entity("Component", fmt.Sprintf("good-%s", db.Dialect()), nil)
			res, err := s.ApplyMutation(ctx, "provider-c", catalog.Mutation{Type: catalog.Delta, Entities: deferred(bad, good)})
			require.NoError(t, err)
			require.Len(t, res.Invalid, 1)
			require.ErrorContains(t, res.Invalid[0], `metadata.name "bad name" is not valid`)
			require.Len(t, res.Upserted, 1)
		})

		t.Run("delete by uid", func(t *testing.T) {
			got, err := s.GetByRef(ctx, web.Ref())
			require.NoError(t, err)
			require.NoError(t, s.DeleteByUID(ctx, got.Metadata.UID))
			require.ErrorIs(t, s.DeleteByUID(ctx, got.Metadata.UID), catalog.ErrNotFound)
			_, err = s.GetByRef(ctx, web.Ref())
			require.ErrorIs(t, err, catalog.ErrNotFound)
		})
	})
}

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, eventsvc.Event) error { return nil }

func (nopPublisher) PublishTx(context.Context, *sql.Tx, ...eventsvc.Event) (func(), error) {
	return func() {}, nil
}

func nopLog() zerolog.Logger { return zerolog.Nop() }

func TestLocationRefs(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, catalog.Migrations, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s, _ := newStore(t, db)
		at := func(key string, es ...catalog.Entity) []catalog.DeferredEntity {
			out := deferred(es...)
			for i := range out {
				out[i].LocationKey = key
			}
			return out
		}
		m := append(at("url:https://github.com/acme/a/blob/main/catalog-info.yaml", entity("Component", "a1", nil), entity("Component", "a2", nil)),
			at("url:https://github.com/acme/ab/blob/main/catalog-info.yaml", entity("Component", "ab", nil))...)
		_, err := s.ApplyMutation(ctx, "p", catalog.Mutation{Type: catalog.Full, Entities: m})
		require.NoError(t, err)
		refs, err := s.LocationRefs(ctx, "p", "url:https://github.com/acme/a/")
		require.NoError(t, err)
		require.Equal(t, []string{"component:default/a1", "component:default/a2"}, refs, "a prefix of another repo's name does not match")
		refs, err = s.LocationRefs(ctx, "other", "url:")
		require.NoError(t, err)
		require.Empty(t, refs)
	})
}

// TestKeysetPaging pages through entities by keyset in every direction, with values absent
// and tied, and filters with predicates, on SQLite and PostgreSQL: reading forwards from any
// page and backwards from the last gives every entity once, in order.
func TestKeysetPaging(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, catalog.Migrations, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s, _ := newStore(t, db)
		var es []catalog.Entity
		for i := range 9 {
			spec := map[string]any{"type": []string{"a", "b", "b"}[i%3]}
			if i%4 == 0 {
				spec = map[string]any{} // no spec.type: last in either direction
			}
			if i < 2 {
				spec["owner"] = "team-a"
			}
			es = append(es, entity("Component", fmt.Sprintf("c%d", i), spec))
		}
		es = append(es, entity("Group", "team-a", map[string]any{"type": "team"}))
		_, err := s.ApplyMutation(ctx, "p", catalog.Mutation{Type: catalog.Full, Entities: deferred(es...)})
		require.NoError(t, err)
		components, err := catalog.ParseFilters([]string{"kind=component"})
		require.NoError(t, err)
		for _, tc := range []struct {
			order []catalog.Order
			want  []string
		}{
			{nil, []string{"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"}},
			{[]catalog.Order{{Field: "spec.type"}}, []string{"c3", "c6", "c1", "c2", "c5", "c7", "c0", "c4", "c8"}},
			{[]catalog.Order{{Field: "spec.type", Desc: true}}, []string{"c1", "c2", "c5", "c7", "c3", "c6", "c0", "c4", "c8"}},
			{[]catalog.Order{{Field: "metadata.name", Desc: true}}, []string{"c8", "c7", "c6", "c5", "c4", "c3", "c2", "c1", "c0"}},
		} {
			name := func(es []catalog.Entity) []string {
				out := make([]string, len(es))
				for i, e := range es {
					out[i] = e.Metadata.Name
				}
				return out
			}
			// Forwards, two at a time.
			var seen []string
			var last *catalog.Keyset
			for {
				p, err := s.Page(ctx, catalog.Query{Filters: components, Order: tc.order, Limit: 2, After: last, SkipTotal: true})
				require.NoError(t, err)
				seen = append(seen, name(p.Entities)...)
				if !p.More {
					break
				}
				last = &p.Keys[len(p.Keys)-1]
			}
			require.Equal(t, tc.want, seen, "forwards by %v", tc.order)
			// Backwards from after the last, two at a time.
			all, err := s.Page(ctx, catalog.Query{Filters: components, Order: tc.order})
			require.NoError(t, err)
			require.Equal(t, tc.want, name(all.Entities))
			var back []string
			first := &all.Keys[len(all.Keys)-1]
			back = append(back, all.Entities[len(all.Entities)-1].Metadata.Name)
			for {
				p, err := s.Page(ctx, catalog.Query{Filters: components, Order: tc.order, Limit: 2, Before: first, SkipTotal: true})
				require.NoError(t, err)
				back = append(name(p.Entities), back...)
				if !p.More {
					break
				}
				first = &p.Keys[0]
			}
			require.Equal(t, tc.want, back, "backwards by %v", tc.order)
		}

		for _, tc := range []struct {
			query string
			want  int
		}{
			{`{"spec.type": "B"}`, 4},
			{`{"spec.type": {"$in": ["a", "b"]}}`, 6},
			{`{"spec.type": {"$exists": false}}`, 3},
			{`{"$not": {"spec.type": {"$exists": true}}}`, 3},
			{`{"metadata.name": {"$hasPrefix": "C"}, "spec.type": "a"}`, 2},
			{`{"$any": [{"metadata.name": "c1"}, {"metadata.name": "c2"}]}`, 2},
			{`{"$all": []}`, 10},
			{`{"$any": []}`, 0},
			{`{"spec.type": {"$in": []}}`, 0},
			{`{"kind": {"$in": []}}`, 0},
			{`{"metadata.name": {"$hasPrefix": "c_"}}`, 0},
			{`{"metadata.name": {"$hasPrefix": "%"}}`, 0},
			{`{"relations.ownedby": {"$hasPrefix": "group:default/team-"}}`, 2},
			{`{"relations.ownerof": {"$hasPrefix": "component:default/c"}}`, 1},
		} {
			p, err := catalog.ParsePredicate(json.RawMessage(tc.query))
			require.NoError(t, err, tc.query)
			_, total, err := s.Query(ctx, catalog.Query{Predicate: &p})
			require.NoError(t, err, tc.query)
			require.Equal(t, tc.want, total, tc.query)
		}
	})
}
