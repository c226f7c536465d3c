// Package httpservertest provides a test-only [httpserver.Authenticator] that authenticates
// one chosen principal, so that protected routes can be tested before (or without) real auth.
package httpservertest
