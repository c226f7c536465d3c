package httpservertest

import (
	"fmt"
	"net/http"

	"go.uber.org/fx"

	"github.com/stagebus/stagebus/httpserver"
)

// Token is the bearer token the test authenticator accepts by default.
const Token = "stagebus-test-token"

// Authenticator accepts requests with "Authorization: Bearer <Token>" as Principal and
// refuses all others with 401. Admin routes are refused with 403 unless Admin is set.
type Authenticator struct {
	Token     string
	Principal httpserver.Principal
	Admin     bool
}

var _ httpserver.Authenticator = Authenticator{}

// Authenticate implements httpserver.Authenticator.
func (a Authenticator) Authenticate(r *http.Request, route httpserver.Route) (httpserver.Principal, error) {
	if r.Header.Get("Authorization") != "Bearer "+a.Token {
		return httpserver.Principal{}, httpserver.ErrUnauthenticated
	}
	if route.Auth == httpserver.RequireAdmin && !a.Admin {
		return httpserver.Principal{}, fmt.Errorf("%w: %s is not an admin", httpserver.ErrForbidden, a.Principal.Subject)
	}
	return a.Principal, nil
}

// User returns an authenticator for a user principal with the default token.
func User(ref string, admin bool) Authenticator {
	return Authenticator{Token: Token, Principal: httpserver.Principal{Type: httpserver.PrincipalUser, Subject: ref}, Admin: admin}
}

// Module provides a as the server's Authenticator.
func Module(a Authenticator) fx.Option {
	return fx.Provide(func() httpserver.Authenticator { return a })
}

// Authorize adds the test token to a request.
func Authorize(r *http.Request) *http.Request {
	r.Header.Set("Authorization", "Bearer "+Token)
	return r
}
