// Package health holds what reports on the process as a whole: readiness checks, which modules
// contribute through the "health" value group ([AsCheck]) and [Run] aggregates, and the
// Prometheus registry every module registers its metrics on ([Module] provides it, also as
// prometheus.Registerer).
//
// It imports nothing else from Stagebus, so any package — the database, the bus — can declare
// a check or a metric without depending on HTTP; httpserver serves both (the Backstage
// readiness route and /metrics).
package health
