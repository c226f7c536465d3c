package auth_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/auth"
)

// TestTokenAttacks sends every kind of bad token to a protected route: each is refused with
// 401 for its reason, and each refusal is audited with that reason and without the token.
func TestTokenAttacks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	now := f.clock.Now()
	g := f.forger(now.Add(3 * time.Hour))
	valid := userClaims(now, "user:default/mallory")
	require.Equal(t, http.StatusOK, f.do(http.MethodGet, "/api/things/x", g.sign(t, nil, valid)).code, "the forger's well-formed token is accepted, so each refusal below is for its own reason")

	pubDER, err := x509.MarshalPKIXPublicKey(&g.priv.PublicKey)
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	expiredKey := f.forger(now.Add(-time.Second))
	issued := f.userToken("user:default/bob")

	tests := []struct {
		name   string
		token  func() string
		path   string
		reason string
	}{
		{name: "alg none", reason: "unsupported signing algorithm", token: func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodNone, valid)
			tok.Header["typ"], tok.Header["kid"] = auth.TypeUser, g.kid
			s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
			require.NoError(t, err)
			return s
		}},
		{name: "HS256 signed with the public key", reason: "unsupported signing algorithm", token: func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, valid)
			tok.Header["typ"], tok.Header["kid"] = auth.TypeUser, g.kid
			s, err := tok.SignedString(pubPEM)
			require.NoError(t, err)
			return s
		}},
		{name: "expired", reason: "token has expired", token: func() string {
			return g.sign(t, nil, with(valid, jwt.MapClaims{"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Minute).Unix()}))
		}},
		{name: "not yet valid", reason: "token is not valid yet", token: func() string {
			return g.sign(t, nil, with(valid, jwt.MapClaims{"nbf": now.Add(10 * time.Minute).Unix()}))
		}},
		{name: "issued in the future", reason: "token is not valid yet", token: func() string {
			return g.sign(t, nil, with(valid, jwt.MapClaims{"iat": now.Add(10 * time.Minute).Unix()}))
		}},
		{name: "wrong aud", reason: "token has the wrong audience", token: func() string {
			return g.sign(t, nil, with(valid, jwt.MapClaims{"aud": "somebody-else"}))
		}},
		{name: "wrong iss", reason: "token has the wrong issuer", token: func() string {
			return g.sign(t, nil, with(valid, jwt.MapClaims{"iss": "https://evil.example/api/auth"}))
		}},
		{name: "wrong typ", reason: "unsupported token type", token: func() string {
			return g.sign(t, map[string]any{"typ": "JWT"}, valid)
		}},
		{name: "no typ", reason: "unsupported token type", token: func() string {
			return g.sign(t, map[string]any{"typ": nil}, valid)
		}},
		{name: "user claims under the service typ", reason: "token has the wrong audience", token: func() string {
			return g.sign(t, map[string]any{"typ": auth.TypePlugin}, valid)
		}},
		{name: "unknown kid", reason: "unknown signing key", token: func() string {
			return newForger(t).sign(t, nil, valid)
		}},
		{name: "no kid", reason: "unknown signing key", token: func() string {
			return g.sign(t, map[string]any{"kid": nil}, valid)
		}},
		{name: "kid of a registered key, signature of another", reason: "invalid token signature", token: func() string {
			return newForger(t).sign(t, map[string]any{"kid": g.kid}, valid)
		}},
		{name: "tampered payload", reason: "invalid token signature", token: func() string {
			parts := strings.Split(issued, ".")
			claims := decodeSegment(t, issued, 1)
			claims["sub"] = "user:default/alice"
			b, err := json.Marshal(claims)
			require.NoError(t, err)
			parts[1] = base64.RawURLEncoding.EncodeToString(b)
			return strings.Join(parts, ".")
		}},
		{name: "oversized", reason: "token is too large", token: func() string {
			return g.sign(t, nil, with(valid, jwt.MapClaims{"pad": strings.Repeat("x", auth.MaxTokenLength)}))
		}},
		{name: "key past its expiry", reason: "signing key has expired", token: func() string {
			return expiredKey.sign(t, nil, valid)
		}},
		{name: "no exp", reason: "token lacks a required claim", token: func() string {
			return g.sign(t, nil, with(valid, jwt.MapClaims{"exp": nil}))
		}},
		{name: "no iat", reason: "token lacks a required claim", token: func() string {
			return g.sign(t, nil, with(valid, jwt.MapClaims{"iat": nil}))
		}},
		{name: "subject is not an entity ref", reason: "token has an invalid subject", token: func() string {
			return g.sign(t, nil, with(valid, jwt.MapClaims{"sub": "alice"}))
		}},
		{name: "service token living longer than an hour", reason: "token lifetime is too long", token: func() string {
			return g.sign(t, map[string]any{"typ": auth.TypePlugin}, jwt.MapClaims{"sub": "catalog", "aud": "things", "iat": now.Unix(), "exp": now.Add(2 * time.Hour).Unix()})
		}},
		{name: "service token for another module", reason: "token has the wrong audience", token: func() string {
			tok, err := f.svc.IssueServiceToken(context.Background(), "catalog", "catalog")
			require.NoError(t, err)
			return tok.Token
		}},
		{name: "not a JWT", reason: "invalid token", token: func() string { return "definitely-not-a-token" }},
		{name: "undecodable header", reason: "invalid token", token: func() string { return "!!!.e30.sig" }},
		// Four characters shorter, the last one with its unused bits zero: strict base64 that
		// decodes to a signature of the wrong length.
		{name: "truncated signature", reason: "invalid token signature", token: func() string { return issued[:len(issued)-5] + "A" }},
		{name: "signature with unused bits set (another encoding of the same bytes)", reason: "malformed token", token: func() string {
			last := issued[len(issued)-1]
			// The 86th character carries the signature's last 2 bits and 4 unused ones, zero.
			return issued[:len(issued)-1] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[(strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", last)|1)])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token()
			res := f.do(http.MethodGet, "/api/things/x", tok)
			require.Equal(t, http.StatusUnauthorized, res.code)
			require.Equal(t, tt.reason, res.errorMessage())

			rec := f.lastRecord(auth.EventAuthenticate)
			require.Equal(t, auth.StatusFailed, rec.Status)
			require.Equal(t, tt.reason, rec.Meta["reason"])
			require.Equal(t, "GET /api/things/{name}", rec.Meta["route"])
			require.Equal(t, &auth.AuditRequest{Method: http.MethodGet, URL: "/api/things/x"}, rec.Request)
			require.Equal(t, auth.AuditActor{IP: "192.0.2.10", UserAgent: "attack-table/1.0"}, rec.Actor)
			for _, e := range f.bus.Published(auth.AuditTopic) {
				sig := tok[strings.LastIndexByte(tok, '.')+1:]
				require.NotContains(t, string(e.Payload), tok)
				if len(sig) > 8 {
					require.NotContains(t, string(e.Payload), sig, "no part of a token is ever audited")
				}
			}
		})
	}
}

// TestCredentialSources covers where a token may come from.
func TestCredentialSources(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tok := f.userToken("user:default/bob")
	cookie := func(r *http.Request) { r.AddCookie(&http.Cookie{Name: auth.CookieName, Value: tok}) }
	tests := []struct {
		name   string
		method string
		header func(*http.Request)
		want   int
		reason string
	}{
		{name: "bearer", method: http.MethodGet, header: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }, want: 200},
		{name: "bearer scheme is case-insensitive", method: http.MethodGet, header: func(r *http.Request) { r.Header.Set("Authorization", "bearer "+tok) }, want: 200},
		{name: "cookie on GET", method: http.MethodGet, header: cookie, want: 200},
		{name: "cookie on a same-origin POST", method: http.MethodPost, header: func(r *http.Request) {
			cookie(r)
			r.Header.Set("Sec-Fetch-Site", "same-origin")
		}, want: 200},
		{name: "cookie on a POST without browser headers (no browser, no CSRF)", method: http.MethodPost, header: cookie, want: 200},
		{name: "cookie on a cross-site POST (CSRF)", method: http.MethodPost, header: func(r *http.Request) {
			cookie(r)
			r.Header.Set("Sec-Fetch-Site", "cross-site")
		}, want: 403, reason: "cross-origin request refused: a request that changes state with the session cookie must come from this site"},
		{name: "cookie on a cross-origin POST of an old browser (CSRF)", method: http.MethodPost, header: func(r *http.Request) {
			cookie(r)
			r.Header.Set("Origin", "https://evil.example")
		}, want: 403, reason: "cross-origin request refused: a request that changes state with the session cookie must come from this site"},
		{name: "cookie on a cross-site GET (reads change nothing)", method: http.MethodGet, header: func(r *http.Request) {
			cookie(r)
			r.Header.Set("Sec-Fetch-Site", "cross-site")
		}, want: 200},
		{name: "nothing", method: http.MethodGet, header: func(*http.Request) {}, want: 401, reason: "missing credentials"},
		{name: "basic auth", method: http.MethodGet, header: func(r *http.Request) { r.SetBasicAuth("alice", "secret") }, want: 401, reason: "unsupported authorization scheme; send Authorization: Bearer <token>"},
		{name: "empty bearer", method: http.MethodGet, header: func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }, want: 401, reason: "unsupported authorization scheme; send Authorization: Bearer <token>"},
		{name: "two authorization headers", method: http.MethodGet, header: func(r *http.Request) {
			r.Header.Add("Authorization", "Bearer "+tok)
			r.Header.Add("Authorization", "Bearer "+tok)
		}, want: 401, reason: "unsupported authorization scheme; send Authorization: Bearer <token>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := f.do(tt.method, "/api/things/x", "", tt.header)
			require.Equal(t, tt.want, res.code)
			if tt.want == 200 {
				require.Equal(t, "user:default/bob", res.body["subject"])
				return
			}
			require.Equal(t, tt.reason, res.errorMessage())
			event := auth.EventAuthenticate
			if tt.want == http.StatusForbidden {
				event = auth.EventAuthorize
			}
			require.Equal(t, tt.reason, f.lastRecord(event).Meta["reason"])
		})
	}
}

// TestTokenShapes checks the headers and claims Backstage's tooling expects, and that each
// issue is audited.
func TestTokenShapes(t *testing.T) {
	t.Parallel()
	t.Run("user token without the ownership claim", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		tok, err := f.svc.IssueUserToken(context.Background(), auth.UserInfo{UserEntityRef: "user:default/bob", OwnershipEntityRefs: []string{"user:default/bob", "group:default/team"}})
		require.NoError(t, err)
		h := decodeSegment(t, tok.Token, 0)
		require.Equal(t, "ES256", h["alg"])
		require.Equal(t, auth.TypeUser, h["typ"])
		require.NotEmpty(t, h["kid"])
		c := decodeSegment(t, tok.Token, 1)
		now := float64(f.clock.Now().Unix())
		require.NotEmpty(t, c["uip"])
		delete(c, "uip")
		require.Equal(t, map[string]any{"iss": testBaseURL + "/api/auth", "sub": "user:default/bob", "aud": "backstage", "iat": now, "exp": now + 3600}, c)
		require.Equal(t, f.clock.Now().Add(time.Hour), tok.ExpiresAt)

		rec := f.lastRecord(auth.EventTokenIssue)
		require.Equal(t, auth.StatusSucceeded, rec.Status)
		require.Equal(t, "user:default/bob", rec.Actor.ActorID)
		require.Equal(t, "user", rec.Meta["tokenType"])
		require.Equal(t, h["kid"], rec.Meta["kid"])
		require.Equal(t, "auth", rec.Plugin)
	})
	t.Run("ownership claim on request", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, func(o *auth.Options) { o.IncludeOwnershipClaim = true })
		tok := f.userToken("user:default/bob")
		require.Equal(t, []any{"user:default/bob"}, decodeSegment(t, tok, 1)["ent"])
	})
	t.Run("limited user token rebuilt from uip", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		tok := f.userToken("user:default/bob")
		limited := limitedToken(t, tok)
		require.Equal(t, map[string]any{"typ": auth.TypeLimitedUser, "alg": "ES256", "kid": decodeSegment(t, tok, 0)["kid"]}, decodeSegment(t, limited, 0))
		now := float64(f.clock.Now().Unix())
		require.Equal(t, map[string]any{"sub": "user:default/bob", "iat": now, "exp": now + 3600}, decodeSegment(t, limited, 1))
		res := f.do(http.MethodGet, auth.UserInfoPath, limited)
		require.Equal(t, http.StatusOK, res.code, "userinfo accepts limited tokens: %v", res.body)
		require.Equal(t, "user:default/bob", res.body["claims"].(map[string]any)["sub"])
		res = f.do(http.MethodGet, "/api/things/x", limited)
		require.Equal(t, http.StatusUnauthorized, res.code, "other routes need the full token")
		require.Contains(t, f.lastRecord(auth.EventAuthenticate).Meta["reason"], "illegal limited user token")
		// A limited token whose signature is not its user token's uip is refused.
		other := limitedToken(t, f.userToken("user:default/eve"))
		forged := strings.Join(append(strings.Split(limited, ".")[:2], strings.Split(other, ".")[2]), ".")
		require.Equal(t, http.StatusUnauthorized, f.do(http.MethodGet, auth.UserInfoPath, forged).code)
	})
	t.Run("service token", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		tok, err := f.svc.IssueServiceToken(context.Background(), "catalog", "things")
		require.NoError(t, err)
		require.Equal(t, auth.TypePlugin, decodeSegment(t, tok.Token, 0)["typ"])
		now := float64(f.clock.Now().Unix())
		require.Equal(t, map[string]any{"sub": "catalog", "aud": "things", "iat": now, "exp": now + 3600}, decodeSegment(t, tok.Token, 1))
		res := f.do(http.MethodDelete, "/api/things/x", tok.Token)
		require.Equal(t, http.StatusOK, res.code, "an unrestricted service principal may call admin routes of its target")
		require.Equal(t, map[string]any{"type": "service", "subject": "plugin:catalog"}, res.body)
		require.Equal(t, "service", f.lastRecord(auth.EventTokenIssue).Meta["tokenType"])
		_, err = f.svc.IssueServiceToken(context.Background(), "Catalog!", "things")
		require.Error(t, err)
	})
	t.Run("expiration is clamped", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct{ configured, want time.Duration }{{time.Minute, 10 * time.Minute}, {48 * time.Hour, 24 * time.Hour}, {2 * time.Hour, 2 * time.Hour}} {
			f := newFixture(t, func(o *auth.Options) { o.TokenExpiration = tc.configured })
			c := decodeSegment(t, f.userToken("user:default/bob"), 1)
			require.Equal(t, tc.want.Seconds(), c["exp"].(float64)-c["iat"].(float64), tc.configured)
		}
	})
	t.Run("bad identities are refused", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		_, err := f.svc.IssueUserToken(context.Background(), auth.UserInfo{UserEntityRef: "group:default/team"})
		require.ErrorContains(t, err, "must be a user entity ref")
		_, err = f.svc.IssueUserToken(context.Background(), auth.UserInfo{UserEntityRef: "user:default/bob", OwnershipEntityRefs: []string{"team"}})
		require.ErrorContains(t, err, "ownership")
	})
}

// TestKeyRotation: tokens signed before a rotation stay valid; expired public keys are
// purged and then verify nothing.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	jwks := func() []string {
		res := f.do(http.MethodGet, auth.JWKSPath, "")
		require.Equal(t, http.StatusOK, res.code)
		var kids []string
		for _, k := range res.body["keys"].([]any) {
			m := k.(map[string]any)
			require.Equal(t, "EC", m["kty"])
			require.Equal(t, "P-256", m["crv"])
			require.Equal(t, "ES256", m["alg"])
			require.NotContains(t, m, "d", "never the private key")
			kids = append(kids, m["kid"].(string))
		}
		return kids
	}
	require.Empty(t, jwks(), "no key before the first use")

	before := f.userToken("user:default/bob")
	firstKid := decodeSegment(t, before, 0)["kid"]
	f.clock.Advance(30 * time.Minute)
	require.NoError(t, f.svc.RotateKey(ctx))
	after := f.userToken("user:default/bob")
	require.NotEqual(t, firstKid, decodeSegment(t, after, 0)["kid"])
	require.Equal(t, []string{firstKid.(string), decodeSegment(t, after, 0)["kid"].(string)}, jwks())
	for _, tok := range []string{before, after} {
		require.Equal(t, http.StatusOK, f.do(http.MethodGet, "/api/things/x", tok).code, "tokens from before and after the rotation verify")
	}

	// Rotation is due after auth.keyRotation: the next issue signs with a new key.
	f.clock.Advance(61 * time.Minute)
	third := f.userToken("user:default/bob")
	require.Len(t, jwks(), 3)
	require.Equal(t, http.StatusOK, f.do(http.MethodGet, "/api/things/x", third).code)

	// The first key expires 3h after its creation and is purged.
	f.clock.Advance(3*time.Hour - 91*time.Minute)
	n, err := f.svc.PurgeKeys(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.NotContains(t, jwks(), firstKid)
	_, err = f.store.PublicKey(ctx, firstKid.(string))
	require.ErrorIs(t, err, auth.ErrKeyNotFound)
}

// TestBackgroundRotation: Start rotates keys on its own goroutine, driven by the injected
// clock, and Stop ends it.
func TestBackgroundRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *auth.Options) { o.KeyRotation = 4 * time.Second })
	ctx := context.Background()
	require.NoError(t, f.svc.Start(ctx))
	keys, err := f.store.PublicKeys(ctx, f.clock.Now())
	require.NoError(t, err)
	require.Len(t, keys, 1, "Start makes the first key")
	f.clock.Advance(5 * time.Second)
	require.Eventually(t, func() bool {
		keys, err := f.store.PublicKeys(ctx, f.clock.Now())
		return err == nil && len(keys) == 2
	}, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, f.svc.Stop(ctx))
	require.NoError(t, f.svc.Stop(ctx), "Stop twice is harmless")
}

// TestTrustedOrigins: a Backstage frontend on an origin of backend.cors may change state with
// the session cookie; other sites still may not.
func TestTrustedOrigins(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *auth.Options) { o.TrustedOrigins = []string{"https://portal.example/"} })
	tok := f.userToken("user:default/bob")
	for origin, want := range map[string]int{"https://portal.example": http.StatusOK, "https://evil.example": http.StatusForbidden} {
		res := f.do(http.MethodPost, "/api/things/x", "", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: auth.CookieName, Value: tok})
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			r.Header.Set("Origin", origin)
		})
		require.Equal(t, want, res.code, origin)
	}
}

// TestEndSession: after a logout, the session's token opens nothing, as a cookie, as a bearer
// token or as the limited token rebuilt from it; another sign-in of the same user still works.
func TestEndSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tok := f.userToken("user:default/bob")
	f.clock.Advance(time.Second)
	other := f.userToken("user:default/bob")
	r := httptest.NewRequest(http.MethodPost, "/api/auth/oidc/logout", nil)
	r.AddCookie(&http.Cookie{Name: auth.CookieName, Value: tok})
	w := httptest.NewRecorder()
	user, err := f.svc.EndSession(w, r)
	require.NoError(t, err)
	require.Equal(t, "user:default/bob", user)
	require.Contains(t, w.Header().Get("Set-Cookie"), "Max-Age=0", "the cookie is cleared")

	cookie := func(r *http.Request) { r.AddCookie(&http.Cookie{Name: auth.CookieName, Value: tok}) }
	require.Equal(t, http.StatusUnauthorized, f.do(http.MethodGet, "/api/things/x", "", cookie).code)
	require.Equal(t, http.StatusUnauthorized, f.do(http.MethodGet, "/api/things/x", tok).code)
	require.Equal(t, http.StatusUnauthorized, f.do(http.MethodGet, auth.UserInfoPath, limitedToken(t, tok)).code)
	require.Equal(t, "the session was logged out: sign in again", f.lastRecord(auth.EventAuthenticate).Meta["reason"])
	require.Equal(t, http.StatusOK, f.do(http.MethodGet, "/api/things/x", other).code, "another sign-in is another session")
}
