#!/usr/bin/env bash
# bench/consolegate/run.sh [PAIRS] — do the operator console and its event history cost
# ingestion anything?
#
# Runs `webhookload -compare` against the real binary on the SQL bus (SQLite file), cycling
# through the configurations of MODES (default "off on"), each on a fresh database, PAIRS
# times (default 3):
#   base: the binary of BASE_REV (a commit before the console and the handled-at marks)
#   off:  this tree, console.enabled: false
#   on:   this tree, the console on, with STREAMS (default 4) signed-in live streams open
#         during the load (/live?ch=events:,overview: each reads the event history every
#         second and renders the new events for its viewer)
# and prints each invocation's median ratio (Stagebus/bare req/s) and its rounds.
# docs/benchmarks.md records the figures. Needs Go, git and curl; uses port 7411 (PORT sets another).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
pairs=${1:-3}
streams=${STREAMS:-4}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
modes=${MODES:-off on}
go build -o "$work/platform" ./cmd/platform
go build -o "$work/webhookload" ./bench/webhookload
if [[ " $modes " == *" base "* ]]; then
  git worktree add -q --detach "$work/base" "${BASE_REV:?set BASE_REV for the base mode}"
  (cd "$work/base" && go build -o "$work/platform-base" ./cmd/platform)
  git worktree remove --force "$work/base"
fi
secret=console-gate-webhook-secret-0123456789
port=${PORT:-7411}
base=http://127.0.0.1:$port

run() { # run off|on
  local mode=$1 db="$work/db-$RANDOM.sqlite" enabled=true binary="$work/platform" console
  [[ $mode == off ]] && enabled=false
  [[ $mode == base ]] && binary="$work/platform-base"
  console="console:
  enabled: $enabled"
  [[ $mode == base ]] && console=
  cat >"$work/config.yaml" <<YAML
backend:
  baseUrl: $base
  listen: {host: 127.0.0.1, port: $port}
  database: {client: sqlite, connection: $db}
  log: {level: warn}
events:
  bus: sql
  http: {topics: [github]}
  modules: {github: {webhookSecret: $secret}}
auth:
  environment: development
  admins: [user:development/guest]
$console
YAML
  LOG_LEVEL=warn "$binary" --config "$work/config.yaml" >"$work/server.log" 2>&1 &
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
  # The server's CPU over the whole invocation (console work during the bare rounds included)
  # per webhook it accepted: far steadier than req/s on a shared machine.
  local ticks accepted cpu
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  accepted=$(curl -s "$base/metrics" | awk '/^stagebus_ingress_requests_total\{.*result="accepted"/ {s += $2} END {print s}')
  cpu=$(python3 -c "print('%.0f' % ($ticks / $(getconf CLK_TCK) / $accepted * 1e6))")
  local bytes=0
  if [[ $mode == on ]]; then
    kill "${clients[@]}" 2>/dev/null || true
    bytes=$(cat "$work"/live* | wc -c)
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$mode $ratio cpu_per_webhook_us=$cpu accepted=$accepted live_bytes=$bytes"
  rm -f "$work"/live* "$work"/jar*
}

for _ in $(seq "$pairs"); do
  for m in $modes; do run "$m"; done
done
