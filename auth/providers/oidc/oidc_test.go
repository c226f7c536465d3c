package oidc_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/auth/providers/oidc"
	"github.com/stagebus/stagebus/auth/signin/signintest"
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

// stagebus is Stagebus in production with the OpenID provider pointed at an in-process
// issuer.
type stagebus struct {
	*signintest.Stagebus
	idp *mockoidc.MockOIDC
}

func start(t *testing.T) *stagebus {
	t.Helper()
	idp, err := mockoidc.Run()
	require.NoError(t, err)
	t.Cleanup(func() { _ = idp.Shutdown() })
	cfg := idp.Config()
	s := signintest.Start(t, signintest.Options{Catalog: users, Modules: []fx.Option{oidc.Module}, Ready: "/api/catalog/entities/by-name/user/default/bob",
		Auth: fmt.Sprintf(`  admins: [user:default/jane]
  providers:
    oidc:
      production:
        metadataUrl: %s/.well-known/openid-configuration
        clientId: %s
        clientSecret: %s
        signIn:
          resolvers:
            - resolver: emailMatchingUserEntityProfileEmail
`, idp.Issuer(), cfg.ClientID, cfg.ClientSecret)})
	return &stagebus{Stagebus: s, idp: idp}
}

// begin starts a sign-in that the issuer answers for user.
func (s *stagebus) begin(user *mockoidc.MockUser, tamper func(url.Values)) signintest.Flow {
	s.T.Helper()
	s.idp.QueueUser(user)
	return s.Begin(oidc.ID, tamper)
}

func jane() *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: "jane-1", Email: "jane.doe@example.com", EmailVerified: true, PreferredUsername: "jdoe"}
}

func bob() *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: "bob-1", Email: "bob@example.com", EmailVerified: true, PreferredUsername: "bob"}
}

// TestSignIn: a person signs in through the OpenID provider in production, gets a token for
// the User entity whose email the issuer verified, with the groups it is a member of, and
// reaches an admin route only when listed in auth.admins; refresh and logout work with the
// cookies Backstage's frontend uses; the session cookie opens Stagebus's own routes.
func TestSignIn(t *testing.T) {
	t.Parallel()
	s := start(t)

	msg := s.Finish(s.begin(jane(), nil))
	resp := msg["response"].(map[string]any)
	id := resp["backstageIdentity"].(map[string]any)
	require.Equal(t, map[string]any{"type": "user", "userEntityRef": "user:default/jane", "ownershipEntityRefs": []any{"user:default/jane", "group:default/team-a"}}, id["identity"])
	require.Equal(t, "jane.doe@example.com", resp["profile"].(map[string]any)["email"])
	require.NotEmpty(t, resp["providerInfo"].(map[string]any)["idToken"])
	token := id["token"].(string)

	code, body := s.Get(auth.UserInfoPath, token)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, map[string]any{"claims": map[string]any{"sub": "user:default/jane", "ent": []any{"user:default/jane", "group:default/team-a"}}}, body)
	code, _ = s.Get(audit.EventsPath, token)
	require.Equal(t, http.StatusOK, code, "jane is in auth.admins")
	code, _ = s.Get(audit.EventsPath, "")
	require.Equal(t, http.StatusOK, code, "the session cookie opens the routes for the browser")

	// Refresh: needs the header, then signs in again with the refresh cookie.
	r := s.Fetch(http.MethodGet, s.URL+"/api/auth/oidc/refresh", "", nil)
	require.Equal(t, http.StatusUnauthorized, r.StatusCode)
	r = s.Fetch(http.MethodGet, s.URL+"/api/auth/oidc/refresh", "", http.Header{"X-Requested-With": {"XMLHttpRequest"}})
	require.Equal(t, http.StatusOK, r.StatusCode)
	var refreshed map[string]any
	require.NoError(t, json.NewDecoder(r.Body).Decode(&refreshed))
	require.Equal(t, "user:default/jane", refreshed["backstageIdentity"].(map[string]any)["identity"].(map[string]any)["userEntityRef"])

	// Logout ends the browser's session and its refresh cookie.
	r = s.Fetch(http.MethodPost, s.URL+"/api/auth/oidc/logout", "", http.Header{"X-Requested-With": {"XMLHttpRequest"}})
	require.Equal(t, http.StatusOK, r.StatusCode)
	code, _ = s.Get(audit.EventsPath, "")
	require.Equal(t, http.StatusUnauthorized, code, "no session after logout")
	session := refreshed["backstageIdentity"].(map[string]any)["token"].(string) // the refresh renewed the session
	r = s.Fetch(http.MethodGet, s.URL+audit.EventsPath, "", http.Header{"Cookie": {auth.CookieName + "=" + session}})
	require.Equal(t, http.StatusUnauthorized, r.StatusCode, "a copy of the logged-out session cookie opens nothing")
	code, _ = s.Get(audit.EventsPath, session)
	require.Equal(t, http.StatusUnauthorized, code, "nor does the same token as a bearer token")
	require.True(t, signintest.Audited(s.AuditedReasons(auth.EventAuthenticate), "the session was logged out"))
	r = s.Fetch(http.MethodGet, s.URL+"/api/auth/oidc/refresh", "", http.Header{"X-Requested-With": {"XMLHttpRequest"}})
	require.Equal(t, http.StatusUnauthorized, r.StatusCode)
	require.Equal(t, []string{"no refresh cookie: sign in first"}, s.AuditedReasons(auth.EventSignInRefresh))
	code, body = s.Get("/api/audit/events?eventId=logout", signintest.AdminToken)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, body["items"], 1, "the logout is audited")
	require.Equal(t, "user:default/jane", body["items"].([]any)[0].(map[string]any)["actor"].(map[string]any)["actorId"])

	// Bob signs in too, but is no admin.
	s.NewBrowser()
	token = s.Finish(s.begin(bob(), nil))["response"].(map[string]any)["backstageIdentity"].(map[string]any)["token"].(string)
	code, _ = s.Get(audit.EventsPath, token)
	require.Equal(t, http.StatusForbidden, code, "bob is not in auth.admins")
	code, body = s.Get("/api/audit/events?eventId=sign-in&status=succeeded", signintest.AdminToken)
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
			q := f.Callback.Query()
			q.Set("state", "bm9uY2U9Zm9yZ2Vk") // base64url of nonce=forged
			f.Callback.RawQuery = q.Encode()
			return s.Finish(f)
		}, "the state does not match the sign-in started from this browser"},
		{"no sign-in started in this browser", func() map[string]any {
			f := s.begin(jane(), nil)
			s.NewBrowser()
			return s.Finish(f)
		}, "no sign-in was started from this browser"},
		{"replayed code", func() map[string]any {
			used := s.begin(jane(), nil)
			s.Finish(used)
			again := s.begin(jane(), nil) // a new sign-in of this browser, answered with the used code
			q := again.Callback.Query()
			q.Set("code", used.Callback.Query().Get("code"))
			again.Callback.RawQuery = q.Encode()
			return s.Finish(again)
		}, "exchange the code"},
		{"wrong nonce", func() map[string]any {
			return s.Finish(s.begin(jane(), func(q url.Values) { q.Set("nonce", "not-this-sign-ins") }))
		}, "the ID token's nonce is not this sign-in's"},
		{"expired ID token", func() map[string]any {
			s.idp.FastForward(-time.Hour) // the issuer's clock is an hour behind: its tokens have expired
			defer s.idp.FastForward(time.Hour)
			return s.Finish(s.begin(jane(), nil))
		}, "token is expired"},
		{"user missing from the catalog", func() map[string]any {
			return s.Finish(s.begin(&mockoidc.MockUser{Subject: "eve-1", Email: "eve@example.com", EmailVerified: true}, nil))
		}, `no sign-in resolver matched a user of the catalog (resolvers emailMatchingUserEntityProfileEmail; email "eve@example.com"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.NewBrowser()
			msg := tc.run()
			require.NotContains(t, msg, "response")
			e := msg["error"].(map[string]any)
			require.Contains(t, []string{"sign-in failed; start again", "sign-in refused: this account may not sign in here"}, e["message"], "the person learns nothing more")
			require.True(t, signintest.Audited(s.AuditedReasons(auth.EventSignIn), tc.reason), "audited with %q", tc.reason)
		})
	}
}
