// Package e2e holds the end-to-end test of the real platform binary, built from this
// repository and run with app-config.yaml and app-config.production.yaml — the
// configuration docker compose uses — against the real Kafka broker and PostgreSQL that
// scripts/services starts, and a fake GitHub API.
//
// The test carries the e2e build tag, so that `go test ./...` leaves it out; run it with
// `make e2e`, which starts the services and runs `go test -tags e2e ./e2e/`. It fails, never
// skips, when a service is missing.
package e2e
