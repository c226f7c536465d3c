package auth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/httpserver"
)

// TestIsAdmin: users listed in auth.admins are admins, nobody else (a service's access
// restrictions are not known here).
func TestIsAdmin(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for _, tc := range []struct {
		p    httpserver.Principal
		want bool
	}{
		{httpserver.Principal{Type: httpserver.PrincipalUser, Subject: "user:default/alice"}, true},
		{httpserver.Principal{Type: httpserver.PrincipalUser, Subject: "user:default/Alice"}, true},
		{httpserver.Principal{Type: httpserver.PrincipalUser, Subject: "user:default/bob"}, false},
		{httpserver.Principal{Type: httpserver.PrincipalService, Subject: "external:ci"}, false},
		{httpserver.Principal{Type: httpserver.PrincipalNone}, false},
	} {
		require.Equal(t, tc.want, f.svc.IsAdmin(tc.p), "%+v", tc.p)
	}
}

// TestGuestSignIn: in development the guest's session cookie is set and the sign-in
// audited; in production it is refused with a 403 and audited.
func TestGuestSignIn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env    config.Environment
		status int // 0: signed in
	}{
		{"development", 0},
		{"production", http.StatusForbidden},
	} {
		t.Run(string(tc.env), func(t *testing.T) {
			f := newFixture(t, func(o *auth.Options) { o.Environment = tc.env })
			require.Equal(t, tc.status == 0, f.svc.GuestAllowed())
			w := httptest.NewRecorder()
			err := f.svc.GuestSignIn(w, httptest.NewRequest(http.MethodPost, "/signin/guest", nil))
			rec := f.lastRecord(auth.EventSignIn)
			if tc.status != 0 {
				var he *httpserver.Error
				require.ErrorAs(t, err, &he)
				require.Equal(t, tc.status, he.Status)
				require.Empty(t, w.Result().Cookies())
				require.Equal(t, auth.StatusFailed, rec.Status)
				return
			}
			require.NoError(t, err)
			cookies := w.Result().Cookies()
			require.Len(t, cookies, 1)
			require.Equal(t, auth.CookieName, cookies[0].Name)
			require.True(t, cookies[0].HttpOnly)
			require.Equal(t, auth.StatusSucceeded, rec.Status)
			require.Equal(t, auth.DefaultGuestRef, rec.Actor.ActorID)
			// The cookie is a session that opens protected routes.
			r := httptest.NewRequest(http.MethodGet, "/api/things/x", nil)
			r.AddCookie(cookies[0])
			p, err := f.svc.Authenticate(r, httpserver.Route{Path: "/api/things/{name}"})
			require.NoError(t, err)
			require.Equal(t, auth.DefaultGuestRef, p.Subject)
		})
	}
}
