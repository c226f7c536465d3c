package catalogpage_test

import (
	"bufio"
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/console"
	"github.com/stagebus/stagebus/console/catalogpage"
	"github.com/stagebus/stagebus/console/i18n"
	"github.com/stagebus/stagebus/console/pagetest"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
	"github.com/stagebus/stagebus/httpserver/httpservertest"
)

// fakeTail is an event history the test appends to.
type fakeTail struct {
	mu      sync.Mutex
	entries []sqlbus.Entry
}

func (f *fakeTail) add(topic, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, sqlbus.Entry{Seq: int64(len(f.entries) + 1), Topic: topic, Key: key, Time: time.Now()})
}

func (f *fakeTail) Last(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(len(f.entries)), nil
}

func (f *fakeTail) After(_ context.Context, after int64, limit int) ([]sqlbus.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sqlbus.Entry
	for _, e := range f.entries {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (f *fakeTail) Recent(_ context.Context, topic string, before int64, limit int) ([]sqlbus.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sqlbus.Entry
	for i := len(f.entries) - 1; i >= 0 && len(out) < limit; i-- {
		if e := f.entries[i]; e.Topic == topic && (before == 0 || e.Seq < before) {
			out = append(out, e)
		}
	}
	return out, nil
}

// flood adds, at once, before webhook events, a change of the entity key and after webhook
// events: more than a live stream shows in one update.
func (f *fakeTail) flood(before int, key string, after int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range before + 1 + after {
		e := sqlbus.Entry{Seq: int64(len(f.entries) + 1), Topic: "github.push", Key: "acme/web", Time: time.Now()}
		if i == before {
			e.Topic, e.Key = catalog.TopicEntityUpserted, key
		}
		f.entries = append(f.entries, e)
	}
}

func entity(kind, name string, spec map[string]any) catalog.Entity {
	return catalog.Entity{APIVersion: "backstage.io/v1alpha1", Kind: kind, Metadata: catalog.Metadata{Name: name}, Spec: spec}
}

// services is how many components besides web the catalog has: more than a page of the
// list, and more than a side of the graph.
const services = 60

// newCatalog is a catalog on SQLite: a team owning a system, a website, its API and many
// services, and a member.
func newCatalog(t *testing.T) *catalog.Store {
	t.Helper()
	db := databasetest.SQLite(t, catalog.Migrations)
	model, err := catalog.NewModel(nil)
	require.NoError(t, err)
	store := catalog.NewStore(db, &eventsvctest.Recorder{}, model, zerolog.Nop())
	team := entity("Group", "team-a", map[string]any{"type": "team", "children": []any{}})
	team.Metadata.Title = "Team A"
	web := entity("Component", "web", map[string]any{"type": "website", "lifecycle": "production", "owner": "team-a", "system": "shop",
		"providesApis": []any{"shop-api"}, "replicas": 3.0, "ports": []any{map[string]any{"port": 80.0}}})
	web.Metadata.Description = "The shop's website"
	web.Metadata.Tags = []string{"website", "java"}
	web.Metadata.Labels = map[string]string{"tier": "frontend"}
	web.Metadata.Links = []catalog.Link{{URL: "https://docs.example.com/web", Title: "Docs"}, {URL: "javascript:alert(1)", Title: "Evil"}}
	api := entity("API", "shop-api", map[string]any{"type": "openapi", "lifecycle": "production", "owner": "team-a", "system": "shop",
		"definition": "openapi: 3.0.0\ninfo:\n  title: Shop <API>\n"})
	system := entity("System", "shop", map[string]any{"owner": "team-a"})
	ada := entity("User", "ada", map[string]any{"memberOf": []any{"team-a"}})
	ds := []catalog.DeferredEntity{
		{Entity: team, LocationKey: "file:/srv/catalog/org.yaml"},
		{Entity: web, LocationKey: "url:https://github.com/acme/shop/blob/main/catalog-info.yaml"},
		{Entity: api, LocationKey: "test"}, {Entity: system, LocationKey: "test"}, {Entity: ada, LocationKey: "test"},
	}
	for i := range services {
		ds = append(ds, catalog.DeferredEntity{Entity: entity("Component", fmt.Sprintf("svc-%02d", i), map[string]any{"type": "service", "owner": "group:team-a"}), LocationKey: "test"})
	}
	res, err := store.ApplyMutation(context.Background(), "test", catalog.Mutation{Type: catalog.Full, Entities: ds})
	require.NoError(t, err)
	require.Empty(t, res.Invalid)
	return store
}

// newServer serves the console with the Catalog section as user (alice is an admin).
func newServer(t *testing.T, store *catalog.Store, tail console.Tail, user string) http.Handler {
	t.Helper()
	if tail == nil {
		tail = &fakeTail{}
	}
	return pagetest.Serve(t, user, console.Options{Sections: []console.Section{catalogpage.NewSection(store)}, Tail: tail})
}

func get(t *testing.T, h http.Handler, target, lang string) *httptest.ResponseRecorder {
	t.Helper()
	return pagetest.Get(t, h, target, "Accept-Language", lang)
}

func TestMessages(t *testing.T) {
	t.Parallel()
	require.NoError(t, i18n.CheckSource(catalogpage.Messages))
}

// TestPages renders every page in English and German, for an admin and for someone who is
// not: the Catalog is for everyone signed in.
func TestPages(t *testing.T) {
	t.Parallel()
	store := newCatalog(t)
	servers := map[string]http.Handler{"admin": newServer(t, store, nil, pagetest.Admin), "user": newServer(t, store, nil, pagetest.User)}
	for _, tc := range []struct {
		name     string
		target   string
		status   int
		en, de   []string
		excludes []string
	}{
		{"list", "/catalog", 200,
			[]string{`<h1>Catalog</h1>`, `<caption>65 entities</caption>`, `aria-current="page">Catalog</a>`, `<option value="Component">Component (61)</option>`,
				`<option value="team-a">team-a (3)</option>`, `<option value="group:team-a">group:team-a (60)</option>`, `<a href="/catalog/default/api/shop-api">shop-api</a>`, `<a href="/catalog/default/group/team-a">team-a</a>`,
				`<a href="/catalog/default/group/team-a">group:team-a</a>`, `id="next"`, `data-live="catalog"`, `class="filters"`},
			[]string{`<h1>Katalog</h1>`, `<caption>65 Entitäten</caption>`, `Alle Arten`, `>Weiter</a>`},
			[]string{`id="previous"`, `id="clear"`}},
		{"filtered by kind", "/catalog?kind=component", 200,
			[]string{`<caption>61 entities</caption>`, `<option value="Component" selected>`, `id="clear"`},
			[]string{`<caption>61 Entitäten</caption>`, `Filter zurücksetzen`}, []string{`<a href="/catalog/default/api/shop-api">`}},
		{"filtered by owner and text", "/catalog?owner=TEAM-A&q=shop", 200,
			[]string{`<caption>3 entities</caption>`, `<option value="team-a" selected>`, `value="shop"`, `href="/catalog/default/api/shop-api"`, `href="/catalog/default/system/shop"`, `href="/catalog/default/component/web"`},
			[]string{`<caption>3 Entitäten</caption>`}, []string{`id="next"`}},
		{"nothing matches", "/catalog?kind=nope", 200,
			[]string{`No entity matches these filters.`, `<option value="nope" selected>nope (0)</option>`},
			[]string{`Keine Entität passt zu diesen Filtern.`}, []string{`<table`}},
		{"bad position", "/catalog?after=::", 400, []string{`is not an entity ref`}, []string{`Fehler 400`}, nil},
		{"entity", "/catalog/default/component/web", 200,
			[]string{`<h1>web</h1>`, `<code id="entity-ref">component:default/web</code>`, `<p id="entity-description">The shop&#39;s website</p>`,
				`data-live="entity:component:default/web"`, `<div id="entity-changed" class="notice changed" hidden></div>`,
				`<li>website</li><li>java</li>`, `<a href="https://docs.example.com/web">Docs</a>`, `<th scope="row"><code>tier</code></th><td>frontend</td>`,
				`<dt>replicas</dt><dd>3</dd>`, `<dt>ports</dt><dd><code>[{&#34;port&#34;:80}]</code></dd>`, `<dt>providesApis</dt><dd>shop-api</dd>`,
				`<a href="https://github.com/acme/shop/blob/main/catalog-info.yaml">url:https://github.com/acme/shop/blob/main/catalog-info.yaml</a>`,
				`<a href="https://github.com/acme/shop/blob/main/">url:https://github.com/acme/shop/blob/main/</a>`,
				`<dt data-relation="ownedBy">owned by</dt><dd><ul><li><a href="/catalog/default/group/team-a">group:default/team-a</a></li></ul></dd>`,
				`<dt data-relation="providesApi">provides API</dt>`, `<dt data-relation="partOf">part of</dt>`,
				`<svg class="graph" id="graph" width="1100" viewBox="0 0 1100 144" aria-labelledby="graph-t" aria-describedby="graph-d">`,
				`<title id="graph-t">Relations of component:default/web</title>`,
				`<a class="node" href="/catalog/default/group/team-a" aria-label="owned by: group:default/team-a">`,
				`<a class="node" href="/catalog/default/system/shop" aria-label="part of: system:default/shop">`,
				`<a class="node" href="/catalog/default/api/shop-api" aria-label="provides API: api:default/shop-api">`,
				`<g class="node self"><rect x="450" y="57" width="200" height="30" rx="4"/><text x="460" y="76">component:web</text></g>`},
			[]string{`Beziehungen`, `<dt data-relation="ownedBy">im Besitz von</dt>`, `Spezifikation`, `aria-label="stellt API bereit: api:default/shop-api"`,
				`<title id="graph-t">Beziehungen von component:default/web</title>`},
			[]string{`javascript:`, `Evil`, `class="label more"`}},
		{"entity's name in any case", "/catalog/Default/COMPONENT/Web", 200, []string{`<h1>web</h1>`}, []string{`<h1>web</h1>`}, nil},
		{"multi-line spec", "/catalog/default/api/shop-api", 200,
			[]string{"<pre tabindex=\"0\">openapi: 3.0.0\ninfo:\n  title: Shop &lt;API&gt;\n</pre>", `<dt data-relation="apiProvidedBy">API provided by</dt>`,
				// web declares providesApi: it is drawn on the left, its edge labelled as web sees it.
				`aria-label="API provided by: component:default/web"`, `>provides API</text>`, `<p>This entity names no location.</p>`},
			[]string{`API bereitgestellt von`, `Diese Entität nennt keinen Ort.`}, nil},
		{"many relations", "/catalog/default/group/team-a", 200,
			[]string{`<h1>Team A</h1>`, `<dt>Title</dt><dd>Team A</dd>`, `<dt>children</dt><dd><span class="muted">none</span></dd>`, `<text class="label more" x="18" y="1236">and 34 more</text>`,
				`<a href="/catalog/default/component/svc-59">component:default/svc-59</a>`, `<code>file:/srv/catalog/org.yaml</code>`,
				`aria-label="has member: user:default/ada"`, `>member of</text>`},
			[]string{`und 34 weitere`}, []string{`href="file:`}},
		{"no relations", "/catalog/default/location/none", 404, []string{`no entity location:default/none in the catalog`}, []string{`Fehler 404`}, nil},
	} {
		for _, who := range []string{"admin", "user"} {
			for _, lang := range []string{"en", "de"} {
				t.Run(tc.name+"/"+who+"/"+lang, func(t *testing.T) {
					t.Parallel()
					w := get(t, servers[who], tc.target, lang)
					body := w.Body.String()
					require.Equal(t, tc.status, w.Code, body)
					want := tc.en
					if lang == "de" {
						want = tc.de
						require.Contains(t, body, `<html lang="de">`)
					}
					for _, s := range want {
						require.Contains(t, body, s)
					}
					for _, s := range tc.excludes {
						require.NotContains(t, body, s)
					}
				})
			}
		}
	}
}

var rowLink = regexp.MustCompile(`<th scope="row"><a href="/catalog/([^"]+)">`)

// TestListPaging: Next walks the whole catalog in name order, each entity once; Previous
// comes back.
func TestListPaging(t *testing.T) {
	t.Parallel()
	h := newServer(t, newCatalog(t), nil, pagetest.User)
	pageOf := func(target string) (rows []string, previous, next string) {
		body := get(t, h, target, "en").Body.String()
		for _, m := range rowLink.FindAllStringSubmatch(body, -1) {
			rows = append(rows, m[1])
		}
		if m := regexp.MustCompile(`<a href="([^"]+)" rel="prev"`).FindStringSubmatch(body); m != nil {
			previous = html.UnescapeString(m[1])
		}
		if m := regexp.MustCompile(`<a href="([^"]+)" rel="next"`).FindStringSubmatch(body); m != nil {
			next = html.UnescapeString(m[1])
		}
		return rows, previous, next
	}
	first, previous, next := pageOf("/catalog")
	require.Len(t, first, 50)
	require.Empty(t, previous)
	require.Equal(t, "/catalog?after=component%3Adefault%2Fsvc-46", next)
	second, previous, next := pageOf(next)
	require.Len(t, second, 15)
	require.Empty(t, next)
	require.Equal(t, []string{"default/component/svc-47", "default/component/svc-48"}, second[:2])
	require.Equal(t, []string{"default/group/team-a", "default/component/web"}, second[13:])
	back, previous, next := pageOf(previous)
	require.Equal(t, first, back)
	require.Empty(t, previous, "the first page has nothing before it")
	require.NotEmpty(t, next)

	// Filters stay in the links.
	_, _, next = pageOf("/catalog?kind=Component&q=svc")
	require.Equal(t, "/catalog?after=component%3Adefault%2Fsvc-49&kind=Component&q=svc", next)
	rows, previous, next := pageOf(next)
	require.Len(t, rows, 10)
	require.Empty(t, next)
	require.Equal(t, "/catalog?before=component%3Adefault%2Fsvc-50&kind=Component&q=svc", previous)
}

// TestLive: an open entity page learns that its entity changed, or was removed, from the
// change stream's events keyed by its ref; the list learns of any change.
func TestLive(t *testing.T) {
	t.Parallel()
	tail := &fakeTail{}
	tail.add("github.push", "acme/web")
	srv := httptest.NewServer(newServer(t, newCatalog(t), tail, pagetest.User))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/live?ch=entity:Component:default/WEB,catalog", nil)
	require.NoError(t, err)
	r.Header.Set("Last-Event-ID", "1") // after the push, whenever the stream starts
	resp, err := http.DefaultClient.Do(httpservertest.Authorize(r))
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func() string {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				require.True(t, ok, "the stream ended")
				if strings.HasPrefix(l, "data: ") {
					return l
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no update within 10 s")
			}
		}
	}

	tail.add(catalog.TopicEntityUpserted, "component:default/other")
	got := next()
	require.Contains(t, got, `"target":"#catalog-changed"`, "another entity changed: the list's banner only")
	require.Contains(t, got, `The catalog has changed.`)
	tail.add(catalog.TopicEntityUpserted, "component:default/web")
	entity := next()
	require.Contains(t, entity, `"target":"#entity-changed"`)
	require.Contains(t, entity, `"show":"#entity-changed"`)
	require.Contains(t, entity, `"position":"replace"`)
	require.Contains(t, entity, `This entity has changed. \u003ca href=\"\" id=\"entity-reload\"\u003eReload\u003c/a\u003e`)
	require.Contains(t, entity, `"announce":"This entity has changed."`)
	require.Contains(t, next(), `#catalog-changed`)
	tail.add(catalog.TopicEntityDeleted, "component:default/web")
	require.Contains(t, next(), `This entity has been removed from the catalog.`)
	require.Contains(t, next(), `#catalog-changed`)

	// A change among a flood of webhooks, which the stream skips, still shows.
	tail.flood(30, "component:default/web", 100)
	require.Contains(t, next(), `This entity has changed.`)
}
