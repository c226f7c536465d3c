package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/console/consoletest"
)

// TestConsoleCatalog walks the Catalog pages as the guest: filter the example catalog by
// kind, open the website, read its relations as a list and as a graph, in English and
// German; then the entity changes through the catalog API while its page is open, and the
// page says so without reloading.
func TestConsoleCatalog(t *testing.T) {
	t.Parallel()
	a := startConsoleApp(t)
	ctx := consoletest.Tab(t, consoletest.TabOptions{AcceptLanguage: "en-GB"})

	consoletest.Navigate(t, ctx, a.url+"/catalog")
	consoletest.Click(t, ctx, "#signin-guest")
	consoletest.WaitText(t, ctx, "main h1", "Catalog")
	require.Equal(t, a.url+"/catalog", consoletest.Location(t, ctx))
	// The example file is read in the background once the app has started.
	waitReload(t, ctx, "#entities", "example-website")

	// Filter by kind: the website is the only component.
	consoletest.SetValue(t, ctx, "#kind", "Component")
	consoletest.Click(t, ctx, "#filter")
	consoletest.WaitText(t, ctx, "#entities caption", "1 entity")
	require.Equal(t, a.url+"/catalog?kind=Component&owner=&q=", consoletest.Location(t, ctx))
	row := consoletest.Text(t, ctx, "#entities tbody tr")
	for _, s := range []string{"example-website", "Component", "website", "guests", "An example website"} {
		require.Contains(t, row, s)
	}
	consoletest.Screenshot(t, ctx, "catalog-en")

	// The website's page: relations as a list, and as a graph whose nodes are links.
	consoletest.Click(t, ctx, `#entities a[href="/catalog/default/component/example-website"]`)
	consoletest.WaitText(t, ctx, "main h1", "example-website")
	require.Equal(t, "component:default/example-website", consoletest.Text(t, ctx, "#entity-ref"))
	relations := consoletest.Text(t, ctx, "#relations")
	for _, s := range []string{"owned by", "group:default/guests", "part of", "system:default/examples", "provides API", "api:default/example-api"} {
		require.Contains(t, relations, s)
	}
	require.Contains(t, consoletest.Text(t, ctx, "#spec"), "experimental")
	require.Contains(t, consoletest.Text(t, ctx, "#source"), "examples/entities.yaml")
	require.Equal(t, "Relations of component:default/example-website", consoletest.Eval[string](t, ctx, `document.getElementById("graph-t").textContent`))
	for href, label := range map[string]string{
		"/catalog/default/group/guests":    "owned by: group:default/guests",
		"/catalog/default/system/examples": "part of: system:default/examples",
		"/catalog/default/api/example-api": "provides API: api:default/example-api",
	} {
		require.Equal(t, label, consoletest.Attr(t, ctx, `svg#graph a.node[href="`+href+`"]`, "aria-label"))
	}
	require.Equal(t, 3, consoletest.Eval[int](t, ctx, `document.querySelectorAll("svg#graph a.node").length`))
	// Drawn, not just present: the nodes have a size on the page.
	require.Positive(t, consoletest.Eval[float64](t, ctx, `document.querySelector('svg#graph a.node[href="/catalog/default/group/guests"]').getBoundingClientRect().width`))
	consoletest.Screenshot(t, ctx, "entity-en")

	// The graph's node leads to the owner, whose graph has the website on its left.
	consoletest.Click(t, ctx, `svg#graph a.node[href="/catalog/default/group/guests"]`)
	consoletest.WaitText(t, ctx, "main h1", "guests")
	require.Equal(t, "owner of: component:default/example-website",
		consoletest.Attr(t, ctx, `svg#graph a.node[href="/catalog/default/component/example-website"]`, "aria-label"))
	consoletest.Navigate(t, ctx, a.url+"/catalog/default/component/example-website")

	// German.
	consoletest.Click(t, ctx, `form.lang button[value="de"]`)
	consoletest.WaitText(t, ctx, "#relations-h", "Beziehungen")
	require.Equal(t, "de", consoletest.Attr(t, ctx, "html", "lang"))
	require.Contains(t, consoletest.Text(t, ctx, "#relations"), "im Besitz von")
	require.Contains(t, consoletest.Text(t, ctx, "#metadata"), "Namensraum")
	require.Equal(t, "Beziehungen von component:default/example-website", consoletest.Eval[string](t, ctx, `document.getElementById("graph-t").textContent`))
	require.Equal(t, "stellt API bereit: api:default/example-api", consoletest.Attr(t, ctx, `svg#graph a.node[href="/catalog/default/api/example-api"]`, "aria-label"))
	consoletest.Screenshot(t, ctx, "entity-de")

	// The entity changes while its page is open: removed through the catalog API, then read
	// again from its file. The page says so each time, without reloading.
	require.True(t, consoletest.Eval[bool](t, ctx, `(window.stagebusMarker = true)`))
	require.True(t, consoletest.Eval[bool](t, ctx, `document.getElementById("entity-changed").hidden`))
	uid := consoletest.Text(t, ctx, "#entity-uid")
	token := guestToken(t, a)
	time.Sleep(1500 * time.Millisecond) // the page's stream has started reading the history
	status, body := a.api(t, http.MethodDelete, "/api/catalog/entities/by-uid/"+uid, token, nil)
	require.Equal(t, http.StatusNoContent, status, string(body))
	consoletest.WaitText(t, ctx, "#entity-changed", "Diese Entität wurde aus dem Katalog entfernt.")
	consoletest.WaitText(t, ctx, "[data-live-status]", "entfernt")
	status, body = a.api(t, http.MethodPost, "/api/catalog/refresh", token, map[string]string{"entityRef": "api:default/example-api"})
	require.Equal(t, http.StatusOK, status, string(body))
	consoletest.WaitText(t, ctx, "#entity-changed", "Diese Entität hat sich geändert.")
	require.True(t, consoletest.Eval[bool](t, ctx, `window.stagebusMarker === true`), "the page was reloaded")
	// Read again, the website is a new entity: the reloaded page shows its new uid (waiting
	// for it, not for the heading, which the old page has too).
	status, body = a.api(t, http.MethodGet, "/api/catalog/entities/by-name/component/default/example-website", token, nil)
	require.Equal(t, http.StatusOK, status, string(body))
	var again struct {
		Metadata struct{ UID string } `json:"metadata"`
	}
	require.NoError(t, json.Unmarshal(body, &again))
	require.NotEqual(t, uid, again.Metadata.UID)
	consoletest.Click(t, ctx, "#entity-reload")
	consoletest.WaitText(t, ctx, "#entity-uid", again.Metadata.UID)
	require.True(t, consoletest.Eval[bool](t, ctx, `document.getElementById("entity-changed").hidden`))
}

// guestToken signs in as the guest through the API, as a Backstage frontend does.
func guestToken(t *testing.T, a *consoleApp) string {
	t.Helper()
	status, body := a.api(t, http.MethodGet, "/api/auth/guest/refresh", "", nil)
	require.Equal(t, http.StatusOK, status, string(body))
	var res struct {
		BackstageIdentity struct {
			Token string `json:"token"`
		} `json:"backstageIdentity"`
	}
	require.NoError(t, json.Unmarshal(body, &res))
	require.NotEmpty(t, res.BackstageIdentity.Token)
	return res.BackstageIdentity.Token
}

// api calls the app's API with token (none when ""), sending body as JSON when it is not nil.
func (a *consoleApp) api(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var in io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		in = bytes.NewReader(b)
	}
	r, err := http.NewRequestWithContext(t.Context(), method, a.url+path, in)
	require.NoError(t, err)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, bytes.TrimSpace(out)
}
