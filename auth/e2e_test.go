package auth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/auth/authtest"
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

// platform is the application as cmd/platform composes it (memory bus), with auth and the
// audit log, served on a real port.
type platform struct {
	t   *testing.T
	srv *httpserver.Server
	svc *auth.Service
}

// startPlatform starts the application on a SQLite file, or on conn (e.g. ':memory:', as
// cmd/platform's tests use) when given.
func startPlatform(t *testing.T, yaml string, conn ...string) platform {
	t.Helper()
	p := platform{t: t}
	db := filepath.Join(t.TempDir(), "stagebus.db")
	if len(conn) > 0 {
		db = conn[0]
	}
	tree := configtest.Tree(t, fmt.Sprintf("backend:\n  listen:\n    port: 0\n  database:\n    connection: %s\n%s", db, yaml))
	app := fxtest.New(t,
		fx.Supply(tree),
		config.Module,
		fx.Supply(zerolog.Nop()),
		httpserver.Module,
		database.Module,
		eventsvc.Module,
		memory.Module,
		sqlbus.Module,
		deadletter.Module,
		auth.Module,
		audit.Module,
		fx.Invoke(func(*database.DB, *eventsvc.Service, *httpserver.Server) {}),
		fx.Populate(&p.srv, &p.svc),
	)
	app.RequireStart()
	t.Cleanup(app.RequireStop)
	return p
}

// call calls the running server over HTTP.
func (p platform) call(method, path, token string) (int, map[string]any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, method, "http://"+p.srv.Addr()+path, strings.NewReader("{}"))
	require.NoError(p.t, err)
	r.Header.Set("Content-Type", "application/json")
	if token != "" {
		authtest.Authorize(r, token)
	}
	resp, err := http.DefaultClient.Do(r)
	require.NoError(p.t, err)
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// TestDevelopmentGuestSignIn: with the development configuration, the guest's token opens
// userinfo; without a token, userinfo is 401.
func TestDevelopmentGuestSignIn(t *testing.T) {
	t.Parallel()
	p := startPlatform(t, "auth:\n  environment: development\n")
	code, body := p.call(http.MethodGet, auth.GuestRefreshPath, "")
	require.Equal(t, http.StatusOK, code, body)
	id := body["backstageIdentity"].(map[string]any)
	tok := id["token"].(string)

	code, body = p.call(http.MethodGet, auth.UserInfoPath, tok)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, map[string]any{"claims": map[string]any{"sub": "user:development/guest", "ent": []any{"user:development/guest"}}}, body)

	code, body = p.call(http.MethodGet, auth.UserInfoPath, "")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, "AuthenticationError", body["error"].(map[string]any)["name"])

	// The configuration's default keeps the ownership claim, for 1.24-era plugins.
	require.Equal(t, []any{"user:development/guest"}, decodeSegment(t, tok, 1)["ent"])
	code, body = p.call(http.MethodGet, auth.OpenIDConfigPath, "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, p.svc.Issuer(), body["issuer"])
	require.Equal(t, p.svc.Issuer()+"/.well-known/jwks.json", body["jwks_uri"])
	require.Equal(t, p.svc.Issuer()+"/v1/userinfo", body["userinfo_endpoint"])
	require.Equal(t, []any{"ES256"}, body["id_token_signing_alg_values_supported"])

	code, body = p.call(http.MethodGet, auth.JWKSPath, "")
	require.Equal(t, http.StatusOK, code)
	require.Len(t, body["keys"], 1, "the instance's key, published at start")
}

// TestProductionGuestRefusalIsAudited: in production the guest refresh is 403, and an admin
// finds the refusal in the audit log, whose chain verifies.
func TestProductionGuestRefusalIsAudited(t *testing.T) {
	t.Parallel()
	p := startPlatform(t, "auth:\n  environment: production\n  admins: [user:default/alice]\n")
	code, body := p.call(http.MethodGet, auth.GuestRefreshPath, "")
	require.Equal(t, http.StatusForbidden, code)
	require.Equal(t, "NotAllowedError", body["error"].(map[string]any)["name"])

	alice := authtest.UserToken(t, p.svc, "user:default/alice")
	var refusal map[string]any
	require.Eventually(t, func() bool {
		code, body := p.call(http.MethodGet, audit.EventsPath+"?eventId=authorize&status=failed", alice)
		if code != http.StatusOK {
			return false
		}
		for _, it := range body["items"].([]any) {
			item := it.(map[string]any)
			if item["request"].(map[string]any)["url"] == auth.GuestRefreshPath {
				refusal = item
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "auth", refusal["plugin"])
	require.Equal(t, "high", refusal["severityLevel"])
	require.Equal(t, "127.0.0.1", refusal["actor"].(map[string]any)["ip"])
	require.Equal(t, "guest", refusal["meta"].(map[string]any)["provider"])

	bob := authtest.UserToken(t, p.svc, "user:default/bob")
	code, _ = p.call(http.MethodGet, audit.EventsPath, bob)
	require.Equal(t, http.StatusForbidden, code, "the audit log is for admins")
	code, _ = p.call(http.MethodGet, audit.EventsPath, "")
	require.Equal(t, http.StatusUnauthorized, code)

	// Bob's refusal and the tokens issued are in the log too.
	require.Eventually(t, func() bool {
		_, body := p.call(http.MethodGet, audit.EventsPath+"?actor=user:default/bob&eventId=authorize", alice)
		return body["totalItems"] == float64(1)
	}, 10*time.Second, 20*time.Millisecond)
	code, body = p.call(http.MethodGet, audit.VerifyPath, alice)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, true, body["ok"], body)
}

// TestRouteWalkerWithRealCredentials walks every route of the application: 401 without
// credentials unless the route is declared unauthenticated, and never 401 with an admin's
// real token.
func TestRouteWalkerWithRealCredentials(t *testing.T) {
	t.Parallel()
	p := startPlatform(t, "auth:\n  admins: [user:default/admin]\n", "':memory:'")
	admin := authtest.UserToken(t, p.svc, "user:default/admin")
	routes := p.srv.Routes()
	var paths []string
	for _, rt := range routes {
		paths = append(paths, rt.Pattern())
	}
	require.Contains(t, paths, "GET "+auth.UserInfoPath)
	require.Contains(t, paths, "GET "+audit.VerifyPath)
	for _, rt := range routes {
		t.Run(rt.Pattern(), func(t *testing.T) {
			method := rt.Method
			if method == "" {
				method = http.MethodGet
			}
			// seconds=1 keeps /debug/pprof/profile (30s by default) short; other routes ignore it.
			path := strings.NewReplacer("{id}", "sample", "{name}", "sample").Replace(rt.Path) + "?seconds=1"
			without, _ := p.call(method, path, "")
			if rt.Auth == httpserver.Unauthenticated {
				require.NotEqual(t, http.StatusUnauthorized, without, "%s is declared unauthenticated", rt.Pattern())
			} else {
				require.Equal(t, http.StatusUnauthorized, without, "%s must refuse requests without credentials", rt.Pattern())
			}
			with, body := p.call(method, path, admin)
			require.NotEqual(t, http.StatusUnauthorized, with, body)
		})
	}
}
