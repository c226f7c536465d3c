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
//
// backend.server ([Settings]) bounds what a client can hold: the time to send headers, the
// time to send a body (a body still incomplete is answered 408 and the connection closed),
// the time to receive the response, idle keep-alive time, and the connections open at once
// in total and per client IP address (the excess is closed on accept, so that one slow
// client cannot keep others, health probes included, waiting).
package httpserver
