#!/usr/bin/env bash
# bench/consolegate/run.sh [PAIRS] — does the operator console cost ingestion anything?
#
# Runs `webhookload -compare` against the real binary on the SQL bus (SQLite file), alternating
# two configurations, each on a fresh database, PAIRS times (default 3):
#   off: console.enabled: false
#   on:  the console on, with STREAMS (default 4) signed-in live streams open during the load
#        (/live?ch=events:,overview: each reads the event history every second and renders
#        every new event for the viewer, the heaviest use of the history there is)
# and prints each invocation's median ratio (Stagebus/bare req/s). docs/benchmarks.md records
# the figures. Needs Go and curl; uses port 7411.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
pairs=${1:-3}
streams=${STREAMS:-4}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/platform" ./cmd/platform
go build -o "$work/webhookload" ./bench/webhookload
secret=console-gate-webhook-secret-0123456789
base=http://127.0.0.1:7411

run() { # run off|on
  local mode=$1 db="$work/db-$RANDOM.sqlite" enabled=true
  [[ $mode == off ]] && enabled=false
  cat >"$work/config.yaml" <<YAML
backend:
  baseUrl: $base
  listen: {host: 127.0.0.1, port: 7411}
  database: {client: sqlite, connection: $db}
  log: {level: warn}
events:
  bus: sql
  http: {topics: [github]}
  modules: {github: {webhookSecret: $secret}}
auth:
  environment: development
  admins: [user:development/guest]
console:
  enabled: $enabled
YAML
  LOG_LEVEL=warn "$work/platform" --config "$work/config.yaml" >"$work/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf "$base/.backstage/health/v1/readiness" >/dev/null && break; sleep 0.1; done
  local clients=()
  if [[ $mode == on ]]; then
    for i in $(seq "$streams"); do
      curl -s -o /dev/null -c "$work/jar$i" -X POST -H "Origin: $base" -d next=/ "$base/signin/guest"
      curl -s -N -b "$work/jar$i" "$base/live?ch=events:,overview" >"$work/live$i" &
      clients+=($!)
    done
    sleep 1
  fi
  local ratio
  ratio=$("$work/webhookload" -compare -rounds 3 -duration 4s -url "$base/api/events/http/github" -secret "$secret" -json |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print("median=%.3f rounds=%s" % (d["rps_ratio"], ",".join("%.2f" % r["rps_ratio"] for r in d["rounds"])))')
  local bytes=0
  if [[ $mode == on ]]; then
    kill "${clients[@]}" 2>/dev/null || true
    bytes=$(cat "$work"/live* | wc -c)
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$mode $ratio live_bytes=$bytes"
  rm -f "$work"/live* "$work"/jar*
}

for _ in $(seq "$pairs"); do
  run off
  run on
done
