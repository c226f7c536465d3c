package consoletest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAccessibility: axe finds what a page lacks (a form control without a label, an image
// without a text alternative, no language) and nothing on a page that has it, under a CSP
// that forbids eval.
func TestAccessibility(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	serve := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; img-src data:")
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, body)
		}
	}
	mux.HandleFunc("GET /bad", serve(`<!doctype html><html><head><title>Bad</title></head><body><main><img src="data:,"><input id="q"></main></body></html>`))
	mux.HandleFunc("GET /good", serve(`<!doctype html><html lang="en"><head><title>Good</title></head><body><main><h1>Good</h1><img src="data:," alt="nothing"><label for="q">Query</label><input id="q"></main></body></html>`))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ctx := Tab(t, TabOptions{AllowErrors: []string{"data:"}})

	Navigate(t, ctx, srv.URL+"/bad")
	var ids []string
	for _, v := range violations(t, ctx, WCAG21AA) {
		ids = append(ids, v.ID)
	}
	require.Subset(t, ids, []string{"html-has-lang", "image-alt", "label"})

	Navigate(t, ctx, srv.URL+"/good")
	CheckAccessibility(t, ctx)
}
