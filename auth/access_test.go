package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/httpserver"
)

const (
	ciToken     = "ci-token-0123456789abcdefghij"
	deployToken = "deploy-token-0123456789abcdefghij"
)

// TestAuthorization covers access restrictions and the admin policy: 403 for valid
// principals that may not call a route, audited as authorize failures.
func TestAuthorization(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *auth.Options) {
		o.ExternalAccess = []auth.ExternalAccess{
			{Type: auth.ExternalStatic, Options: auth.ExternalAccessOptions{Token: config.Secret(ciToken), Subject: "ci"},
				AccessRestrictions: []auth.AccessRestriction{{Plugin: "catalog"}}},
			{Type: auth.ExternalStatic, Options: auth.ExternalAccessOptions{Token: config.Secret(deployToken), Subject: "deployer"}},
		}
	})
	alice, bob := f.userToken("user:default/alice"), f.userToken("user:default/bob")
	aliceUpper := f.userToken("user:default/Alice")
	tests := []struct {
		name    string
		method  string
		path    string
		token   string
		want    int
		subject string
		reason  string
	}{
		{name: "user on a credentials route", method: http.MethodGet, path: "/api/things/x", token: bob, want: 200, subject: "user:default/bob"},
		{name: "non-admin on an admin route", method: http.MethodDelete, path: "/api/things/x", token: bob, want: 403, reason: "user:default/bob is not an admin (auth.admins)"},
		{name: "admin on an admin route", method: http.MethodDelete, path: "/api/things/x", token: alice, want: 200, subject: "user:default/alice"},
		{name: "admin refs compare case-insensitively", method: http.MethodDelete, path: "/api/things/x", token: aliceUpper, want: 200, subject: "user:default/Alice"},
		{name: "restricted static token inside its plugin", method: http.MethodGet, path: "/api/catalog/entities", token: ciToken, want: 200, subject: "ci"},
		{name: "restricted static token may administer its plugin", method: http.MethodDelete, path: "/api/catalog/entities/u1", token: ciToken, want: 200, subject: "ci"},
		{name: "restricted static token outside its plugin", method: http.MethodGet, path: "/api/things/x", token: ciToken, want: 403, reason: "ci is restricted from calling /api/things/{name}"},
		{name: "prefixes match whole segments", method: http.MethodGet, path: "/api/catalogue/x", token: ciToken, want: 403, reason: "ci is restricted from calling /api/catalogue/x"},
		{name: "unrestricted static token has full access", method: http.MethodDelete, path: "/api/things/x", token: deployToken, want: 200, subject: "deployer"},
		{name: "a static token's near miss", method: http.MethodGet, path: "/api/things/x", token: ciToken + "x", want: 401, reason: "invalid token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := f.do(tt.method, tt.path, tt.token)
			require.Equal(t, tt.want, res.code, res.body)
			switch tt.want {
			case 200:
				require.Equal(t, tt.subject, res.body["subject"])
			case 403:
				require.Equal(t, "NotAllowedError", res.body["error"].(map[string]any)["name"])
				require.Equal(t, tt.reason, res.errorMessage())
				rec := f.lastRecord(auth.EventAuthorize)
				require.Equal(t, auth.StatusFailed, rec.Status)
				require.Equal(t, tt.reason, rec.Meta["reason"])
				require.NotEmpty(t, rec.Actor.ActorID)
			case 401:
				require.Equal(t, tt.reason, res.errorMessage())
			}
		})
	}
	for _, e := range f.bus.Published(auth.AuditTopic) {
		require.NotContains(t, string(e.Payload), ciToken)
		require.NotContains(t, string(e.Payload), deployToken)
	}
}

// TestExternalUseAuditedHourly: an external principal's use is audited once per hour.
func TestExternalUseAuditedHourly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *auth.Options) {
		o.ExternalAccess = []auth.ExternalAccess{{Type: auth.ExternalStatic, Options: auth.ExternalAccessOptions{Token: config.Secret(ciToken), Subject: "ci"}}}
	})
	count := func() int {
		n := 0
		for _, r := range f.records() {
			if r.EventID == auth.EventExternalAccess {
				n++
			}
		}
		return n
	}
	for range 3 {
		require.Equal(t, http.StatusOK, f.do(http.MethodGet, "/api/things/x", ciToken).code)
	}
	require.Equal(t, 1, count())
	rec := f.lastRecord(auth.EventExternalAccess)
	require.Equal(t, "ci", rec.Actor.ActorID)
	require.Equal(t, map[string]any{"externalAccess": "externalAccess[0]", "type": "static", "route": "GET /api/things/{name}"}, rec.Meta)
	f.clock.Advance(59 * time.Minute)
	f.do(http.MethodGet, "/api/things/x", ciToken)
	require.Equal(t, 1, count())
	f.clock.Advance(time.Minute)
	f.do(http.MethodGet, "/api/things/x", ciToken)
	require.Equal(t, 2, count())
}

// issuer is an external identity provider serving a JWKS.
type issuer struct {
	rsa     *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
	srv     *httptest.Server
	fetches atomic.Int32
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	is := &issuer{rsa: rk, ec: ek}
	enc := base64.RawURLEncoding.EncodeToString
	set := auth.JWKS{Keys: []auth.JWK{
		{Kty: "RSA", Kid: "rsa-1", Use: "sig", N: enc(rk.N.Bytes()), E: enc(big.NewInt(int64(rk.E)).Bytes())},
		jwkOf(t, "ec-1", &ek.PublicKey),
		{Kty: "RSA", Kid: "enc-1", Use: "enc", N: enc(rk.N.Bytes()), E: enc(big.NewInt(int64(rk.E)).Bytes())},
	}}
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		is.fetches.Add(1)
		httpserver.WriteJSON(w, http.StatusOK, set)
	}))
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) sign(t *testing.T, method jwt.SigningMethod, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	tok.Header["kid"] = kid
	var key any = is.rsa
	if strings.HasPrefix(method.Alg(), "ES") {
		key = is.ec
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// TestExternalJWKS: tokens of a configured JWKS issuer, with its algorithm pinned.
func TestExternalJWKS(t *testing.T) {
	t.Parallel()
	is := newIssuer(t)
	f := newFixture(t, func(o *auth.Options) {
		o.ExternalAccess = []auth.ExternalAccess{{Type: auth.ExternalJWKS, Options: auth.ExternalAccessOptions{
			URL: is.srv.URL, Issuer: "https://idp.example", Audience: auth.Audiences{"stagebus"}, SubjectPrefix: "idp",
		}, AccessRestrictions: []auth.AccessRestriction{{RoutePrefix: "/api/things"}}}}
		o.HTTPClient = is.srv.Client()
	})
	now := f.clock.Now()
	claims := jwt.MapClaims{"iss": "https://idp.example", "sub": "build-bot", "aud": "stagebus", "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	pub := &is.rsa.PublicKey
	hsWithPublicKey := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		tok.Header["kid"] = "rsa-1"
		s, err := tok.SignedString(pub.N.Bytes())
		require.NoError(t, err)
		return s
	}
	tests := []struct {
		name   string
		token  string
		path   string
		want   int
		reason string
	}{
		{name: "RS256 token", token: is.sign(t, jwt.SigningMethodRS256, "rsa-1", claims), want: 200},
		{name: "ES256 token", token: is.sign(t, jwt.SigningMethodES256, "ec-1", claims), want: 200},
		{name: "restricted route", path: "/api/catalog/entities", token: is.sign(t, jwt.SigningMethodRS256, "rsa-1", claims), want: 403, reason: "external:idp:build-bot is restricted from calling /api/catalog/entities"},
		{name: "HS256 with the public key", token: hsWithPublicKey(), want: 401, reason: "unsupported signing algorithm"},
		{name: "algorithm the key does not declare", token: is.sign(t, jwt.SigningMethodPS256, "rsa-1", claims), want: 401, reason: "unsupported signing algorithm"},
		{name: "encryption key", token: is.sign(t, jwt.SigningMethodRS256, "enc-1", claims), want: 401, reason: "unknown signing key"},
		{name: "wrong audience", token: is.sign(t, jwt.SigningMethodRS256, "rsa-1", with(claims, jwt.MapClaims{"aud": "other"})), want: 401, reason: "token has the wrong audience"},
		{name: "unknown issuer", token: is.sign(t, jwt.SigningMethodRS256, "rsa-1", with(claims, jwt.MapClaims{"iss": "https://other.example"})), want: 401, reason: "token issuer is not configured for external access"},
		{name: "expired", token: is.sign(t, jwt.SigningMethodRS256, "rsa-1", with(claims, jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()})), want: 401, reason: "token has expired"},
		{name: "no subject", token: is.sign(t, jwt.SigningMethodRS256, "rsa-1", with(claims, jwt.MapClaims{"sub": nil})), want: 401, reason: "token has an invalid subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = "/api/things/x"
			}
			res := f.do(http.MethodGet, path, tt.token)
			require.Equal(t, tt.want, res.code, res.body)
			if tt.want == 200 {
				require.Equal(t, map[string]any{"type": "service", "subject": "external:idp:build-bot"}, res.body)
				return
			}
			require.Equal(t, tt.reason, res.errorMessage())
		})
	}
	require.EqualValues(t, 1, is.fetches.Load(), "the JWKS is fetched once and cached")

	// An unknown kid refetches once; the next ones wait for the cooldown (TestJWKSRefresh
	// covers its end).
	for range 5 {
		res := f.do(http.MethodGet, "/api/things/x", is.sign(t, jwt.SigningMethodRS256, "rsa-2", claims))
		require.Equal(t, http.StatusUnauthorized, res.code)
		require.Equal(t, "unknown signing key", res.errorMessage())
	}
	require.EqualValues(t, 2, is.fetches.Load(), "one refetch per cooldown")
}

// TestGuestProvider: guest sign-in in development, refused (and audited) in production.
func TestGuestProvider(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  func(*auth.Options)
		want  int
		ref   string
		owned []any
	}{
		{name: "development", opts: func(o *auth.Options) { o.Environment = config.Development }, want: 200, ref: "user:development/guest", owned: []any{"user:development/guest"}},
		{name: "production", opts: func(o *auth.Options) { o.Environment = config.Production }, want: 403},
		{name: "production, dangerously allowed", opts: func(o *auth.Options) {
			o.Environment = config.Production
			o.Guest.DangerouslyAllowOutsideDevelopment = true
		}, want: 200, ref: "user:development/guest", owned: []any{"user:development/guest"}},
		{name: "custom identity", opts: func(o *auth.Options) {
			o.Guest = auth.GuestProvider{UserEntityRef: "user:default/visitor", OwnershipEntityRefs: []string{"group:default/visitors"}}
		}, want: 200, ref: "user:default/visitor", owned: []any{"group:default/visitors"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tt.opts)
			res := f.do(http.MethodGet, auth.GuestRefreshPath, "")
			require.Equal(t, tt.want, res.code, res.body)
			if tt.want == http.StatusForbidden {
				require.Contains(t, res.errorMessage(), "guest sign-in is only allowed with auth.environment: development")
				rec := f.lastRecord(auth.EventAuthorize)
				require.Equal(t, auth.StatusFailed, rec.Status)
				require.Equal(t, auth.GuestRefreshPath, rec.Request.URL)
				require.Equal(t, "guest", rec.Meta["provider"])
				return
			}
			id := res.body["backstageIdentity"].(map[string]any)
			require.EqualValues(t, 3600, id["expiresInSeconds"])
			require.Equal(t, map[string]any{"type": "user", "userEntityRef": tt.ref, "ownershipEntityRefs": tt.owned}, id["identity"])
			tok := id["token"].(string)
			require.Equal(t, "guest", f.lastRecord(auth.EventTokenIssue).Meta["provider"])

			info := f.do(http.MethodGet, auth.UserInfoPath, tok)
			require.Equal(t, http.StatusOK, info.code)
			require.Equal(t, map[string]any{"claims": map[string]any{"sub": tt.ref, "ent": tt.owned}}, info.body)
			require.Equal(t, http.StatusUnauthorized, f.do(http.MethodGet, auth.UserInfoPath, "").code)
		})
	}
}

// TestUserRoutes: userinfo and the cookie route serve user tokens only; userinfo answers
// other principals 400 InputError, as Backstage does.
func TestUserRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *auth.Options) {
		o.ExternalAccess = []auth.ExternalAccess{{Type: auth.ExternalStatic, Options: auth.ExternalAccessOptions{Token: config.Secret(ciToken), Subject: "ci"}}}
	})
	res := f.do(http.MethodGet, auth.UserInfoPath, ciToken)
	require.Equal(t, http.StatusBadRequest, res.code)
	require.Equal(t, "InputError", res.body["error"].(map[string]any)["name"])

	tok := f.userToken("user:default/bob")
	res = f.do(http.MethodGet, auth.CookiePath, tok)
	require.Equal(t, http.StatusOK, res.code)
	require.Equal(t, f.clock.Now().Add(time.Hour).Format(time.RFC3339), res.body["expiresAt"])
	c, err := http.ParseSetCookie(res.header.Get("Set-Cookie"))
	require.NoError(t, err)
	require.Equal(t, auth.CookieName, c.Name)
	require.Equal(t, tok, c.Value)
	require.True(t, c.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, c.SameSite, "sent on the navigation back from a sign-in provider")
	require.Equal(t, http.StatusOK, f.do(http.MethodGet, auth.UserInfoPath, "", func(r *http.Request) { r.AddCookie(c) }).code)
	require.Equal(t, http.StatusForbidden, f.do(http.MethodGet, auth.CookiePath, ciToken).code)
}

// TestAuditPublishFailure: a bus that refuses audit records fails no request.
func TestAuditPublishFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.bus.Err = errors.New("bus down")
	require.Equal(t, http.StatusUnauthorized, f.do(http.MethodGet, "/api/things/x", "").code)
	res := f.do(http.MethodGet, auth.GuestRefreshPath, "")
	require.Equal(t, http.StatusOK, res.code)
	tok := res.body["backstageIdentity"].(map[string]any)["token"].(string)
	require.Equal(t, http.StatusOK, f.do(http.MethodGet, "/api/things/x", tok).code)
}

// TestModuleOf pins the module a service token's audience names.
func TestModuleOf(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"/api/catalog/entities": "catalog", "/api/catalog": "catalog", "/api/events/dead-letters/{id}": "events",
		"/metrics": "", "/api/": "", "/.backstage/health/v1/liveness": "",
	} {
		require.Equal(t, want, auth.ModuleOf(path), path)
	}
}

// TestNewRefusesBadOptions checks the options of services built without configuration.
func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	_, err := auth.New(auth.Options{})
	require.ErrorContains(t, err, "a store and a publisher are required")
	f := newFixture(t, nil)
	_, err = auth.New(auth.Options{Store: f.store, Publisher: f.bus, Admins: []string{"alice"},
		ExternalAccess: []auth.ExternalAccess{{Type: auth.ExternalStatic, Options: auth.ExternalAccessOptions{Token: "short", Subject: "ci"}}}})
	require.ErrorContains(t, err, `must be a full entity ref kind:namespace/name such as user:default/alice, got "alice"`)
	require.ErrorContains(t, err, "externalAccess[0]: options.token: is too short")
}
