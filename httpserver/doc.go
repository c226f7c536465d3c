// Package httpserver is Stagebus's HTTP server: modules register routes through an fx value
// group ([AsRoutes]), and every route states its auth policy where it is registered —
// credentials required (the zero value, so a route is protected unless it opts out) or
// explicitly [Unauthenticated]. Credentials are checked by an [Authenticator]; until a module
// provides one, [DenyAll] refuses every protected request with 401.
//
// The server also serves the unauthenticated Backstage health routes
// (/.backstage/health/v1/liveness and /readiness, the latter aggregating the
// health.Check group) and Prometheus metrics at /metrics. Errors use Backstage's JSON error shape (see
// [WriteError]); panics in handlers are recovered into 500. Every request gets a request id
// (X-Request-Id, generated when absent) that is on all of its log lines.
package httpserver
