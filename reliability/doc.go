// Package reliability holds the reliability report: tests, behind the build tag reliability,
// that drive the real Stagebus binary against a real Kafka and a real PostgreSQL of their own
// and inject faults under load — SIGKILL and SIGTERM of Stagebus, the broker stopped, killed
// and frozen, PostgreSQL stopped — then check, with the recorder subscriber's table, that
// every webhook delivery answered 202 was handled. See docs/reliability.md.
//
// The package has no code of its own; `go test ./...` without the tag finds no tests here.
package reliability
