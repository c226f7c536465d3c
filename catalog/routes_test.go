package catalog_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
)

// files is a reader whose files the test changes, like a Git host after a push.
type files struct {
	mu sync.Mutex
	m  map[string]string
}

func (f *files) Reads(target string) bool { return strings.HasPrefix(target, "https://files.example/") }
func (f *files) Read(_ context.Context, target string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, ok := f.m[target]
	if !ok {
		return nil, fmt.Errorf("%s: not found", target)
	}
	return []byte(data), nil
}

func (f *files) put(target, data string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[target] = data
}

// componentFile is a catalog file of one Component.
func componentFile(name, owner string) string {
	return fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: service\n  lifecycle: production\n  owner: %s\n", name, owner)
}

func startWithFiles(t *testing.T, yaml string) (catalogApp, *files) {
	f := &files{m: map[string]string{}}
	a := startCatalog(t, yaml, fx.Provide(catalog.AsReader(func() catalog.Reader { return f })))
	return a, f
}

func (a catalogApp) register(target string) map[string]any {
	a.t.Helper()
	code, body := a.do(http.MethodPost, "/api/catalog/locations", map[string]string{"type": "url", "target": target})
	require.Equal(a.t, http.StatusCreated, code, body)
	return body.(map[string]any)["location"].(map[string]any)
}

func names(t *testing.T, items any) []string {
	t.Helper()
	var out []string
	for _, it := range items.([]any) {
		out = append(out, it.(map[string]any)["metadata"].(map[string]any)["name"].(string))
	}
	return out
}

// TestEntityShape: entities read from a location carry a namespace and the annotations
// Backstage writes; the location has a Location entity named as Backstage names it; the
// ancestry of an entity leads to it.
func TestEntityShape(t *testing.T) {
	t.Parallel()
	a, f := startWithFiles(t, "")
	const target = "https://files.example/acme/svc/blob/main/catalog-info.yaml"
	f.put(target, componentFile("svc", "team-a"))
	a.register(target)

	code, body := a.do(http.MethodGet, "/api/catalog/entities?filter=kind=component&fields=metadata.namespace,metadata.annotations", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []any{map[string]any{"metadata": map[string]any{"namespace": "default", "annotations": map[string]any{
		"backstage.io/managed-by-location":        "url:" + target,
		"backstage.io/managed-by-origin-location": "url:" + target,
		"backstage.io/view-url":                   target,
		"backstage.io/edit-url":                   "https://files.example/acme/svc/edit/main/catalog-info.yaml",
		"backstage.io/source-location":            "url:https://files.example/acme/svc/blob/main/",
	}}}}, body)

	// Backstage's name: generated-<sha1("url:<target>")>.
	locName := catalog.LocationEntityName("url", target)
	require.Regexp(t, `^generated-[0-9a-f]{40}$`, locName)
	code, body = a.do(http.MethodGet, "/api/catalog/entities/by-name/location/default/"+locName, nil)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, map[string]any{"type": "url", "target": target}, body.(map[string]any)["spec"])

	code, body = a.do(http.MethodGet, "/api/catalog/entities/by-name/component/default/svc/ancestry", nil)
	require.Equal(t, http.StatusOK, code, body)
	anc := body.(map[string]any)
	require.Equal(t, "component:default/svc", anc["rootEntityRef"])
	items := anc["items"].([]any)
	require.Len(t, items, 2)
	require.Equal(t, []any{"location:default/" + locName}, items[0].(map[string]any)["parentEntityRefs"])
	require.Equal(t, []any{}, items[1].(map[string]any)["parentEntityRefs"])
	require.Equal(t, "Location", items[1].(map[string]any)["entity"].(map[string]any)["kind"])

	code, _ = a.do(http.MethodGet, "/api/catalog/entities/by-name/component/default/nope/ancestry", nil)
	require.Equal(t, http.StatusNotFound, code)
}

// TestLocationRoutes: dry runs, by-entity, PUT, by-query, refresh and deletion of unknown
// entities, with Backstage's shapes and statuses.
func TestLocationRoutes(t *testing.T) {
	t.Parallel()
	a, f := startWithFiles(t, "")
	const one, two = "https://files.example/acme/one/blob/main/catalog-info.yaml", "https://files.example/acme/two/blob/main/catalog-info.yaml"
	f.put(one, componentFile("one", "team-a"))
	f.put(two, componentFile("two", "team-b"))

	t.Run("dry run", func(t *testing.T) {
		for _, registered := range []bool{false, true} {
			if registered {
				a.register(one)
			}
			code, body := a.do(http.MethodPost, "/api/catalog/locations?dryRun=true", map[string]string{"type": "url", "target": one})
			require.Equal(t, http.StatusCreated, code, body)
			b := body.(map[string]any)
			require.Equal(t, registered, b["exists"])
			require.Equal(t, "url:"+one, b["location"].(map[string]any)["id"])
			entities := b["entities"].([]any)
			require.Len(t, entities, 2)
			require.Equal(t, "Location", entities[0].(map[string]any)["kind"])
			meta := entities[1].(map[string]any)["metadata"].(map[string]any)
			require.Equal(t, "default", meta["namespace"])
			require.NotContains(t, meta, "uid", "a dry run stores nothing")
		}
		code, _ := a.do(http.MethodPost, "/api/catalog/locations", map[string]string{"type": "url", "target": one})
		require.Equal(t, http.StatusConflict, code)
	})

	var id string
	t.Run("by entity", func(t *testing.T) {
		code, body := a.do(http.MethodGet, "/api/catalog/locations/by-entity/component/default/one", nil)
		require.Equal(t, http.StatusOK, code, body)
		loc := body.(map[string]any)
		require.Equal(t, one, loc["target"])
		id = loc["id"].(string)
		code, _ = a.do(http.MethodGet, "/api/catalog/locations/by-entity/component/default/nope", nil)
		require.Equal(t, http.StatusNotFound, code)
	})

	t.Run("refresh", func(t *testing.T) {
		f.put(one, componentFile("one", "team-c"))
		w := a.request(http.MethodPost, "/api/catalog/refresh", map[string]string{"entityRef": "component:default/one"})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		require.Empty(t, w.Body.String())
		_, body := a.do(http.MethodGet, "/api/catalog/entities/by-name/component/default/one", nil)
		require.Equal(t, "team-c", body.(map[string]any)["spec"].(map[string]any)["owner"])
		code, _ := a.do(http.MethodPost, "/api/catalog/refresh", map[string]string{"entityRef": "component:default/nope"})
		require.Equal(t, http.StatusNotFound, code)
	})

	t.Run("put", func(t *testing.T) {
		_, before := a.do(http.MethodGet, "/api/catalog/locations/"+id, nil)
		code, body := a.do(http.MethodPut, "/api/catalog/locations/"+id, map[string]string{"type": "url", "target": two})
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, map[string]any{"id": id, "type": "url", "target": two, "entityRef": before.(map[string]any)["entityRef"]}, body, "the Location entity keeps its name")
		code, _ = a.do(http.MethodGet, "/api/catalog/entities/by-name/component/default/one", nil)
		require.Equal(t, http.StatusNotFound, code, "the old target's entities are gone")
		code, _ = a.do(http.MethodGet, "/api/catalog/entities/by-name/component/default/two", nil)
		require.Equal(t, http.StatusOK, code)
		code, _ = a.do(http.MethodPut, "/api/catalog/locations/nope", map[string]string{"type": "url", "target": one})
		require.Equal(t, http.StatusNotFound, code)
	})

	t.Run("by query", func(t *testing.T) {
		f.put("https://files.example/acme/three/blob/main/catalog-info.yaml", componentFile("three", "team-a"))
		three := a.register("https://files.example/acme/three/blob/main/catalog-info.yaml")
		code, body := a.do(http.MethodPost, "/api/catalog/locations/by-query", map[string]any{"limit": 1})
		require.Equal(t, http.StatusOK, code, body)
		page := body.(map[string]any)
		require.EqualValues(t, 2, page["totalItems"])
		require.Len(t, page["items"], 1)
		next := page["pageInfo"].(map[string]any)["nextCursor"].(string)
		code, body = a.do(http.MethodPost, "/api/catalog/locations/by-query", map[string]any{"cursor": next})
		require.Equal(t, http.StatusOK, code, body)
		require.Len(t, body.(map[string]any)["items"], 1)
		require.Empty(t, body.(map[string]any)["pageInfo"])

		code, body = a.do(http.MethodPost, "/api/catalog/locations/by-query", map[string]any{"query": map[string]any{"target": map[string]any{"$hasPrefix": "https://files.example/acme/th"}}})
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, []any{three}, body.(map[string]any)["items"])
		code, _ = a.do(http.MethodPost, "/api/catalog/locations/by-query", map[string]any{"query": map[string]any{"kind": "x"}})
		require.Equal(t, http.StatusBadRequest, code)
	})

	t.Run("delete an unknown entity", func(t *testing.T) {
		code, _ := a.do(http.MethodDelete, "/api/catalog/entities/by-uid/no-such-uid", nil)
		require.Equal(t, http.StatusNoContent, code, "as Backstage answers")
	})
}

// TestConfiguredLocationsAreNotListed: catalog.locations exist as Location entities, not in
// /locations, as in Backstage.
func TestConfiguredLocationsAreNotListed(t *testing.T) {
	t.Parallel()
	const target = "https://files.example/acme/cfg/blob/main/catalog-info.yaml"
	f := &files{m: map[string]string{target: componentFile("cfg", "team-a")}}
	a := startCatalog(t, "catalog:\n  locations:\n    - type: url\n      target: "+target+"\n", fx.Provide(catalog.AsReader(func() catalog.Reader { return f })))
	require.Eventually(t, func() bool {
		code, _ := a.do(http.MethodGet, "/api/catalog/entities/by-name/location/default/"+catalog.LocationEntityName("url", target), nil)
		return code == http.StatusOK
	}, 10e9, 10e6)
	code, body := a.do(http.MethodGet, "/api/catalog/locations", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []any{}, body)
	code, body = a.do(http.MethodPost, "/api/catalog/locations", map[string]string{"type": "url", "target": target})
	require.Equal(t, http.StatusConflict, code, body)
	require.Contains(t, body.(map[string]any)["error"].(map[string]any)["message"], "catalog.locations")
}

// TestValidateEntity: 200 with no body for a valid entity, else 400 {errors: [{name,
// message}]}.
func TestValidateEntity(t *testing.T) {
	t.Parallel()
	a, _ := startWithFiles(t, "")
	valid := map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": map[string]any{"name": "ok"}, "spec": map[string]any{"owner": "team-a"}}
	for _, tc := range []struct {
		name    string
		body    any
		errName string
		message string
	}{
		{"valid", map[string]any{"entity": valid, "location": "url:https://files.example/x.yaml"}, "", ""},
		{"bad name", map[string]any{"entity": map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": map[string]any{"name": "Bad Name!"}}, "location": "url:https://files.example/x.yaml"}, "InputError", `metadata.name "Bad Name!" is not valid`},
		{"no name", map[string]any{"entity": map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": map[string]any{}}, "location": "url:https://files.example/x.yaml"}, "TypeError", "must have required property 'name'"},
		{"bad location ref", map[string]any{"entity": valid, "location": "nowhere"}, "TypeError", "unable to parse location ref"},
		{"file location", map[string]any{"entity": valid, "location": "file:/tmp/x.yaml"}, "TypeError", "only 'url:<target>' is supported"},
		{"no location", map[string]any{"entity": valid}, "InputError", "the body must be JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := a.request(http.MethodPost, "/api/catalog/validate-entity", tc.body)
			if tc.errName == "" {
				require.Equal(t, http.StatusOK, w.Code, w.Body.String())
				require.Empty(t, w.Body.String())
				return
			}
			require.Equal(t, http.StatusBadRequest, w.Code)
			var out struct {
				Errors []struct{ Name, Message string } `json:"errors"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out), w.Body.String())
			require.Len(t, out.Errors, 1)
			require.Equal(t, tc.errName, out.Errors[0].Name)
			require.Contains(t, out.Errors[0].Message, tc.message)
		})
	}
}

// TestEntitiesPaging: GET /entities pages with after and a Link header, as Backstage 1.24
// does; by-query pages with a keyset cursor, which neither skips nor repeats an entity when
// entities are added before the page read next, and goes back with prevCursor.
func TestEntitiesPaging(t *testing.T) {
	t.Parallel()
	a, f := startWithFiles(t, "")
	const target = "https://files.example/acme/many/blob/main/catalog-info.yaml"
	var docs []string
	for i := range 5 {
		docs = append(docs, componentFile(fmt.Sprintf("svc-%d", i*2), "team-a"))
	}
	f.put(target, strings.Join(docs, "---\n"))
	a.register(target)

	t.Run("after and Link", func(t *testing.T) {
		var seen []string
		next := "/api/catalog/entities?filter=kind=component&limit=2&order=asc:metadata.name"
		for next != "" {
			w := a.request(http.MethodGet, next, nil)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			var page any
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &page))
			seen = append(seen, names(t, page)...)
			next = ""
			if m := regexp.MustCompile(`^<([^>]+)>; rel="next"$`).FindStringSubmatch(w.Header().Get("Link")); m != nil {
				next = m[1]
				u, err := url.Parse(next)
				require.NoError(t, err)
				raw, err := base64.StdEncoding.DecodeString(u.Query().Get("after"))
				require.NoError(t, err)
				require.Regexp(t, `^\{"limit":2,"offset":\d+\}$`, string(raw), "Backstage's after cursor")
			}
		}
		require.Equal(t, []string{"svc-0", "svc-2", "svc-4", "svc-6", "svc-8"}, seen)
	})

	t.Run("keyset cursor", func(t *testing.T) {
		code, body := a.do(http.MethodGet, "/api/catalog/entities/by-query?filter=kind=component&limit=2&orderField=metadata.name,asc", nil)
		require.Equal(t, http.StatusOK, code, body)
		first := body.(map[string]any)
		require.Equal(t, []string{"svc-0", "svc-2"}, names(t, first["items"]))
		// Entities that sort before the next page are added: an offset would repeat svc-2.
		f.put(target, strings.Join(append(docs, componentFile("svc-1", "team-a"), componentFile("svc-3", "team-a")), "---\n"))
		require.Equal(t, http.StatusOK, a.request(http.MethodPost, "/api/catalog/refresh", map[string]string{"entityRef": "component:default/svc-0"}).Code)
		code, body = a.do(http.MethodGet, "/api/catalog/entities/by-query?limit=2&cursor="+url.QueryEscape(first["pageInfo"].(map[string]any)["nextCursor"].(string)), nil)
		require.Equal(t, http.StatusOK, code, body)
		second := body.(map[string]any)
		require.Equal(t, []string{"svc-3", "svc-4"}, names(t, second["items"]))
		require.EqualValues(t, 5, second["totalItems"], "the count of the first page is carried")
		code, body = a.do(http.MethodGet, "/api/catalog/entities/by-query?limit=2&cursor="+url.QueryEscape(second["pageInfo"].(map[string]any)["prevCursor"].(string)), nil)
		require.Equal(t, http.StatusOK, code, body)
		back := body.(map[string]any)
		require.Equal(t, []string{"svc-1", "svc-2"}, names(t, back["items"]))
		require.Contains(t, back["pageInfo"], "prevCursor", "svc-0 comes before")
		require.Contains(t, back["pageInfo"], "nextCursor")
	})

	t.Run("descending, ties by ref across pages, and the entities without the field last", func(t *testing.T) {
		var seen []string
		cur := ""
		for range 10 {
			path := "/api/catalog/entities/by-query?limit=3&orderField=spec.owner,desc"
			if cur != "" {
				path = "/api/catalog/entities/by-query?limit=3&cursor=" + url.QueryEscape(cur)
			}
			code, body := a.do(http.MethodGet, path, nil)
			require.Equal(t, http.StatusOK, code, body)
			seen = append(seen, names(t, body.(map[string]any)["items"])...)
			n, ok := body.(map[string]any)["pageInfo"].(map[string]any)["nextCursor"]
			if !ok {
				break
			}
			cur = n.(string)
		}
		require.Equal(t, []string{"svc-0", "svc-1", "svc-2", "svc-3", "svc-4", "svc-6", "svc-8"}, seen[:7])
		require.Len(t, seen, 8)
		require.True(t, strings.HasPrefix(seen[7], "generated-"), "the Location entity has no spec.owner: %v", seen)
	})

	t.Run("POST by-query with a predicate", func(t *testing.T) {
		code, body := a.do(http.MethodPost, "/api/catalog/entities/by-query", map[string]any{
			"query":   map[string]any{"$all": []any{map[string]any{"kind": "component"}, map[string]any{"$not": map[string]any{"metadata.name": map[string]any{"$in": []string{"svc-0", "svc-1"}}}}}},
			"orderBy": []any{map[string]string{"field": "metadata.name", "order": "desc"}}, "limit": 2, "fields": []string{"metadata.name"},
		})
		require.Equal(t, http.StatusOK, code, body)
		page := body.(map[string]any)
		require.EqualValues(t, 5, page["totalItems"])
		require.Equal(t, []string{"svc-8", "svc-6"}, names(t, page["items"]))
		next := page["pageInfo"].(map[string]any)["nextCursor"].(string)
		raw, err := base64.StdEncoding.DecodeString(next)
		require.NoError(t, err)
		require.Contains(t, string(raw), `"query":`, "newer clients continue such a cursor through POST")
		code, body = a.do(http.MethodPost, "/api/catalog/entities/by-query", map[string]any{"cursor": next, "limit": 2})
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, []string{"svc-4", "svc-3"}, names(t, body.(map[string]any)["items"]))

		code, body = a.do(http.MethodPost, "/api/catalog/entity-facets", map[string]any{"facets": []string{"kind"}, "query": map[string]any{"metadata.name": map[string]any{"$hasPrefix": "SVC-"}}})
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, map[string]any{"facets": map[string]any{"kind": []any{map[string]any{"value": "Component", "count": float64(7)}}}}, body)

		for _, q := range []any{map[string]any{"$nope": 1}, map[string]any{"kind": map[string]any{"$in": "x"}}, map[string]any{"$all": []any{}, "kind": "x"}} {
			code, _ = a.do(http.MethodPost, "/api/catalog/entities/by-query", map[string]any{"query": q})
			require.Equal(t, http.StatusBadRequest, code, q)
		}
	})
}

// TestLocationChangesAreAllOrNothing: a PUT or POST that would take another location's entity
// changes nothing; a location's old target can be registered again after a PUT moved it.
func TestLocationChangesAreAllOrNothing(t *testing.T) {
	t.Parallel()
	a, f := startWithFiles(t, "")
	const one, two, three = "https://files.example/acme/one.yaml", "https://files.example/acme/two.yaml", "https://files.example/acme/three.yaml"
	f.put(one, componentFile("one", "team-a"))
	f.put(two, componentFile("two", "team-a"))
	f.put(three, componentFile("two", "team-b")) // also provides component two
	l1 := a.register(one)
	a.register(two)

	code, body := a.do(http.MethodPut, "/api/catalog/locations/"+l1["id"].(string), map[string]string{"type": "url", "target": three})
	require.Equal(t, http.StatusConflict, code, body)
	_, body = a.do(http.MethodGet, "/api/catalog/locations/"+l1["id"].(string), nil)
	require.Equal(t, one, body.(map[string]any)["target"], "the location still reads its old target")
	code, _ = a.do(http.MethodGet, "/api/catalog/entities/by-name/component/default/one", nil)
	require.Equal(t, http.StatusOK, code, "and still has its entity")
	code, _ = a.do(http.MethodPost, "/api/catalog/locations", map[string]string{"type": "url", "target": three})
	require.Equal(t, http.StatusConflict, code)
	code, body = a.do(http.MethodPost, "/api/catalog/locations/by-query", map[string]any{})
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 2, body.(map[string]any)["totalItems"], "the refused registration left no location behind")

	// Move one to a new file, then register one's old target again.
	const four = "https://files.example/acme/four.yaml"
	f.put(four, componentFile("four", "team-a"))
	code, body = a.do(http.MethodPut, "/api/catalog/locations/"+l1["id"].(string), map[string]string{"type": "url", "target": four})
	require.Equal(t, http.StatusOK, code, body)
	again := a.register(one)
	require.NotEqual(t, l1["entityRef"], again["entityRef"], "the moved location keeps its Location entity's name, so the new one gets another")
	code, _ = a.do(http.MethodGet, "/api/catalog/entities/by-name/component/default/one", nil)
	require.Equal(t, http.StatusOK, code)

	code, _ = a.do(http.MethodGet, "/api/catalog/entities?after="+base64.StdEncoding.EncodeToString([]byte(`{"limit":9223372036854775807,"offset":0}`)), nil)
	require.Equal(t, http.StatusBadRequest, code, "an after cursor's limit is bounded like the limit parameter")
}

// TestUnconfiguredLocationsAreRemoved: a location removed from catalog.locations goes, with
// its entities, at the next start, and its target can then be registered through the API.
func TestUnconfiguredLocationsAreRemoved(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, catalog.Migrations, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		store, _ := newStore(t, db)
		const target = "https://files.example/acme/cfg.yaml"
		f := &files{m: map[string]string{target: componentFile("cfg", "team-a")}}
		run := func(configured ...catalog.LocationConfig) *catalog.Locations {
			locs := catalog.NewLocations(store, []catalog.Reader{f}, nil, configured, t.TempDir(), zerolog.Nop(), prometheus.NewRegistry())
			require.NoError(t, locs.Start(ctx))
			t.Cleanup(func() { require.NoError(t, locs.Stop(ctx)) })
			return locs
		}
		run(catalog.LocationConfig{Type: catalog.LocationURL, Target: target})
		require.Eventually(t, func() bool {
			_, err := store.GetByRef(ctx, catalog.EntityRef{Kind: "component", Namespace: "default", Name: "cfg"})
			return err == nil
		}, 10*time.Second, 10*time.Millisecond)

		locs := run() // the next start, without it
		_, err := store.GetByRef(ctx, catalog.EntityRef{Kind: "component", Namespace: "default", Name: "cfg"})
		require.ErrorIs(t, err, catalog.ErrNotFound)
		_, err = store.GetByRef(ctx, catalog.EntityRef{Kind: "location", Namespace: "default", Name: catalog.LocationEntityName("url", target)})
		require.ErrorIs(t, err, catalog.ErrNotFound)
		loc, entities, err := locs.Add(ctx, catalog.LocationURL, target)
		require.NoError(t, err)
		require.Equal(t, target, loc.Target)
		require.Len(t, entities, 2)
	})
}
