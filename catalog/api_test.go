package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

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
	"github.com/stagebus/stagebus/eventsvc/memory"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
	"github.com/stagebus/stagebus/httpserver"
	"github.com/stagebus/stagebus/httpserver/httpservertest"
)

// staticReader serves url locations from memory, like a Git host would.
type staticReader map[string]string

func (s staticReader) Reads(target string) bool { _, ok := s[target]; return ok }
func (s staticReader) Read(_ context.Context, target string) ([]byte, error) {
	return []byte(s[target]), nil
}

const catalogInfo = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: artist-web
  tags: [java]
spec:
  type: website
  lifecycle: production
  owner: team-a
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-a
spec:
  type: team
`

type catalogApp struct {
	t   *testing.T
	srv *httpserver.Server
	svc *eventsvc.Service
}

// startCatalog runs the catalog with the real modules, a test authenticator, a reader for
// https://git.example/… locations, and the given extra options.
func startCatalog(t *testing.T, yaml string, extra ...fx.Option) catalogApp {
	t.Helper()
	a := catalogApp{t: t}
	opts := []fx.Option{
		fx.Supply(configtest.Tree(t, "backend:\n  listen:\n    port: 0\n  database:\n    connection: ':memory:'\n"+yaml)),
		config.Module, fx.Supply(zerolog.Nop()),
		httpserver.Module, httpservertest.Module(httpservertest.User("user:default/ada", true)),
		database.Module, eventsvc.Module, memory.Module, sqlbus.Module, deadletter.Module, catalog.Module,
		fx.Provide(catalog.AsReader(func() catalog.Reader {
			return staticReader{"https://git.example/acme/artist-web/blob/main/catalog-info.yaml": catalogInfo,
				"https://git.example/acme/bad/blob/main/catalog-info.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: Bad_Name!\n"}
		})),
		fx.Populate(&a.srv, &a.svc),
	}
	app := fxtest.New(t, append(opts, extra...)...)
	app.RequireStart()
	t.Cleanup(app.RequireStop)
	return a
}

func (a catalogApp) do(method, path string, body any) (int, any) {
	a.t.Helper()
	w := a.request(method, path, body)
	var out any
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	return w.Code, out
}

// request sends a request as the test user and returns the recorded response.
func (a catalogApp) request(method, path string, body any) *httptest.ResponseRecorder {
	a.t.Helper()
	var rdr *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(a.t, err)
		rdr = bytes.NewReader(b)
	} else {
		rdr = bytes.NewReader(nil)
	}
	r := httpservertest.Authorize(httptest.NewRequest(method, path, rdr))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	a.srv.Handler().ServeHTTP(w, r)
	return w
}

func TestCatalogAPI(t *testing.T) {
	t.Parallel()
	a := startCatalog(t, "")
	code, body := a.do(http.MethodPost, "/api/catalog/locations", map[string]string{"type": "url", "target": "https://git.example/acme/artist-web/blob/main/catalog-info.yaml"})
	require.Equal(t, http.StatusCreated, code, body)
	loc := body.(map[string]any)["location"].(map[string]any)
	require.Len(t, body.(map[string]any)["entities"], 3, "the location's Location entity, then the two of its file")

	code, _ = a.do(http.MethodPost, "/api/catalog/locations", map[string]string{"type": "url", "target": "https://git.example/acme/artist-web/blob/main/catalog-info.yaml"})
	require.Equal(t, http.StatusConflict, code, "the same location twice")
	code, _ = a.do(http.MethodPost, "/api/catalog/locations", map[string]string{"type": "file", "target": "/etc/passwd"})
	require.Equal(t, http.StatusBadRequest, code, "file locations only come from configuration")
	code, body = a.do(http.MethodPost, "/api/catalog/locations", map[string]string{"type": "url", "target": "https://elsewhere.example/x.yaml"})
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body.(map[string]any)["error"].(map[string]any)["message"], "no integration can read this location")
	code, body = a.do(http.MethodPost, "/api/catalog/locations", map[string]string{"type": "url", "target": "https://git.example/acme/bad/blob/main/catalog-info.yaml"})
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body.(map[string]any)["error"].(map[string]any)["message"], `metadata.name "Bad_Name!" is not valid`)

	code, body = a.do(http.MethodGet, "/api/catalog/entities/by-name/component/default/artist-web", nil)
	require.Equal(t, http.StatusOK, code)
	web := body.(map[string]any)
	uid := web["metadata"].(map[string]any)["uid"].(string)
	require.NotEmpty(t, uid)
	require.Contains(t, web["relations"], map[string]any{"type": "ownedBy", "targetRef": "group:default/team-a"})

	code, body = a.do(http.MethodGet, "/api/catalog/entities?filter=kind=component&fields=kind,metadata.name", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []any{map[string]any{"kind": "Component", "metadata": map[string]any{"name": "artist-web"}}}, body)

	code, body = a.do(http.MethodGet, "/api/catalog/entities/by-query?limit=1&orderField=metadata.name,asc&filter=kind=component&filter=kind=group", nil)
	require.Equal(t, http.StatusOK, code)
	page := body.(map[string]any)
	require.EqualValues(t, 2, page["totalItems"])
	require.Equal(t, "artist-web", page["items"].([]any)[0].(map[string]any)["metadata"].(map[string]any)["name"])
	next := page["pageInfo"].(map[string]any)["nextCursor"].(string)
	code, body = a.do(http.MethodGet, "/api/catalog/entities/by-query?cursor="+next, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "team-a", body.(map[string]any)["items"].([]any)[0].(map[string]any)["metadata"].(map[string]any)["name"])
	require.NotContains(t, body.(map[string]any)["pageInfo"], "nextCursor")
	require.Contains(t, body.(map[string]any)["pageInfo"], "prevCursor")

	code, body = a.do(http.MethodPost, "/api/catalog/entities/by-refs/", map[string]any{"entityRefs": []string{"group:team-a", "component:default/nope"}, "fields": []string{"metadata.name"}})
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, map[string]any{"items": []any{map[string]any{"metadata": map[string]any{"name": "team-a"}}, nil}}, body)

	code, body = a.do(http.MethodGet, "/api/catalog/entity-facets?facet=kind&filter=metadata.tags.java", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, map[string]any{"facets": map[string]any{"kind": []any{map[string]any{"value": "Component", "count": float64(1)}}}}, body)

	code, body = a.do(http.MethodGet, "/api/catalog/locations", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []any{map[string]any{"data": loc}}, body)

	code, _ = a.do(http.MethodDelete, "/api/catalog/entities/by-uid/"+uid, nil)
	require.Equal(t, http.StatusNoContent, code)
	code, _ = a.do(http.MethodGet, "/api/catalog/entities/by-uid/"+uid, nil)
	require.Equal(t, http.StatusNotFound, code)

	code, _ = a.do(http.MethodDelete, "/api/catalog/locations/"+loc["id"].(string), nil)
	require.Equal(t, http.StatusNoContent, code)
	code, body = a.do(http.MethodGet, "/api/catalog/entities", nil)
	require.Equal(t, http.StatusOK, code)
	require.Empty(t, body, "deleting the location removed its entities")

	for _, bad := range []string{"/api/catalog/entities?order=sideways:name", "/api/catalog/entities/by-query?cursor=zzz", "/api/catalog/entities?limit=-1",
		"/api/catalog/entities?after=zzz", "/api/catalog/entity-facets", "/api/catalog/entities/by-query?totalItems=maybe"} {
		code, _ = a.do(http.MethodGet, bad, nil)
		require.Equal(t, http.StatusBadRequest, code, bad)
	}
}

func TestConfiguredFileLocation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "catalog-info.yaml")
	require.NoError(t, os.WriteFile(path, []byte(catalogInfo), 0o600))
	a := startCatalog(t, "catalog:\n  locations:\n    - type: file\n      target: "+path+"\n")
	require.Eventually(t, func() bool {
		code, _ := a.do(http.MethodGet, "/api/catalog/entities/by-name/component/default/artist-web", nil)
		return code == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond)
}

// TestModelExtension: a module replaces the entity name rule through fx, allowing a name the
// default rules refuse.
func TestModelExtension(t *testing.T) {
	t.Parallel()
	loose := regexp.MustCompile(`^[A-Za-z0-9_!-]{1,100}$`)
	a := startCatalog(t, "", fx.Provide(catalog.AsModelExtension(func() catalog.ModelExtension {
		return catalog.ModelExtension{Name: "loose-names", Validators: catalog.Validators{EntityName: loose.MatchString}}
	})))
	code, body := a.do(http.MethodPost, "/api/catalog/locations", map[string]string{"type": "url", "target": "https://git.example/acme/bad/blob/main/catalog-info.yaml"})
	require.Equal(t, http.StatusCreated, code, body)
	code, _ = a.do(http.MethodGet, "/api/catalog/entities/by-name/component/default/Bad_Name!", nil)
	require.Equal(t, http.StatusOK, code)
}
