package auth

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/httpserver"
)

// FuzzVerifyToken feeds arbitrary strings to token verification: it never panics, refuses
// with a reason that does not echo the token, and accepts nothing but the genuine tokens.
func FuzzVerifyToken(f *testing.F) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	const static = "ci-token-0123456789abcdefghij"
	s, err := New(Options{
		Store: NewMemoryStore(), Publisher: &eventsvctest.Recorder{}, Logger: zerolog.Nop(), Clock: func() time.Time { return now },
		ExternalAccess: []ExternalAccess{{Type: ExternalStatic, Options: ExternalAccessOptions{Token: config.Secret(static), Subject: "ci"}}},
	})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	user, err := s.IssueUserToken(ctx, UserInfo{UserEntityRef: "user:default/bob"})
	if err != nil {
		f.Fatal(err)
	}
	service, err := s.IssueServiceToken(ctx, "catalog", "things")
	if err != nil {
		f.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	for _, seed := range []string{
		user.Token, service.Token, static, "", ".", "..", "a.b.c", "a.b.c.d",
		enc([]byte(`{"alg":"none","typ":"vnd.backstage.user"}`)) + "." + enc([]byte(`{"sub":"user:default/alice"}`)) + ".",
		enc([]byte(`{"alg":"ES256","typ":"vnd.backstage.plugin","kid":"x"}`)) + "." + enc([]byte(`{"aud":["things"],"exp":1e309}`)) + ".AA",
		enc([]byte(`{"alg":"ES256","typ":"vnd.backstage.user","kid":"`+strings.Repeat("k", 200)+`"}`)) + ".e30.e30",
		strings.Repeat("A", MaxTokenLength+1),
	} {
		f.Add(seed)
	}
	route := httpserver.Route{Method: "GET", Path: "/api/things/{name}"}
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
			httpserver.Principal{Type: httpserver.PrincipalService, Subject: "ci"}:
		default:
			t.Fatalf("accepted %q as %+v", tok, c.principal)
		}
	})
}
