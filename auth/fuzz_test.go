package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/httpserver"
)

// FuzzVerifyToken feeds arbitrary strings to token verification (own, static and JWKS
// tokens): it never panics, refuses with a reason that does not echo the token, and accepts
// nothing but the genuine tokens.
func FuzzVerifyToken(f *testing.F) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	const static = "ci-token-0123456789abcdefghij"
	issuerKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	issuerJWK, err := ecJWK("ext-1", &issuerKey.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		httpserver.WriteJSON(w, http.StatusOK, JWKS{Keys: []JWK{issuerJWK}})
	}))
	f.Cleanup(issuer.Close)
	s, err := New(Options{
		Store: NewMemoryStore(), Publisher: &eventsvctest.Recorder{}, Logger: zerolog.Nop(), Clock: func() time.Time { return now },
		ExternalAccess: []ExternalAccess{
			{Type: ExternalStatic, Options: ExternalAccessOptions{Token: config.Secret(static), Subject: "ci"}},
			{Type: ExternalJWKS, Options: ExternalAccessOptions{URL: issuer.URL, Issuer: "https://idp.example", Audience: Audiences{"stagebus"}}},
		},
		HTTPClient: issuer.Client(),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Stop(context.Background()) })
	ctx := context.Background()
	user, err := s.IssueUserToken(ctx, UserInfo{UserEntityRef: "user:default/bob"})
	if err != nil {
		f.Fatal(err)
	}
	service, err := s.IssueServiceToken(ctx, "catalog", "things")
	if err != nil {
		f.Fatal(err)
	}
	external := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": "https://idp.example", "sub": "build-bot", "aud": "stagebus", "exp": now.Add(time.Minute).Unix()})
	external.Header["kid"] = "ext-1"
	externalToken, err := external.SignedString(issuerKey)
	if err != nil {
		f.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	for _, seed := range []string{
		user.Token, service.Token, static, externalToken, "", ".", "..", "a.b.c", "a.b.c.d",
		enc([]byte(`{"alg":"ES256","kid":"made-up"}`)) + "." + enc([]byte(`{"iss":"https://idp.example","sub":"x","aud":"stagebus","exp":1e10}`)) + ".AA",
		enc([]byte(`{"alg":"none","typ":"vnd.backstage.user"}`)) + "." + enc([]byte(`{"sub":"user:default/alice"}`)) + ".",
		enc([]byte(`{"alg":"ES256","typ":"vnd.backstage.plugin","kid":"x"}`)) + "." + enc([]byte(`{"aud":["things"],"exp":1e309}`)) + ".AA",
		enc([]byte(`{"alg":"ES256","typ":"vnd.backstage.user","kid":"`+strings.Repeat("k", 200)+`"}`)) + ".e30.e30",
		strings.Repeat("A", MaxTokenLength+1),
	} {
		f.Add(seed)
	}
	route := httpserver.Route{Method: "GET", Path: "/api/things/{name}"}
	if c, refusal := s.verify(ctx, externalToken, route); refusal != nil || c.principal.Subject != "external:build-bot" {
		f.Fatalf("the issuer's genuine token is not accepted: %v", refusal)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, refusal := s.verify(ctx, tok, route)
		if refusal != nil {
			if refusal.Reason == "" || refusal.Forbidden {
				t.Fatalf("refusal %+v", refusal)
			}
			if len(tok) >= 16 && strings.Contains(refusal.Reason, tok) {
				t.Fatalf("the reason %q echoes the token", refusal.Reason)
			}
			return
		}
		switch c.principal {
		case httpserver.Principal{Type: httpserver.PrincipalUser, Subject: "user:default/bob"},
			httpserver.Principal{Type: httpserver.PrincipalService, Subject: "plugin:catalog"},
			httpserver.Principal{Type: httpserver.PrincipalService, Subject: "ci"},
			httpserver.Principal{Type: httpserver.PrincipalService, Subject: "external:build-bot"}:
		default:
			t.Fatalf("accepted %q as %+v", tok, c.principal)
		}
	})
}
