package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

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

// principals is a fake authenticator with an admin token and a user token.
type principals map[string]bool

func (p principals) Authenticate(r *http.Request, route httpserver.Route) (httpserver.Principal, error) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	admin, ok := p[tok]
	if !ok {
		return httpserver.Principal{}, httpserver.ErrUnauthenticated
	}
	if route.Auth == httpserver.RequireAdmin && !admin {
		return httpserver.Principal{}, fmt.Errorf("%w: not an admin", httpserver.ErrForbidden)
	}
	return httpserver.Principal{Type: httpserver.PrincipalUser, Subject: "user:default/" + tok}, nil
}

type app struct {
	t   *testing.T
	srv *httpserver.Server
	svc *eventsvc.Service
	db  *database.DB
}

func (a app) get(path, token string) (int, map[string]any) {
	a.t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	a.srv.Handler().ServeHTTP(w, r)
	var body map[string]any
	require.NoError(a.t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
	return w.Code, body
}

func startApp(t *testing.T) app {
	t.Helper()
	a := app{t: t}
	fa := fxtest.New(t,
		fx.Supply(configtest.Tree(t, fmt.Sprintf("backend:\n  listen:\n    port: 0\n  database:\n    connection: %s\n", filepath.Join(t.TempDir(), "db.sqlite")))),
		config.Module,
		fx.Supply(zerolog.Nop()),
		httpserver.Module,
		fx.Provide(func() httpserver.Authenticator { return principals{"admin": true, "bob": false} }),
		database.Module,
		eventsvc.Module,
		memory.Module,
		sqlbus.Module,
		deadletter.Module,
		audit.Module,
		fx.Populate(&a.srv, &a.svc, &a.db),
	)
	fa.RequireStart()
	t.Cleanup(fa.RequireStop)
	return a
}

// TestAPI runs the module: records published on auth.audit are stored by the subscription
// and served to admins; the verify route reports an edited row.
func TestAPI(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	ctx := context.Background()
	for i := 1; i <= 4; i++ {
		status := "failed"
		if i%2 == 0 {
			status = "succeeded"
		}
		payload, err := json.Marshal(record(i, "user:default/bob", "authenticate", status))
		require.NoError(t, err)
		require.NoError(t, a.svc.Publish(ctx, eventsvc.Event{ID: fmt.Sprintf("msg-%d", i), Topic: audit.Topic, Payload: payload}))
	}
	require.Eventually(t, func() bool {
		code, body := a.get(audit.EventsPath, "admin")
		return code == http.StatusOK && body["totalItems"] == float64(4)
	}, 10*time.Second, 10*time.Millisecond)

	code, _ := a.get(audit.EventsPath, "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = a.get(audit.EventsPath, "bob")
	require.Equal(t, http.StatusForbidden, code, "admins only")
	code, _ = a.get(audit.VerifyPath, "bob")
	require.Equal(t, http.StatusForbidden, code, "admins only")

	code, body := a.get(audit.EventsPath+"?status=failed&limit=1", "admin")
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 2, body["totalItems"])
	items := body["items"].([]any)
	require.Len(t, items, 1)
	first := items[0].(map[string]any)
	require.EqualValues(t, 3, first["id"])
	require.Equal(t, "msg-3", first["messageId"])
	require.Equal(t, "authenticate", first["eventId"])
	require.Equal(t, map[string]any{"actorId": "user:default/bob", "ip": "192.0.2.1", "userAgent": "test"}, first["actor"])
	require.Equal(t, map[string]any{"method": "GET", "url": "/api/things"}, first["request"])
	require.Len(t, first["hash"], 64)
	cursor := body["pageInfo"].(map[string]any)["nextCursor"].(string)
	code, body = a.get(audit.EventsPath+"?status=failed&limit=1&cursor="+cursor, "admin")
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 1, body["items"].([]any)[0].(map[string]any)["id"])
	require.Empty(t, body["pageInfo"])

	code, body = a.get(audit.EventsPath+"?actor=user:default/bob&eventId=authenticate&from=2026-05-01T12:02:00Z&to=2026-05-01T12:04:00Z", "admin")
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 2, body["totalItems"])
	for _, bad := range []string{"?from=yesterday", "?limit=0", "?limit=501", "?cursor=nope!"} {
		code, _ = a.get(audit.EventsPath+bad, "admin")
		require.Equal(t, http.StatusBadRequest, code, bad)
	}

	code, body = a.get(audit.VerifyPath, "admin")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, map[string]any{"ok": true, "checked": float64(4), "firstBrokenId": nil}, body)

	dropTriggers(t, a.db)
	_, err := a.db.ExecContext(ctx, `UPDATE audit_log SET record = replace(record, 'reason 2', 'nothing to see') WHERE id = 2`)
	require.NoError(t, err)
	code, body = a.get(audit.VerifyPath, "admin")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, false, body["ok"])
	require.EqualValues(t, 2, body["firstBrokenId"])
	require.EqualValues(t, 2, body["checked"])
}
