package discovery_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/config/configtest"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/deadletter"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/eventsvc/memory"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
	"github.com/stagebus/stagebus/httpserver"
	"github.com/stagebus/stagebus/httpserver/httpservertest"
	"github.com/stagebus/stagebus/providers/github"
	"github.com/stagebus/stagebus/providers/github/discovery"
)

// fakeGitHub serves the parts of GitHub's REST API the providers use, with real-shaped JSON:
// an organization's repositories (paginated, 2 per page) and file contents; and organizations'
// members, users and teams (see orgprovider_test.go).
type fakeGitHub struct {
	mu        sync.Mutex
	srv       *httptest.Server
	repos     []string          // names, in acme
	files     map[string]string // "repo/path" → content
	limitOnce bool              // answer the next request 403 rate-limited
	requests  []string

	members map[string][]string   // org → logins
	users   map[string]fakeUser   // login → profile
	teams   map[string][]fakeTeam // org → teams
	broken  bool                  // answer organization requests 502
}

func newFakeGitHub(t testing.TB) *fakeGitHub {
	f := &fakeGitHub{files: map[string]string{}, members: map[string][]string{}, users: map[string]fakeUser{}, teams: map[string][]fakeTeam{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGitHub) set(repo, path, content string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if content == "" {
		delete(f.files, repo+"/"+path)
	} else {
		f.files[repo+"/"+path] = content
	}
}

func repoJSON(name string) map[string]any {
	return map[string]any{
		"id": len(name), "node_id": "R_" + name, "name": name, "full_name": "acme/" + name, "private": false,
		"owner":    map[string]any{"login": "acme", "id": 1, "type": "Organization"},
		"html_url": "https://github.test/acme/" + name, "description": "the " + name + " service", "fork": false,
		"default_branch": "main", "archived": false, "visibility": "public",
	}
}

func (f *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.URL.Path)
	if f.limitOnce {
		f.limitOnce = false
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Unix(), 10))
		http.Error(w, `{"message":"API rate limit exceeded"}`, http.StatusForbidden)
		return
	}
	switch {
	case r.URL.Path == "/orgs/acme/repos":
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		page = max(page, 1)
		var out []map[string]any
		for i := (page - 1) * 2; i < min(page*2, len(f.repos)); i++ {
			out = append(out, repoJSON(f.repos[i]))
		}
		if page*2 < len(f.repos) {
			w.Header().Set("Link", fmt.Sprintf(`<%s/orgs/acme/repos?per_page=100&type=all&page=%d>; rel="next"`, f.srv.URL, page+1))
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	case strings.HasPrefix(r.URL.Path, "/repos/acme/"):
		rest := strings.TrimPrefix(r.URL.Path, "/repos/acme/")
		repo, path, _ := strings.Cut(rest, "/contents/")
		content, ok := f.files[repo+"/"+path]
		if !ok || r.URL.Query().Get("ref") != "main" {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte(content))
	default:
		if !f.serveOrg(w, r) {
			http.NotFound(w, r)
		}
	}
}

func componentYAML(name, owner string) string {
	return fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: service\n  lifecycle: production\n  owner: %s\n", name, owner)
}

const catalogSecret = "catalog-e2e-secret"

type catalogStack struct {
	t       testing.TB
	srv     *httpserver.Server
	changes chan eventsvc.Event
}

// startCatalogStack starts the catalog with the github provider "main" on acme; more entries of
// catalog.providers (YAML indented by 4) may be given.
func startCatalogStack(t testing.TB, gh *fakeGitHub, moreProviders ...string) catalogStack {
	t.Helper()
	s := catalogStack{t: t, changes: make(chan eventsvc.Event, 100)}
	var svc *eventsvc.Service
	app := fxtest.New(t,
		fx.Supply(configtest.Tree(t, `
backend:
  listen:
    port: 0
  database:
    connection: ':memory:'
events:
  retry:
    maxAttempts: 3
    initialInterval: 10ms
    maxInterval: 50ms
  http:
    topics: [github]
  modules:
    github:
      webhookSecret: `+catalogSecret+`
integrations:
  github:
    - host: github.test
      apiBaseUrl: `+gh.srv.URL+`
      token: ghp_test
catalog:
  providers:
    github:
      main:
        organization: acme
        host: github.test
`+strings.Join(moreProviders, ""))),
		config.Module, fx.Supply(zerolog.Nop()), httpserver.Module, httpservertest.Module(httpservertest.User("user:default/ada", true)),
		database.Module, eventsvc.Module, memory.Module, sqlbus.Module, deadletter.Module, ingress.Module, catalog.Module, github.Module, discovery.Module,
		fx.Populate(&s.srv, &svc),
	)
	app.RequireStart()
	t.Cleanup(app.RequireStop)
	_, err := svc.Subscribe(context.Background(), eventsvc.Subscription{ID: "test-changes", Topics: []string{catalog.TopicEntityUpserted, catalog.TopicEntityDeleted},
		Handler: func(_ context.Context, e eventsvc.Event) error {
			select {
			case s.changes <- e:
			default: // nobody reads them (the benchmark)
			}
			return nil
		}})
	require.NoError(t, err)
	return s
}

// webhook sends a signed GitHub webhook and requires 202.
func (s catalogStack) webhook(event string, payload any) {
	s.t.Helper()
	body, err := json.Marshal(payload)
	require.NoError(s.t, err)
	mac := hmac.New(sha256.New, []byte(catalogSecret))
	mac.Write(body)
	r := httptest.NewRequest(http.MethodPost, "/api/events/http/github", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-GitHub-Event", event)
	r.Header.Set("X-GitHub-Delivery", uuid.NewString())
	r.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	w := httptest.NewRecorder()
	s.srv.Handler().ServeHTTP(w, r)
	require.Equal(s.t, http.StatusAccepted, w.Code, w.Body.String())
}

// entity reads an entity through the catalog API; nil when there is none.
func (s catalogStack) entity(name string) map[string]any {
	s.t.Helper()
	r := httpservertest.Authorize(httptest.NewRequest(http.MethodGet, "/api/catalog/entities/by-name/component/default/"+name, nil))
	w := httptest.NewRecorder()
	s.srv.Handler().ServeHTTP(w, r)
	if w.Code == http.StatusNotFound {
		return nil
	}
	require.Equal(s.t, http.StatusOK, w.Code, w.Body.String())
	var e map[string]any
	require.NoError(s.t, json.Unmarshal(w.Body.Bytes(), &e))
	return e
}

func (s catalogStack) waitFor(what string, cond func() bool) {
	s.t.Helper()
	require.Eventually(s.t, cond, 10*time.Second, 5*time.Millisecond, what)
}

// change waits for the next change-stream event of a ref.
func (s catalogStack) change(topic, ref string) {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-s.changes:
			if e.Topic == topic && e.Key == ref {
				return
			}
		case <-deadline:
			s.t.Fatalf("no %s event for %s", topic, ref)
		}
	}
}

func push(repo string, added, removed, modified []string) map[string]any {
	return map[string]any{
		"ref": "refs/heads/main", "before": strings.Repeat("a", 40), "after": strings.Repeat("b", 40),
		"repository": repoJSON(repo), "pusher": map[string]any{"name": "ada"}, "sender": map[string]any{"login": "ada"},
		"commits": []any{map[string]any{"id": strings.Repeat("b", 40), "message": "update catalog", "added": nonNil(added), "removed": nonNil(removed), "modified": nonNil(modified)}},
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func annotation(e map[string]any, key string) string {
	anns, _ := e["metadata"].(map[string]any)["annotations"].(map[string]any)
	v, _ := anns[key].(string)
	return v
}

// TestPushUpdatesTheCatalog: a signed github.push adding catalog-info.yaml makes the entity
// visible through the API, a push changing it updates it, a push removing it removes it, and
// repository.renamed moves it under the new URL; each change is on catalog.entity.*.
func TestPushUpdatesTheCatalog(t *testing.T) {
	gh := newFakeGitHub(t)
	gh.repos = []string{"widgets"}
	s := startCatalogStack(t, gh)
	const ref = "component:default/widgets"

	gh.set("widgets", "catalog-info.yaml", componentYAML("widgets", "team-a"))
	s.webhook("push", push("widgets", []string{"catalog-info.yaml"}, nil, nil))
	s.waitFor("the added entity is visible", func() bool { return s.entity("widgets") != nil })
	s.change(catalog.TopicEntityUpserted, ref)
	require.Equal(t, "url:https://github.test/acme/widgets/blob/main/catalog-info.yaml", annotation(s.entity("widgets"), catalog.AnnotationManagedByLocation))

	gh.set("widgets", "catalog-info.yaml", componentYAML("widgets", "team-b"))
	s.webhook("push", push("widgets", nil, nil, []string{"catalog-info.yaml", "README.md"}))
	s.waitFor("the modified file is read again now", func() bool {
		e := s.entity("widgets")
		return e != nil && e["spec"].(map[string]any)["owner"] == "team-b"
	})
	s.change(catalog.TopicEntityUpserted, ref)

	gh.set("widgets", "catalog-info.yaml", "")
	s.webhook("push", push("widgets", nil, []string{"catalog-info.yaml"}, nil))
	s.waitFor("the removed entity is gone", func() bool { return s.entity("widgets") == nil })
	s.change(catalog.TopicEntityDeleted, ref)

	gh.set("widgets", "catalog-info.yaml", componentYAML("widgets", "team-a"))
	s.webhook("push", push("widgets", []string{"catalog-info.yaml"}, nil, nil))
	s.waitFor("added again", func() bool { return s.entity("widgets") != nil })
	s.change(catalog.TopicEntityUpserted, ref)

	// The repository is renamed: GitHub serves the file under the new name.
	gh.set("gadgets", "catalog-info.yaml", componentYAML("widgets", "team-a"))
	gh.set("widgets", "catalog-info.yaml", "")
	renamed := map[string]any{"action": "renamed", "repository": repoJSON("gadgets"),
		"changes": map[string]any{"repository": map[string]any{"name": map[string]any{"from": "widgets"}}}, "sender": map[string]any{"login": "ada"}}
	s.webhook("repository", renamed)
	s.waitFor("the entity is under the new URL", func() bool {
		e := s.entity("widgets")
		return e != nil && annotation(e, catalog.AnnotationManagedByLocation) == "url:https://github.test/acme/gadgets/blob/main/catalog-info.yaml"
	})
	s.change(catalog.TopicEntityDeleted, ref)
	s.change(catalog.TopicEntityUpserted, ref)

	// Archiving removes it.
	archived := map[string]any{"action": "archived", "repository": repoJSON("gadgets"), "sender": map[string]any{"login": "ada"}}
	s.webhook("repository", archived)
	s.waitFor("archived repositories leave the catalog", func() bool { return s.entity("widgets") == nil })

	// Pushes to other branches, organizations or files are ignored.
	other := push("gadgets", []string{"catalog-info.yaml"}, nil, nil)
	other["ref"] = "refs/heads/feature"
	s.webhook("push", other)
	s.webhook("push", push("gadgets", []string{"docs/index.md"}, nil, nil))
	time.Sleep(200 * time.Millisecond)
	require.Nil(t, s.entity("widgets"))
}

// TestFullSync lists the organization's repositories through paginated API calls, waits out a
// rate limit, and replaces the provider's entities with what it found.
func TestFullSync(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	gh.repos = []string{"a", "b", "c", "d", "e"}
	for _, r := range []string{"a", "c", "e"} {
		gh.set(r, "catalog-info.yaml", componentYAML("svc-"+r, "team-a"))
	}
	gh.limitOnce = true
	db := databaseForTest(t)
	model, err := catalog.NewModel(nil)
	require.NoError(t, err)
	store := catalog.NewStore(db, &eventsvctest.Recorder{}, model, zerolog.Nop())
	var cfg discovery.ProviderConfig
	cfg.SetDefaults()
	cfg.Organization, cfg.Host = "acme", "github.test"
	p, err := discovery.NewEntityProvider("main", cfg, discovery.Integrations{{Host: "github.test", APIBaseURL: gh.srv.URL}}, store, zerolog.Nop())
	require.NoError(t, err)
	require.NoError(t, p.Sync(context.Background()))
	es, total, err := store.Query(context.Background(), catalog.Query{Order: []catalog.Order{{Field: "metadata.name"}}})
	require.NoError(t, err)
	require.Equal(t, 3, total)
	require.Equal(t, "svc-a", es[0].Metadata.Name)
	gh.mu.Lock()
	pages := 0
	for _, r := range gh.requests {
		if r == "/orgs/acme/repos" {
			pages++
		}
	}
	gh.mu.Unlock()
	require.Equal(t, 4, pages, "3 pages, one of them asked twice after the rate limit")

	gh.set("c", "catalog-info.yaml", "")
	require.NoError(t, p.Sync(context.Background()))
	_, total, err = store.Query(context.Background(), catalog.Query{})
	require.NoError(t, err)
	require.Equal(t, 2, total, "a full sync removes what is gone")
}
