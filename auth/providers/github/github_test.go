package github_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/auth/providers/github"
	"github.com/stagebus/stagebus/auth/signin/signintest"
	"github.com/stagebus/stagebus/providers/github/discovery"
)

// fakeGitHub is a GitHub Enterprise Server's OAuth and user API, which signs in whoever login
// names, once per code, with PKCE; and its organization acme (octocat and hubot, and the team
// team-a of octocat), which the catalog's organization provider reads.
type fakeGitHub struct {
	srv          *httptest.Server
	clientSecret string

	mu         sync.Mutex
	login      string            // who signs in next
	codes      map[string]string // code → login
	challenges map[string]string // code → PKCE challenge
	tokens     map[string]string // access token → login
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	g := &fakeGitHub{clientSecret: "gh-secret", codes: map[string]string{}, challenges: map[string]string{}, tokens: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "gh-client" || q.Get("scope") != "read:user" || q.Get("code_challenge_method") != "S256" {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		code := random()
		g.mu.Lock()
		g.codes[code], g.challenges[code] = g.login, q.Get("code_challenge")
		g.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		code := r.PostForm.Get("code")
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		g.mu.Lock()
		defer g.mu.Unlock()
		login, ok := g.codes[code]
		delete(g.codes, code)
		w.Header().Set("Content-Type", "application/json")
		if !ok || r.PostForm.Get("client_id") != "gh-client" || r.PostForm.Get("client_secret") != g.clientSecret ||
			base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenges[code] {
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "bad_verification_code"})
			return
		}
		tok := "gho_" + random()
		g.tokens[tok] = login
		_ = json.NewEncoder(w).Encode(map[string]string{"access_token": tok, "token_type": "bearer", "scope": "read:user"})
	})
	mux.HandleFunc("GET /api/v3/user", func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		login, ok := g.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		g.mu.Unlock()
		if !ok {
			http.Error(w, `{"message": "Bad credentials"}`, http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": accountIDs[login], "login": login, "name": strings.ToUpper(login), "email": login + "@example.com", "avatar_url": "https://avatars.example/" + login})
	})
	org := map[string]any{
		"/api/v3/orgs/acme/members":              []map[string]string{{"login": "octocat"}, {"login": "hubot"}},
		"/api/v3/orgs/acme/teams":                []map[string]any{{"slug": "team-a", "name": "Team A"}},
		"/api/v3/orgs/acme/teams/team-a/members": []map[string]string{{"login": "octocat"}},
		"/api/v3/users/octocat":                  map[string]any{"id": accountIDs["octocat"], "login": "octocat", "name": "The Octocat"},
		"/api/v3/users/hubot":                    map[string]any{"id": accountIDs["hubot"], "login": "hubot"},
	}
	for path, body := range org {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(body)
		})
	}
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

// accountIDs are the fake's account ids by login.
var accountIDs = map[string]int64{"octocat": 583231, "hubot": 480938, "mallory": 666}

func random() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// next makes login the next person GitHub signs in.
func (g *fakeGitHub) next(login string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.login = login
}

// revokeAll revokes every token, as a person revoking the OAuth app does.
func (g *fakeGitHub) revokeAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tokens = map[string]string{}
}

// TestGitHubSignIn: a person signs in with GitHub (token exchange with PKCE, the user read
// with the token), is resolved by account id to the User the organization provider imported,
// with the team it is in, refreshes while the token is valid, and is refused (and audited) once it
// is revoked or when no User matches.
func TestGitHubSignIn(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	s := signintest.Start(t, signintest.Options{
		Modules: []fx.Option{github.Module, discovery.Module},
		Ready:   "/api/catalog/entities/by-name/group/default/team-a",
		Config: fmt.Sprintf(`integrations:
  github:
    - host: github.test
      apiBaseUrl: %s/api/v3
catalog:
  providers:
    githubOrg:
      people:
        githubUrl: https://github.test
        orgs: [acme]
`, gh.srv.URL),
		Auth: fmt.Sprintf(`  providers:
    github:
      production:
        clientId: gh-client
        clientSecret: %s
        enterpriseInstanceUrl: %s
        signIn:
          resolvers:
            - resolver: userIdMatchingUserEntityAnnotation
`, gh.clientSecret, gh.srv.URL)})

	gh.next("octocat")
	msg := s.Finish(s.Begin(github.ID, nil))
	id := signintest.Identity(t, msg)
	require.Equal(t, map[string]any{"type": "user", "userEntityRef": "user:default/octocat", "ownershipEntityRefs": []any{"user:default/octocat", "group:default/team-a"}}, id["identity"])
	require.Equal(t, map[string]any{"email": "octocat@example.com", "displayName": "OCTOCAT", "picture": "https://avatars.example/octocat"}, msg["response"].(map[string]any)["profile"])
	code, _ := s.Get("/api/catalog/entities/by-name/user/default/hubot", signintest.AdminToken)
	require.Equal(t, http.StatusOK, code, "the organization's other member is a User too")
	code, body := s.Get(auth.UserInfoPath, id["token"].(string))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "user:default/octocat", body["claims"].(map[string]any)["sub"])

	xhr := http.Header{"X-Requested-With": {"XMLHttpRequest"}}
	r := s.Fetch(http.MethodGet, s.URL+"/api/auth/github/refresh", "", xhr)
	require.Equal(t, http.StatusOK, r.StatusCode, "the OAuth token is still valid")
	gh.revokeAll()
	r = s.Fetch(http.MethodGet, s.URL+"/api/auth/github/refresh", "", xhr)
	require.Equal(t, http.StatusUnauthorized, r.StatusCode, "a revoked token signs nobody in")
	require.True(t, signintest.Audited(s.AuditedReasons(auth.EventSignInRefresh), "GitHub answered 401"))

	s.NewBrowser()
	gh.next("mallory")
	msg = s.Finish(s.Begin(github.ID, nil))
	require.Equal(t, "NotAllowedError", msg["error"].(map[string]any)["name"])
	require.True(t, signintest.Audited(s.AuditedReasons(auth.EventSignIn), `username "mallory"`))
}
