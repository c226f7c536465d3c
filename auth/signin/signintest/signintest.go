// Package signintest runs Stagebus with sign-in providers for their tests, and drives a
// sign-in as a browser does: the start redirect, the provider's answer, the callback page.
package signintest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/auth/signin"
	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/config/configtest"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/deadletter"
	"github.com/stagebus/stagebus/eventsvc/memory"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
	"github.com/stagebus/stagebus/httpserver"
	"github.com/stagebus/stagebus/subscribers/audit"
)

// AdminToken is a static external-access token of Stagebus started here: a service principal
// that may read the audit log.
const AdminToken = "signin-test-admin-token-0123456789"

// Stagebus is Stagebus (production, the catalog, the audit log, sign-in) listening on
// 127.0.0.1, with a browser of its own.
type Stagebus struct {
	T   *testing.T
	URL string

	http *http.Client
}

// Options configure Start.
type Options struct {
	// Catalog is a catalog file (Backstage descriptors) read at start, if any.
	Catalog string
	// Config is more top-level configuration (catalog providers, integrations); it must not
	// have a catalog section when Catalog is set.
	Config string
	// Auth are more keys of the auth section (indented by two spaces): admins, providers.
	Auth string
	// Modules are the provider modules, and what else the test needs.
	Modules []fx.Option
	// Ready reports when the catalog holds what the test needs (it is read in the
	// background); Start waits for it.
	Ready string
}

// Start runs Stagebus in production with o.
func Start(t *testing.T, o Options) *Stagebus {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	dir := t.TempDir()
	extra := o.Config
	if o.Catalog != "" {
		file := filepath.Join(dir, "catalog.yaml")
		require.NoError(t, os.WriteFile(file, []byte(o.Catalog), 0o600))
		extra += "catalog:\n  locations:\n    - {type: file, target: " + file + "}\n"
	}
	s := &Stagebus{T: t, URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	tree := configtest.Tree(t, fmt.Sprintf(`backend:
  baseUrl: %s
  listen: {host: 127.0.0.1, port: %d}
  database: {connection: %s}
  auth:
    externalAccess:
      - type: static
        options: {token: %s, subject: admin-tool}
auth:
  environment: production
%s%s`, s.URL, port, filepath.Join(dir, "stagebus.db"), AdminToken, o.Auth, extra))
	app := fxtest.New(t, append([]fx.Option{
		fx.Supply(tree), config.Module, fx.Supply(zerolog.Nop()),
		httpserver.Module, database.Module,
		eventsvc.Module, memory.Module, sqlbus.Module, deadletter.Module,
		auth.Module, audit.Module, catalog.Module, signin.Module,
		fx.Invoke(func(*eventsvc.Service, *httpserver.Server, *signin.Service) {}),
	}, o.Modules...)...)
	app.RequireStart()
	t.Cleanup(app.RequireStop)
	s.NewBrowser()
	if o.Ready != "" {
		require.Eventually(t, func() bool {
			code, _ := s.Get(o.Ready, AdminToken)
			return code == http.StatusOK
		}, 10*time.Second, 10*time.Millisecond, "the catalog has %s", o.Ready)
	}
	return s
}

// NewBrowser forgets every cookie: a browser of its own.
func (s *Stagebus) NewBrowser() {
	jar, err := cookiejar.New(nil)
	require.NoError(s.T, err)
	s.http = &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Fetch sends a request as the browser does (its cookies, no redirect followed); the
// response's body is closed when the test ends.
func (s *Stagebus) Fetch(method, target, token string, header http.Header) *http.Response {
	s.T.Helper()
	r, err := http.NewRequestWithContext(context.Background(), method, target, nil)
	require.NoError(s.T, err)
	for k, v := range header {
		r.Header[k] = v
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.http.Do(r)
	require.NoError(s.T, err)
	s.T.Cleanup(func() { resp.Body.Close() })
	return resp
}

// Get fetches a JSON route.
func (s *Stagebus) Get(path, token string) (int, map[string]any) {
	s.T.Helper()
	resp := s.Fetch(http.MethodGet, s.URL+path, token, nil)
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// Flow is one sign-in, step by step.
type Flow struct {
	// Authorize is where start sent the browser.
	Authorize *url.URL
	// Callback is where the provider sent it back.
	Callback *url.URL
}

// Begin starts a popup sign-in with provider, lets tamper change the provider's
// authorization request, and follows it to the provider, which must redirect back.
func (s *Stagebus) Begin(provider string, tamper func(url.Values)) Flow {
	s.T.Helper()
	resp := s.Fetch(http.MethodGet, s.URL+"/api/auth/"+provider+"/start?env=production&origin="+url.QueryEscape(s.URL), "", nil)
	require.Equal(s.T, http.StatusFound, resp.StatusCode)
	authorize, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(s.T, err)
	q := authorize.Query()
	require.Equal(s.T, "S256", q.Get("code_challenge_method"), "PKCE")
	require.NotEmpty(s.T, q.Get("state"))
	if tamper != nil {
		tamper(q)
		authorize.RawQuery = q.Encode()
	}
	resp = s.Fetch(http.MethodGet, authorize.String(), "", nil)
	require.Equal(s.T, http.StatusFound, resp.StatusCode)
	callback, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(s.T, err)
	require.Equal(s.T, s.URL+"/api/auth/"+provider+"/handler/frame", callback.Scheme+"://"+callback.Host+callback.Path)
	return Flow{Authorize: authorize, Callback: callback}
}

var message = regexp.MustCompile(`postMessage\((\{.*\}),("[^"]*")\)`)

// Finish follows the callback and returns what its page posts to the opener.
func (s *Stagebus) Finish(f Flow) map[string]any {
	s.T.Helper()
	resp := s.Fetch(http.MethodGet, f.Callback.String(), "", nil)
	require.Equal(s.T, http.StatusOK, resp.StatusCode)
	require.Contains(s.T, resp.Header.Get("Content-Security-Policy"), "script-src 'sha256-")
	page, err := io.ReadAll(resp.Body)
	require.NoError(s.T, err)
	m := message.FindSubmatch(page)
	require.NotNil(s.T, m, "%s", page)
	require.Equal(s.T, `"`+s.URL+`"`, string(m[2]), "posted to the opener's origin only")
	var msg map[string]any
	require.NoError(s.T, json.Unmarshal(m[1], &msg))
	require.Equal(s.T, "authorization_response", msg["type"])
	return msg
}

// Identity returns the backstageIdentity of a successful sign-in's message, failing the test
// on an error message.
func Identity(t *testing.T, msg map[string]any) map[string]any {
	t.Helper()
	require.Contains(t, msg, "response", "the sign-in succeeded: %v", msg["error"])
	return msg["response"].(map[string]any)["backstageIdentity"].(map[string]any)
}

// AuditedReasons returns the reasons of the failed records of an audit event, waiting for
// the first.
func (s *Stagebus) AuditedReasons(event string) []string {
	s.T.Helper()
	var reasons []string
	require.Eventually(s.T, func() bool {
		code, body := s.Get("/api/audit/events?eventId="+event+"&status=failed", AdminToken)
		require.Equal(s.T, http.StatusOK, code, body)
		reasons = nil
		for _, it := range body["items"].([]any) {
			reasons = append(reasons, it.(map[string]any)["meta"].(map[string]any)["reason"].(string))
		}
		return len(reasons) > 0
	}, 10*time.Second, 20*time.Millisecond)
	return reasons
}

// Audited reports whether one of reasons contains part.
func Audited(reasons []string, part string) bool {
	for _, r := range reasons {
		if strings.Contains(r, part) {
			return true
		}
	}
	return false
}
