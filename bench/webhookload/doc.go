// Command webhookload measures how many signed GitHub push webhooks per second an ingress
// endpoint accepts, and how fast it answers, next to a bare net/http server doing only the
// unavoidable work (read the body, check the HMAC) — the figures of docs/benchmarks.md.
//
// It holds -conns keep-alive HTTP/1.1 connections (default 64), each with one request in
// flight at a time, for a -warmup (default 1s, not measured) then -duration (default 10s).
// Every request is a POST of a realistic 2–3 KB push payload (Content-Type: application/json)
// from one of -repos repositories (default 64), with the headers GitHub sends: X-GitHub-Event:
// push, a fresh UUID X-GitHub-Delivery, X-GitHub-Hook-ID, User-Agent: GitHub-Hookshot/… and
// X-Hub-Signature-256, the HMAC-SHA256 of the exact body keyed by -secret (default
// $GITHUB_WEBHOOK_SECRET). The bodies are built and signed once per repository: only the
// delivery id changes between requests.
//
// It reports the answers by status (202 accepted, 200 duplicate, anything else or no answer
// is an error, with samples), 2xx and total requests per second, and latency p50, p99 and max
// (a log-linear histogram, within 0.4%), as a table or, with -json, one JSON object. Rates and
// latencies cover the requests sent after the warm-up, up to the last answer.
//
// With -metrics (the target's Prometheus /metrics URL) it also checks that every accepted
// delivery reached a subscriber: the increase of stagebus_events_delivered_total over the
// series labelled topic=-expect-topic (default github.push, the topic a push's subscribers
// read; the ingress publishes it with github) and subscription=-subscription (required with
// -metrics, no default: name a subscriber the target runs, e.g. recorder with
// events.recorder.topics [github.push]), scraped before the first request and after the run
// (waiting up to 10 s for it to settle), must be at least the number of 202 answers, warm-up
// included.
//
// It exits 1 when the target is unreachable, when more than 1% of the requests (warm-up
// included) fail, or when fewer deliveries than 202 answers were counted; 2 on a usage error.
//
// Modes:
//
//	webhookload -url URL [flags]                  load one endpoint
//	webhookload -serve-bare -listen ADDR          run the bare baseline server (POST /api/events/http/github)
//	webhookload -compare -url URL [-rounds N] [-bare-listen ADDR] [flags]
//
// -compare starts the bare server in a child process (this program re-executed with
// -serve-bare, so that each server is its own process as in production), loads it, stops it,
// then loads -url with the same flags, and prints both results with the ratios Stagebus/bare
// of 2xx requests per second (goal ≥ 0.6) and of p99 latency (goal ≤ 2). With -rounds N it
// does that N times, alternating, prints each round's ratios and judges the goals on their
// medians: on a machine whose speed drifts between runs (a shared VM), a ratio of two runs
// close in time is steadier than one long run of each. The goals are reported, not enforced. For example, against Stagebus started with `go run ./cmd/platform`
// and a configuration that adds events.recorder.topics: [github.push] (GITHUB_WEBHOOK_SECRET=demo):
//
//	go run ./bench/webhookload -compare -url http://127.0.0.1:7007/api/events/http/github -metrics http://127.0.0.1:7007/metrics -subscription recorder -secret demo
//
// The load generator runs on the same machine as the server it measures and competes with it
// for the CPU, the same way in both runs.
package main
