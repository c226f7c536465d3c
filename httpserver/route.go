package httpserver

import (
	"context"
	"errors"
	"net/http"

	"go.uber.org/fx"
)

// Policy says who may call a route. The zero value requires credentials, so a route is
// protected unless its registration says otherwise.
type Policy int

// The policies.
const (
	// RequireCredentials admits any authenticated principal (the default).
	RequireCredentials Policy = iota
	// Unauthenticated admits everyone: health probes, metrics, webhook ingress (whose senders
	// are authenticated by their signatures), public keys.
	Unauthenticated
	// RequireAdmin admits only principals the Authenticator recognises as administrators.
	RequireAdmin
	// UserCookie admits any authenticated principal, limited user tokens included (the slim
	// tokens Backstage's backends forward on a user's behalf, which other routes refuse):
	// Backstage's user-cookie policy.
	UserCookie
)

// String names the policy.
func (p Policy) String() string {
	switch p {
	case Unauthenticated:
		return "unauthenticated"
	case RequireAdmin:
		return "admin"
	case UserCookie:
		return "user-cookie"
	}
	return "credentials"
}

// Route is one registered HTTP route.
type Route struct {
	// Method is the HTTP method, e.g. GET; empty matches every method.
	Method string
	// Path is a net/http pattern path such as /api/catalog/entities/by-uid/{uid}.
	Path string
	// Handler serves the route. The request context carries the Principal.
	Handler http.Handler
	// Auth is the route's policy; the zero value requires credentials.
	Auth Policy
	// Page marks an HTML page for people: a request the policy refuses gets the server's
	// [PageResponder] answer (a redirect to sign in, an HTML 403) instead of a JSON error. The
	// policy itself is enforced exactly as for any other route.
	Page bool
}

// Pattern returns the net/http ServeMux pattern: "METHOD /path".
func (r Route) Pattern() string {
	if r.Method == "" {
		return r.Path
	}
	return r.Method + " " + r.Path
}

// AsRoutes annotates a constructor returning []Route (and optionally an error) so that its
// routes join the server's "routes" value group.
func AsRoutes(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"routes,flatten"`))
}

// PrincipalType is the kind of caller.
type PrincipalType string

// The principal types, as in Backstage.
const (
	PrincipalUser    PrincipalType = "user"
	PrincipalService PrincipalType = "service"
	PrincipalNone    PrincipalType = "none"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	Type PrincipalType
	// Subject is the user entity ref (user:default/alice) or the service's subject.
	Subject string
}

// ErrUnauthenticated means missing or invalid credentials (401).
var ErrUnauthenticated = errors.New("missing or invalid credentials")

// ErrForbidden means valid credentials that may not call the route (403).
var ErrForbidden = errors.New("not allowed")

// Authenticator checks a request's credentials against a route's policy (never called for
// Unauthenticated routes). It returns the principal, or an error wrapping
// [ErrUnauthenticated] (answered 401) or [ErrForbidden] (answered 403); the error's text is
// shown to the caller, so it must not contain the credentials.
type Authenticator interface {
	Authenticate(r *http.Request, route Route) (Principal, error)
}

// PageResponder answers the requests that a [Route.Page]'s policy refuses. It is provided by
// the module that serves the pages (the console); a server with page routes and no
// PageResponder does not start.
type PageResponder interface {
	// Unauthenticated answers a request without valid credentials, typically with a 303 to a
	// sign-in page.
	Unauthenticated(w http.ResponseWriter, r *http.Request)
	// Forbidden answers a request whose credentials may not see the page; err says why.
	Forbidden(w http.ResponseWriter, r *http.Request, err error)
}

// DenyAll refuses every request: the Authenticator in force until a module provides one, so
// that nothing protected is ever open.
type DenyAll struct{}

var _ Authenticator = DenyAll{}

// Authenticate always fails with ErrUnauthenticated.
func (DenyAll) Authenticate(*http.Request, Route) (Principal, error) {
	return Principal{}, ErrUnauthenticated
}

type principalKey struct{}

// ContextWithPrincipal returns ctx carrying p.
func ContextWithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFromContext returns the request's principal; Type is none for unauthenticated
// routes.
func PrincipalFromContext(ctx context.Context) Principal {
	if p, ok := ctx.Value(principalKey{}).(Principal); ok {
		return p
	}
	return Principal{Type: PrincipalNone}
}
