package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/httpserver"
)

// TestStoreContract runs the same checks on the memory store, SQLite and PostgreSQL.
func TestStoreContract(t *testing.T) {
	t.Parallel()
	contract := func(t *testing.T, s auth.Store) {
		ctx := context.Background()
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		keys := []auth.PublicKey{
			{JWK: jwkOf(t, "old", &newForger(t).priv.PublicKey), CreatedAt: now.Add(-4 * time.Hour), ExpiresAt: now.Add(-time.Hour)},
			{JWK: jwkOf(t, "a", &newForger(t).priv.PublicKey), CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(2 * time.Hour)},
			{JWK: jwkOf(t, "b", &newForger(t).priv.PublicKey), CreatedAt: now, ExpiresAt: now.Add(3 * time.Hour)},
		}
		for _, k := range keys {
			require.NoError(t, s.AddPublicKey(ctx, k))
		}
		require.Error(t, s.AddPublicKey(ctx, keys[1]), "a kid is stored once")

		got, err := s.PublicKey(ctx, "a")
		require.NoError(t, err)
		require.Equal(t, keys[1].JWK, got.JWK)
		require.True(t, keys[1].ExpiresAt.Equal(got.ExpiresAt))
		_, err = s.PublicKey(ctx, "old")
		require.NoError(t, err, "expired keys are returned until purged, so verifiers can say why they refuse")
		_, err = s.PublicKey(ctx, "nope")
		require.ErrorIs(t, err, auth.ErrKeyNotFound)

		live, err := s.PublicKeys(ctx, now)
		require.NoError(t, err)
		require.Len(t, live, 2)
		require.Equal(t, "a", live[0].JWK.Kid, "oldest first")
		require.Equal(t, "b", live[1].JWK.Kid)

		n, err := s.PurgePublicKeys(ctx, now)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		_, err = s.PublicKey(ctx, "old")
		require.ErrorIs(t, err, auth.ErrKeyNotFound)

		_, err = s.UserInfo(ctx, "user:default/bob")
		require.ErrorIs(t, err, auth.ErrUserNotFound)
		for _, owned := range [][]string{{"user:default/bob"}, {"user:default/bob", "group:default/team"}} {
			require.NoError(t, s.SetUserInfo(ctx, auth.UserInfo{UserEntityRef: "user:default/bob", OwnershipEntityRefs: owned}))
			info, err := s.UserInfo(ctx, "user:default/bob")
			require.NoError(t, err)
			require.Equal(t, owned, info.OwnershipEntityRefs, "the latest info wins")
		}

		for hash, exp := range map[string]time.Time{"h-expired": now.Add(-time.Minute), "h-live": now.Add(time.Hour)} {
			require.NoError(t, s.EndSession(ctx, hash, exp))
			require.NoError(t, s.EndSession(ctx, hash, exp), "ending a session twice is no error")
		}
		n, err = s.PurgeEndedSessions(ctx, now)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		for hash, want := range map[string]bool{"h-expired": false, "h-live": true, "h-other": false} {
			ended, err := s.SessionEnded(ctx, hash)
			require.NoError(t, err)
			require.Equal(t, want, ended, hash)
		}
	}
	t.Run("memory", func(t *testing.T) { contract(t, auth.NewMemoryStore()) })
	databasetest.Each(t, auth.Migrations, func(t *testing.T, db *database.DB) { contract(t, auth.NewDBStore(db)) })
}

// TestTwoInstancesShareKeys: two instances on one database verify each other's user and
// service tokens, including keys made after the other started, and serve the same JWKS.
func TestTwoInstancesShareKeys(t *testing.T) {
	t.Parallel()
	databasetest.Each(t, auth.Migrations, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		clk := newClock()
		instance := func(db *database.DB) (*auth.Service, *httpserver.Server) {
			svc, err := auth.New(auth.Options{Store: auth.NewDBStore(db), Publisher: &eventsvctest.Recorder{}, Logger: zerolog.Nop(), Clock: clk.Now, BaseURL: testBaseURL})
			require.NoError(t, err)
			require.NoError(t, svc.Start(ctx))
			t.Cleanup(func() { require.NoError(t, svc.Stop(context.Background())) })
			srv, err := httpserver.New(httpserver.Params{Listen: httpserver.Listen{Host: "127.0.0.1"}, Logger: zerolog.Nop(),
				Registry: prometheus.NewRegistry(), Routes: append(svc.Routes(), testRoutes...), Authenticator: svc})
			require.NoError(t, err)
			return svc, srv
		}
		a, srvA := instance(db)
		other, err := database.Open(db.Config(), nil, zerolog.Nop())
		require.NoError(t, err)
		t.Cleanup(func() { _ = other.Close() })
		b, srvB := instance(other)

		call := func(srv *httpserver.Server, path, tok string) int {
			r := httptest.NewRequest(http.MethodGet, path, nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			srv.Handler().ServeHTTP(w, r)
			return w.Code
		}
		check := func() {
			t.Helper()
			fromA, err := a.IssueUserToken(ctx, auth.UserInfo{UserEntityRef: "user:default/bob"})
			require.NoError(t, err)
			fromB, err := b.IssueUserToken(ctx, auth.UserInfo{UserEntityRef: "user:default/bob"})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, call(srvB, "/api/things/x", fromA.Token))
			require.Equal(t, http.StatusOK, call(srvA, "/api/things/x", fromB.Token))
			svcToken, err := a.IssueServiceToken(ctx, "catalog", "things")
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, call(srvB, "/api/things/x", svcToken.Token))
		}
		check()
		// Each rotates; the other learns the new key from the database on first sight.
		require.NoError(t, a.RotateKey(ctx))
		require.NoError(t, b.RotateKey(ctx))
		check()

		keys, err := auth.NewDBStore(db).PublicKeys(ctx, clk.Now())
		require.NoError(t, err)
		require.Len(t, keys, 4, "two keys per instance, all published")
		// The userinfo row written by one instance is read by the other.
		tok, err := a.IssueUserToken(ctx, auth.UserInfo{UserEntityRef: "user:default/carol", OwnershipEntityRefs: []string{"group:default/ops"}})
		require.NoError(t, err)
		r := httptest.NewRequest(http.MethodGet, auth.UserInfoPath, nil)
		r.Header.Set("Authorization", "Bearer "+tok.Token)
		w := httptest.NewRecorder()
		srvB.Handler().ServeHTTP(w, r)
		require.Equal(t, http.StatusOK, w.Code)
		require.JSONEq(t, `{"claims":{"sub":"user:default/carol","ent":["group:default/ops"]}}`, w.Body.String())
	})
}
