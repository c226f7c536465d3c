package oidc_test

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

	"github.com/oauth2-proxy/mockoidc"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/auth/providers/oidc"
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

// users are the catalog's people: jane (an admin) and bob, members of team-a.
const users = `apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: jane
spec:
  profile:
    email: jane.doe@example.com
  memberOf: [team-a]
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: bob
spec:
  profile:
    email: bob@example.com
  memberOf: [team-a]
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-a
spec:
  type: team
`

// adminToken is a static external-access token, for reading the audit log.
const adminToken = "oidc-test-admin-token-0123456789"

// stagebus is Stagebus in production with the OpenID provider pointed at an in-process
// issuer, listening on 127.0.0.1.
type stagebus struct {
	t    *testing.T
	url  string
	idp  *mockoidc.MockOIDC
	jar  http.CookieJar
	http *http.Client
}

func start(t *testing.T) *stagebus {
	t.Helper()
	idp, err := mockoidc.Run()
	require.NoError(t, err)
	t.Cleanup(func() { _ = idp.Shutdown() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "users.yaml"), []byte(users), 0o600))
	cfg := idp.Config()
	s := &stagebus{t: t, url: fmt.Sprintf("http://127.0.0.1:%d", port), idp: idp}
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
  admins: [user:default/jane]
  providers:
    oidc:
      production:
        metadataUrl: %s/.well-known/openid-configuration
        clientId: %s
        clientSecret: %s
        scope: openid profile email
        signIn:
          resolvers:
            - resolver: emailMatchingUserEntityProfileEmail
catalog:
  locations:
    - {type: file, target: %s}
`, s.url, port, filepath.Join(dir, "stagebus.db"), adminToken, idp.Issuer(), cfg.ClientID, cfg.ClientSecret, filepath.Join(dir, "users.yaml")))
	app := fxtest.New(t,
		fx.Supply(tree), config.Module, fx.Supply(zerolog.Nop()),
		httpserver.Module, database.Module,
		eventsvc.Module, memory.Module, sqlbus.Module, deadletter.Module,
		auth.Module, audit.Module, catalog.Module, signin.Module, oidc.Module,
		fx.Invoke(func(*eventsvc.Service, *httpserver.Server, *signin.Service) {}),
	)
	app.RequireStart()
	t.Cleanup(app.RequireStop)
	s.newBrowser()
	require.Eventually(t, func() bool {
		code, _ := s.get("/api/catalog/entities/by-name/user/default/bob", adminToken)
		return code == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond, "the catalog has its users")
	return s
}

// newBrowser forgets every cookie: a browser of its own.
func (s *stagebus) newBrowser() {
	jar, err := cookiejar.New(nil)
	require.NoError(s.t, err)
	s.jar = jar
	s.http = &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// fetch sends a request as the browser does (its cookies, no redirect followed).
func (s *stagebus) fetch(method, target, token string, header http.Header) *http.Response {
	s.t.Helper()
	r, err := http.NewRequestWithContext(context.Background(), method, target, nil)
	require.NoError(s.t, err)
	for k, v := range header {
		r.Header[k] = v
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.http.Do(r)
	require.NoError(s.t, err)
	s.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (s *stagebus) get(path, token string) (int, map[string]any) {
	s.t.Helper()
	resp := s.fetch(http.MethodGet, s.url+path, token, nil)
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// signInFlow is one sign-in through the issuer, step by step.
type signInFlow struct {
	authorize *url.URL // where start sent the browser
	callback  *url.URL // where the issuer sent it back
}

// begin starts a sign-in (popup flow) and lets the issuer answer it for user.
func (s *stagebus) begin(user *mockoidc.MockUser, tamper func(authorize url.Values)) signInFlow {
	s.t.Helper()
	resp := s.fetch(http.MethodGet, s.url+"/api/auth/oidc/start?env=production&origin="+url.QueryEscape(s.url), "", nil)
	require.Equal(s.t, http.StatusFound, resp.StatusCode)
	authorize, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(s.t, err)
	q := authorize.Query()
	require.Equal(s.t, "S256", q.Get("code_challenge_method"), "PKCE")
	require.NotEmpty(s.t, q.Get("nonce"))
	require.NotEmpty(s.t, q.Get("state"))
	if tamper != nil {
		tamper(q)
		authorize.RawQuery = q.Encode()
	}
	s.idp.QueueUser(user)
	resp = s.fetch(http.MethodGet, authorize.String(), "", nil)
	require.Equal(s.t, http.StatusFound, resp.StatusCode)
	callback, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(s.t, err)
	require.Equal(s.t, s.url+"/api/auth/oidc/handler/frame", callback.Scheme+"://"+callback.Host+callback.Path)
	return signInFlow{authorize: authorize, callback: callback}
}

var message = regexp.MustCompile(`postMessage\((\{.*\}),("[^"]*")\)`)

// finish follows the callback and returns what the page posts to its opener.
func (s *stagebus) finish(f signInFlow) map[string]any {
	s.t.Helper()
	resp := s.fetch(http.MethodGet, f.callback.String(), "", nil)
	require.Equal(s.t, http.StatusOK, resp.StatusCode)
	require.Contains(s.t, resp.Header.Get("Content-Security-Policy"), "script-src 'sha256-")
	page, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	m := message.FindSubmatch(page)
	require.NotNil(s.t, m, "%s", page)
	require.Equal(s.t, `"`+s.url+`"`, string(m[2]), "posted to the opener's origin only")
	var msg map[string]any
	require.NoError(s.t, json.Unmarshal(m[1], &msg))
	require.Equal(s.t, "authorization_response", msg["type"])
	return msg
}

func jane() *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: "jane-1", Email: "jane.doe@example.com", EmailVerified: true, PreferredUsername: "jdoe"}
}

func bob() *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: "bob-1", Email: "bob@example.com", EmailVerified: true, PreferredUsername: "bob"}
}

// auditedReasons lists the reasons of the failed sign-in records of the audit log.
func (s *stagebus) auditedReasons(event string) []string {
	s.t.Helper()
	var reasons []string
	require.Eventually(s.t, func() bool {
		code, body := s.get("/api/audit/events?eventId="+event+"&status=failed", adminToken)
		require.Equal(s.t, http.StatusOK, code, body)
		reasons = nil
		for _, it := range body["items"].([]any) {
			reasons = append(reasons, it.(map[string]any)["meta"].(map[string]any)["reason"].(string))
		}
		return len(reasons) > 0
	}, 10*time.Second, 20*time.Millisecond)
	return reasons
}

// TestSignIn: a person signs in through the OpenID provider in production, gets a token for
// the User entity whose email the issuer verified, with the groups it is a member of, and
// reaches an admin route only when listed in auth.admins; refresh and logout work with the
// cookies Backstage's frontend uses; the session cookie opens Stagebus's own routes.
func TestSignIn(t *testing.T) {
	t.Parallel()
	s := start(t)

	msg := s.finish(s.begin(jane(), nil))
	resp := msg["response"].(map[string]any)
	id := resp["backstageIdentity"].(map[string]any)
	require.Equal(t, map[string]any{"type": "user", "userEntityRef": "user:default/jane", "ownershipEntityRefs": []any{"user:default/jane", "group:default/team-a"}}, id["identity"])
	require.Equal(t, "jane.doe@example.com", resp["profile"].(map[string]any)["email"])
	require.NotEmpty(t, resp["providerInfo"].(map[string]any)["idToken"])
	token := id["token"].(string)

	code, body := s.get(auth.UserInfoPath, token)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, map[string]any{"claims": map[string]any{"sub": "user:default/jane", "ent": []any{"user:default/jane", "group:default/team-a"}}}, body)
	code, _ = s.get(audit.EventsPath, token)
	require.Equal(t, http.StatusOK, code, "jane is in auth.admins")
	code, _ = s.get(audit.EventsPath, "")
	require.Equal(t, http.StatusOK, code, "the session cookie opens the routes for the browser")

	// Refresh: needs the header, then signs in again with the refresh cookie.
	r := s.fetch(http.MethodGet, s.url+"/api/auth/oidc/refresh", "", nil)
	require.Equal(t, http.StatusUnauthorized, r.StatusCode)
	r = s.fetch(http.MethodGet, s.url+"/api/auth/oidc/refresh", "", http.Header{"X-Requested-With": {"XMLHttpRequest"}})
	require.Equal(t, http.StatusOK, r.StatusCode)
	var refreshed map[string]any
	require.NoError(t, json.NewDecoder(r.Body).Decode(&refreshed))
	require.Equal(t, "user:default/jane", refreshed["backstageIdentity"].(map[string]any)["identity"].(map[string]any)["userEntityRef"])

	// Logout ends the browser's session and its refresh cookie.
	r = s.fetch(http.MethodPost, s.url+"/api/auth/oidc/logout", "", http.Header{"X-Requested-With": {"XMLHttpRequest"}})
	require.Equal(t, http.StatusOK, r.StatusCode)
	code, _ = s.get(audit.EventsPath, "")
	require.Equal(t, http.StatusUnauthorized, code, "no session after logout")
	r = s.fetch(http.MethodGet, s.url+"/api/auth/oidc/refresh", "", http.Header{"X-Requested-With": {"XMLHttpRequest"}})
	require.Equal(t, http.StatusUnauthorized, r.StatusCode)
	require.Equal(t, []string{"no refresh cookie: sign in first"}, s.auditedReasons(auth.EventSignInRefresh))
	code, body = s.get("/api/audit/events?eventId=logout", adminToken)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, body["items"], 1, "the logout is audited")
	require.Equal(t, "user:default/jane", body["items"].([]any)[0].(map[string]any)["actor"].(map[string]any)["actorId"])

	// Bob signs in too, but is no admin.
	s.newBrowser()
	token = s.finish(s.begin(bob(), nil))["response"].(map[string]any)["backstageIdentity"].(map[string]any)["token"].(string)
	code, _ = s.get(audit.EventsPath, token)
	require.Equal(t, http.StatusForbidden, code, "bob is not in auth.admins")
	code, body = s.get("/api/audit/events?eventId=sign-in&status=succeeded", adminToken)
	require.Equal(t, http.StatusOK, code)
	var audited []string
	for _, it := range body["items"].([]any) {
		rec := it.(map[string]any)
		audited = append(audited, rec["actor"].(map[string]any)["actorId"].(string)+" "+rec["request"].(map[string]any)["url"].(string))
	}
	require.Equal(t, []string{"user:default/bob /api/auth/oidc/handler/frame", "user:default/jane /api/auth/oidc/refresh",
		"user:default/jane /api/auth/oidc/handler/frame"}, audited, "the sign-ins and the refresh are audited, newest first")
}

// TestSignInRefusals: each way a sign-in can be wrong is refused, tells the person no more
// than that, and is audited with its reason.
func TestSignInRefusals(t *testing.T) {
	t.Parallel()
	s := start(t)
	for _, tc := range []struct {
		name   string
		run    func() map[string]any
		reason string
	}{
		{"wrong state", func() map[string]any {
			f := s.begin(jane(), nil)
			q := f.callback.Query()
			q.Set("state", "bm9uY2U9Zm9yZ2Vk") // base64url of nonce=forged
			f.callback.RawQuery = q.Encode()
			return s.finish(f)
		}, "the state does not match the sign-in started from this browser"},
		{"no sign-in started in this browser", func() map[string]any {
			f := s.begin(jane(), nil)
			s.newBrowser()
			return s.finish(f)
		}, "no sign-in was started from this browser"},
		{"replayed code", func() map[string]any {
			used := s.begin(jane(), nil)
			s.finish(used)
			again := s.begin(jane(), nil) // a new sign-in of this browser, answered with the used code
			q := again.callback.Query()
			q.Set("code", used.callback.Query().Get("code"))
			again.callback.RawQuery = q.Encode()
			return s.finish(again)
		}, "exchange the code"},
		{"wrong nonce", func() map[string]any {
			return s.finish(s.begin(jane(), func(q url.Values) { q.Set("nonce", "not-this-sign-ins") }))
		}, "the ID token's nonce is not this sign-in's"},
		{"expired ID token", func() map[string]any {
			s.idp.FastForward(-time.Hour) // the issuer's clock is an hour behind: its tokens have expired
			defer s.idp.FastForward(time.Hour)
			return s.finish(s.begin(jane(), nil))
		}, "token is expired"},
		{"user missing from the catalog", func() map[string]any {
			return s.finish(s.begin(&mockoidc.MockUser{Subject: "eve-1", Email: "eve@example.com", EmailVerified: true}, nil))
		}, `no sign-in resolver matched a user of the catalog (resolvers emailMatchingUserEntityProfileEmail; email "eve@example.com"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.newBrowser()
			msg := tc.run()
			require.NotContains(t, msg, "response")
			e := msg["error"].(map[string]any)
			require.Contains(t, []string{"sign-in failed; start again", "sign-in refused: this account may not sign in here"}, e["message"], "the person learns nothing more")
			require.True(t, slicesContain(s.auditedReasons(auth.EventSignIn), tc.reason), "audited with %q", tc.reason)
		})
	}
}

func slicesContain(list []string, part string) bool {
	for _, s := range list {
		if strings.Contains(s, part) {
			return true
		}
	}
	return false
}
