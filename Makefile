# Stagebus — the README's test command is `make test`.
GO          ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOTEST      := $(GO) test -race -count=1 -timeout 20m
FUZZTIME    ?= 10s

.PHONY: test check vet lint unit e2e e2e-run run bench fuzz reliability reliability-short reliability-soak console-screenshots

## test: start the test services (PostgreSQL, Kafka), run vet, staticcheck and every test with
## the services' URLs exported, then stop what was started (KEEP_SERVICES=1 keeps them). The
## console's browser tests need Chromium: installed (without Recommends) when missing.
test:
	ENSURE_NO_RECOMMENDS=1 ./scripts/ensure-commands chromium
	./scripts/services run -- $(MAKE) --no-print-directory check

## check: vet, staticcheck and the tests against whatever services the environment names.
check: vet lint unit

# -tags e2e,reliability: the end-to-end and reliability tests are vetted and linted with
# everything else (make test does not run them).
vet:
	$(GO) vet -tags e2e,reliability ./...

lint:
	$(GO) run $(STATICCHECK) -tags e2e,reliability ./...

unit:
	$(GOTEST) ./...

## e2e: the real binary with the production configuration (app-config.production.yaml, as
## docker compose runs it) against a real Kafka and PostgreSQL started for the run; the
## README's full-stack commands need curl and openssl, the Kafka check kcat: installed when missing.
e2e:
	./scripts/ensure-commands curl openssl kcat
	./scripts/services run -- $(MAKE) --no-print-directory e2e-run

e2e-run:
	$(GO) test -race -count=1 -timeout 10m -tags e2e -v ./e2e/

## reliability: the reliability report (docs/reliability.md), long versions: the real binary
## under load, killed, stopped and starved of Kafka and PostgreSQL; one line per scenario. The
## tests start a Kafka and a PostgreSQL of their own (never the shared ones). RELIABILITY_FLAGS
## passes test flags, e.g. -reliability.outbox=false for Kafka's direct path.
## reliability-short: the same scenarios with short outages (CI, a few minutes).
## reliability-soak: one instance (built without -race, whose own memory grows) under steady load for
## 10 minutes; RSS and goroutines must level off.
RELIABILITY       := $(GO) test -race -count=1 -tags reliability -v
RELIABILITY_FLAGS ?=

reliability:
	$(RELIABILITY) -timeout 60m -run '^TestReliability$$' ./reliability/ -args -reliability.long $(RELIABILITY_FLAGS)

reliability-short:
	$(RELIABILITY) -timeout 20m -run '^TestReliability$$' ./reliability/ -args $(RELIABILITY_FLAGS)

reliability-soak:
	$(RELIABILITY) -timeout 30m -run '^TestSoak$$' ./reliability/ -args -reliability.race=false $(RELIABILITY_FLAGS)

## bench: the benchmarks whose figures docs/benchmarks.md records (not part of make test);
## the Kafka ones run against the real broker that scripts/services starts.
bench:
	$(GO) test -run '^$$' -bench PublishToHandler -benchtime 200000x ./eventsvc/memory/
	$(GO) test -run '^$$' -bench Latency -benchtime 3x ./eventsvc/memory/
	./scripts/services run -- $(GO) test -run '^$$' -bench 'Publish$$|EndToEnd|PublishLatency' -benchtime 1x -count 3 ./eventsvc/kafka/
	./scripts/services run -- $(GO) test -run '^$$' -bench Latency -benchtime 3x -count 3 ./eventsvc/sql/
	./scripts/services run -- $(GO) test -run '^$$' -bench ThroughputPostgres -benchtime 1x -count 3 ./eventsvc/sql/

## console-screenshots: run the console's browser tests (they save every page under
## test-output/console) and copy the pages docs/console.md shows into docs/console/.
CONSOLE_SHOTS := signin-en overview-en overview-de events-en events-de event-en dead-letters-en dead-letters-de dead-letter-en \
	catalog-en entity-en entity-de audit-en audit-de signin-oidc-en

console-screenshots:
	ENSURE_NO_RECOMMENDS=1 ./scripts/ensure-commands chromium
	$(GO) test -count=1 -run '^TestConsole' ./cmd/platform/
	mkdir -p docs/console
	for s in $(CONSOLE_SHOTS); do cp test-output/console/$$s.png docs/console/; done

## run: Stagebus on the embedded defaults (same as go run ./cmd/platform).
run:
	$(GO) run ./cmd/platform

## fuzz: every fuzz target of the repository, one at a time (go test -fuzz takes one target
## per run), each for FUZZTIME (default 10s). Targets are discovered with go test -list in
## each package whose tests declare a Fuzz function, so new ones are picked up. A finding
## stops the run (its input is written under the package's testdata/fuzz). Go 1.26's
## coordinator can end a clean run with a bare "context deadline exceeded" when the fuzz
## time runs out (golang/go#75804, fixed in Go 1.27): with no failing input and no failing
## seed, that is reported and not counted as a finding.
fuzz:
	@set -e; n=0; raced=0; out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	for dir in $$(grep -rlE --include='*_test.go' --exclude-dir=testdata --exclude-dir=.git '^func Fuzz[A-Z_0-9]' . | xargs -n1 dirname | sort -u); do \
		list=$$($(GO) test -list '^Fuzz' $$dir) || { echo "$$list"; exit 1; }; \
		for target in $$(echo "$$list" | grep '^Fuzz' || true); do \
			echo "== $$dir $$target ($(FUZZTIME))"; \
			if $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$dir >"$$out" 2>&1; then \
				cat "$$out"; n=$$((n+1)); continue; \
			fi; \
			cat "$$out"; \
			if grep -q 'Failing input written' "$$out" || grep -q -- "--- FAIL: $$target/" "$$out" || \
				! grep -qx '    context deadline exceeded' "$$out"; then exit 1; fi; \
			echo "fuzz: $$target ended on golang/go#75804 (no failing input): not a finding"; raced=$$((raced+1)); \
		done; \
	done; \
	echo "fuzz: $$n targets passed, $$raced ended on golang/go#75804, $(FUZZTIME) each"
