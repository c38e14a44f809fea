#!/usr/bin/env bash
# API benchmark: wrk on loopback against /api/metrics/geo/countries?since=24h with a token,
# over 30 days of per-minute data (bench/api_load.py, ~20M rows), bounded in time.
#
# Usage: bash bench/api.sh [--days 30] [--rows N] [--duration 10s] [--connections 16]
#                          [--keep DIR] [--reuse DIR]
# Needs wrk (Debian: apt-get install wrk). Prints wrk's report for the cached case (the
# default: results reused while the store holds the same data) and with the result cache off,
# then one JSON line per case. Targets (issue 6): >= 1,500 req/s and p99 <= 50 ms.
set -euo pipefail
cd "$(dirname "$0")/.."

days=30 rows="" duration=10s connections=16 keep="" reuse=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --days) days=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --reuse) reuse=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 2; }

if [[ -n "$reuse" ]]; then
  dir=$reuse
else
  dir=${keep:-$(mktemp -d /tmp/trafficatlas-bench-api.XXXXXX)}
  echo "loading $days days into $dir ..." >&2
  uv run python bench/api_load.py "$dir" --days "$days" ${rows:+--rows "$rows"} >&2
fi

port=$(uv run python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export TRAFFICATLAS_DATA_DIR=$dir
export TRAFFICATLAS_ADMIN_PASSWORD="bench-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
export TRAFFICATLAS_LOG__LEVEL=warning
token=$(uv run trafficatlas token create --scope read --name bench 2>/dev/null | tail -1)
url="http://127.0.0.1:$port/api/metrics/geo/countries?since=24h"
server=""
cleanup() {
  if [[ -n "$server" ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  if [[ -z "$keep" && -z "$reuse" ]]; then rm -rf "$dir"; fi
}
trap cleanup EXIT

run_case() {  # $1: case name; remaining: env assignments for the server
  local name=$1; shift
  env "$@" uv run trafficatlas serve --host 127.0.0.1 --port "$port" >/dev/null 2>"$dir/serve-$name.log" &
  server=$!
  for _ in $(seq 1 300); do
    curl -fs "http://127.0.0.1:$port/api/health" >/dev/null 2>&1 && break
    sleep 0.2
  done
  local first
  first=$(curl -fs -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $token" "$url")
  echo "== $name: first request ${first}s; wrk -t1 -c$connections -d$duration" >&2
  local out
  out=$(wrk -t1 -c"$connections" -d"$duration" --latency -H "Authorization: Bearer $token" "$url")
  echo "$out" >&2
  local rps p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "{\"case\": \"$name\", \"req_per_s\": $rps, \"p99\": \"$p99\", \"non_2xx\": ${non2xx:-0}, \"first_request_s\": $first}"
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
}

run_case cached
run_case uncached TRAFFICATLAS_API__CACHE_ENTRIES=0
