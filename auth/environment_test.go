package auth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/httpserver"
)

// envInstance is one Stagebus instance of an auth.environment on a shared store.
type envInstance struct {
	svc *auth.Service
	bus *eventsvctest.Recorder
	srv *httpserver.Server
}

func newEnvInstance(t *testing.T, store auth.Store, env config.Environment, clk *clock) envInstance {
	t.Helper()
	bus := &eventsvctest.Recorder{}
	svc, err := auth.New(auth.Options{Store: store, Publisher: bus, Logger: zerolog.Nop(), Clock: clk.Now, BaseURL: testBaseURL, Environment: env})
	require.NoError(t, err)
	srv, err := httpserver.New(httpserver.Params{Listen: httpserver.Listen{Host: "127.0.0.1"}, Logger: zerolog.Nop(),
		Registry: prometheus.NewRegistry(), Routes: append(svc.Routes(), testRoutes...), Authenticator: svc})
	require.NoError(t, err)
	return envInstance{svc: svc, bus: bus, srv: srv}
}

// call sends GET path with the token and returns the status and the error message.
func (in envInstance) call(t *testing.T, path, tok string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	in.srv.Handler().ServeHTTP(w, r)
	var body struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return w.Code, body.Error.Message
}

// lastRefusal returns the reason of the last authenticate audit record.
func (in envInstance) lastRefusal(t *testing.T) string {
	t.Helper()
	events := in.bus.Published(auth.AuditTopic)
	for i := len(events) - 1; i >= 0; i-- {
		var rec auth.AuditRecord
		require.NoError(t, json.Unmarshal(events[i].Payload, &rec))
		if rec.EventID == auth.EventAuthenticate {
			require.Equal(t, auth.StatusFailed, rec.Status)
			return rec.Meta["reason"].(string)
		}
	}
	t.Fatal("no authenticate audit record")
	return ""
}

// jwksKids returns the kids the instance's JWKS route serves.
func (in envInstance) jwksKids(t *testing.T) []string {
	t.Helper()
	w := httptest.NewRecorder()
	in.srv.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, auth.JWKSPath, nil))
	require.Equal(t, http.StatusOK, w.Code)
	var set auth.JWKS
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &set))
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// TestEnvironmentsDoNotShareTokens: a development instance sharing the database with
// production mints tokens that production refuses with 401 and an audited reason (and the
// other way round); each JWKS serves only its own environment's keys.
func TestEnvironmentsDoNotShareTokens(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, prodStore, devStore auth.Store) {
		ctx := context.Background()
		clk := newClock()
		prod := newEnvInstance(t, prodStore, config.Production, clk)
		dev := newEnvInstance(t, devStore, config.Development, clk)

		devUser, err := dev.svc.IssueUserToken(ctx, auth.UserInfo{UserEntityRef: "user:default/mallory"})
		require.NoError(t, err)
		devService, err := dev.svc.IssueServiceToken(ctx, "catalog", "things")
		require.NoError(t, err)
		prodUser, err := prod.svc.IssueUserToken(ctx, auth.UserInfo{UserEntityRef: "user:default/bob"})
		require.NoError(t, err)

		const devToProd = "token was signed by an instance with auth.environment development; this instance accepts only tokens minted in production"
		const prodToDev = "token was signed by an instance with auth.environment production; this instance accepts only tokens minted in development"
		tests := []struct {
			name   string
			at     envInstance
			token  string
			want   int
			reason string
		}{
			{name: "production accepts its own user token", at: prod, token: prodUser.Token, want: 200},
			{name: "development accepts its own user token", at: dev, token: devUser.Token, want: 200},
			{name: "production refuses a development user token", at: prod, token: devUser.Token, want: 401, reason: devToProd},
			{name: "production refuses a development service token", at: prod, token: devService.Token, want: 401, reason: devToProd},
			{name: "development refuses a production user token", at: dev, token: prodUser.Token, want: 401, reason: prodToDev},
		}
		for _, tt := range tests {
			code, msg := tt.at.call(t, "/api/things/x", tt.token)
			require.Equal(t, tt.want, code, tt.name)
			if tt.want == 401 {
				require.Equal(t, tt.reason, msg, tt.name)
				require.Equal(t, tt.reason, tt.at.lastRefusal(t), tt.name)
			}
		}

		// The JWKS of each serves only keys made in its environment.
		prodKid := decodeSegment(t, prodUser.Token, 0)["kid"].(string)
		devKid := decodeSegment(t, devUser.Token, 0)["kid"].(string)
		require.Equal(t, []string{prodKid}, prod.jwksKids(t))
		require.Equal(t, []string{devKid}, dev.jwksKids(t))
		stored, err := prodStore.PublicKey(ctx, devKid)
		require.NoError(t, err)
		require.Equal(t, config.Development, stored.Environment, "the store keeps the environment that made the key")
	}
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		s := auth.NewMemoryStore()
		check(t, s, s)
	})
	databasetest.Each(t, auth.Migrations, func(t *testing.T, db *database.DB) {
		other, err := database.Open(db.Config(), nil, zerolog.Nop())
		require.NoError(t, err)
		t.Cleanup(func() { _ = other.Close() })
		check(t, auth.NewDBStore(db), auth.NewDBStore(other))
	})
}

// TestKeysWithoutEnvironmentVerifyNothing: keys stored before environments were recorded
// (as a development instance of an older version still makes them) are refused.
func TestKeysWithoutEnvironmentVerifyNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *auth.Options) { o.Environment = config.Production })
	g := newForger(t)
	now := f.clock.Now()
	require.NoError(t, f.store.AddPublicKey(context.Background(), auth.PublicKey{JWK: jwkOf(t, g.kid, &g.priv.PublicKey), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	res := f.do(http.MethodGet, "/api/things/x", g.sign(t, nil, userClaims(now, "user:default/mallory")))
	require.Equal(t, http.StatusUnauthorized, res.code)
	const reason = "token was signed by a key with no recorded auth.environment; this production instance accepts only keys made in production: get a new token"
	require.Equal(t, reason, res.errorMessage())
	require.Equal(t, reason, f.lastRecord(auth.EventAuthenticate).Meta["reason"])
}

// TestWeakStaticTokens: a static token of too few different characters is refused at
// start-up in production, with one line naming the key and the fix, and only warned about
// in development.
func TestWeakStaticTokens(t *testing.T) {
	t.Parallel()
	const key = "backend.auth.externalAccess[1].options.token: is weak"
	tests := []struct {
		name    string
		token   string
		env     config.Environment
		wantErr string
		warn    bool
	}{
		{name: "one letter repeated, production", token: strings.Repeat("a", 22), env: config.Production, wantErr: key + ", it has only 1 different characters"},
		{name: "two letters alternating, production", token: strings.Repeat("ab", 16), env: config.Production, wantErr: key + ", it has only 2 different characters"},
		{name: "seven different characters, production", token: strings.Repeat("abcdefg", 4), env: config.Production, wantErr: key + ", it has only 7 different characters"},
		{name: "one letter repeated, development", token: strings.Repeat("a", 22), env: config.Development, warn: true},
		{name: "eight different characters", token: strings.Repeat("abcdefgh", 3), env: config.Production},
		{name: "random base64", token: "q8Vt3Zr0LmXw7YpK2sNd9AbFh", env: config.Production},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs strings.Builder
			_, err := auth.New(auth.Options{
				Store: auth.NewMemoryStore(), Publisher: &eventsvctest.Recorder{}, Logger: zerolog.New(&logs), Environment: tt.env,
				ExternalAccess: []auth.ExternalAccess{
					{Type: auth.ExternalStatic, Options: auth.ExternalAccessOptions{Token: config.Secret(ciToken), Subject: "ci"}},
					{Type: auth.ExternalStatic, Options: auth.ExternalAccessOptions{Token: config.Secret(tt.token), Subject: "weak"}},
				},
			})
			require.NotContains(t, logs.String(), tt.token)
			if tt.wantErr == "" {
				require.NoError(t, err)
				if tt.warn {
					require.Contains(t, logs.String(), key)
					require.Contains(t, logs.String(), "accepted only because auth.environment is development")
				} else {
					require.Empty(t, logs.String())
				}
				return
			}
			require.Error(t, err)
			require.NotContains(t, err.Error(), "\n", "one line")
			require.NotContains(t, err.Error(), tt.token)
			require.Contains(t, err.Error(), tt.wantErr)
			require.Contains(t, err.Error(), "at least 8 different: generate one with openssl rand -base64 32")
		})
	}
}
