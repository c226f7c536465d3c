// Package pagetest serves console sections in tests: the console with the sections given,
// behind the HTTP server, for a signed-in person who is an admin or not, without the auth
// module.
package pagetest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/console"
	"github.com/stagebus/stagebus/httpserver"
	"github.com/stagebus/stagebus/httpserver/httpservertest"
)

// Admin and User are the people Serve signs in.
const (
	Admin = "user:default/alice"
	User  = "user:default/bob"
)

// Auth is the auth module as the console sees it: Admin is an admin; guest sign-in is open
// when Guest is set.
type Auth struct{ Guest bool }

// IsAdmin reports whether p is Admin.
func (Auth) IsAdmin(p httpserver.Principal) bool { return p.Subject == Admin }

// GuestAllowed reports Guest.
func (a Auth) GuestAllowed() bool { return a.Guest }

// GuestSignIn sets a session cookie when Guest is set, else refuses with 403.
func (a Auth) GuestSignIn(w http.ResponseWriter, _ *http.Request) error {
	if !a.Guest {
		return httpserver.Errorf(http.StatusForbidden, "guest sign-in is only allowed in development")
	}
	http.SetCookie(w, &http.Cookie{Name: "backstage-auth", Value: "guest-token", Path: "/"})
	return nil
}

// SignIn is people's sign-in as the console sees it, with the providers Providers.
type SignIn struct{ Providers []string }

// ProviderIDs returns Providers.
func (s SignIn) ProviderIDs() []string { return s.Providers }

// SignOut clears the session cookie.
func (SignIn) SignOut(w http.ResponseWriter, _ *http.Request, _ string) error {
	http.SetCookie(w, &http.Cookie{Name: "backstage-auth", Path: "/", MaxAge: -1})
	return nil
}

// Serve returns the server's handler for a console of o (Auth, SignIn, MaxStreams and Logger
// default to the fakes above, 4 and none) where every request is made by user ("" for
// nobody: pages answer 303 to sign in).
func Serve(t testing.TB, user string, o console.Options) http.Handler {
	t.Helper()
	if o.Auth == nil {
		o.Auth = Auth{Guest: true}
	}
	if o.SignIn == nil {
		o.SignIn = SignIn{Providers: []string{"oidc"}}
	}
	if o.MaxStreams == 0 {
		o.MaxStreams = 4
	}
	o.Logger = zerolog.Nop()
	c, err := console.New(o)
	require.NoError(t, err)
	var authn httpserver.Authenticator = httpserver.DenyAll{}
	if user != "" {
		authn = httpservertest.User(user, user == Admin)
	}
	srv, err := httpserver.New(httpserver.Params{Listen: httpserver.Listen{Host: "127.0.0.1"}, Logger: zerolog.Nop(),
		Registry: prometheus.NewRegistry(), Routes: c.Routes(), Authenticator: authn, Pages: c})
	require.NoError(t, err)
	return srv.Handler()
}

// Get requests target with header (name, value pairs) and returns the response.
func Get(t testing.TB, h http.Handler, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	return do(t, h, httptest.NewRequest(http.MethodGet, target, nil), header)
}

// Post submits form to target, from this site, and returns the response.
func Post(t testing.TB, h http.Handler, target string, form url.Values, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, h, r, header)
}

func do(t testing.TB, h http.Handler, r *http.Request, header []string) *httptest.ResponseRecorder {
	t.Helper()
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	httpservertest.Authorize(r)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// Auditor keeps the audit records a page's actions make (it stands for auth.Service.Audit).
type Auditor struct {
	mu      sync.Mutex
	records []auth.AuditRecord
}

// Audit keeps rec.
func (a *Auditor) Audit(_ context.Context, _ *http.Request, rec auth.AuditRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.records = append(a.records, rec)
}

// Records returns the records kept so far, oldest first.
func (a *Auditor) Records() []auth.AuditRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]auth.AuditRecord(nil), a.records...)
}
