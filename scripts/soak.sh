#!/usr/bin/env bash
# Soaks the reference server, as "Soak" in docs/reliability.md describes: builds
# aiconform and the soak (bench/soak), starts `aiconform serve` with its debug
# listener, probes the sustainable rate of the soak's mix (good requests, the
# safety battery's kinds of bad ones, clients that leave early) closed loop,
# holds the server at 80% of it for DURATION, then stops the server with
# SIGTERM and checks that it exits 0. Run by a person on a quiet machine, not by
# CI. Linux only (the server's memory comes from /proc).
#
#   scripts/soak.sh [DURATION]        (default 10m)
#
# Environment: OUT (the directory of the binaries, the server's log and
# soak.json; default a new temporary directory), PORT (default 18490; the debug
# listener takes PORT+1), PROBE (the probe's length, default 20s), LOAD (the
# share of the sustainable rate, default 0.8), SERVE_FLAGS (more flags for
# serve; default --max-concurrent 64). Needs Go and curl.
#
# The server runs with --max-concurrent 64 rather than its default (4 ×
# GOMAXPROCS): at 80% of the closed-loop rate, open-loop arrivals still bunch
# up now and then (program builds for new shapes and cancelled requests, whose
# forward passes run on, take turns with the short requests), and at the
# default limit the server sheds those bursts with 503 and Retry-After, which
# is its overload behaviour, not a failure the soak looks for. With the higher
# limit a burst queues and shows in the latency instead.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10m}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/soak.XXXXXX")}
PORT=${PORT:-18490}
DEBUG_PORT=$((PORT + 1))
mkdir -p "$OUT"
go build -o "$OUT/aiconform" ./cmd/aiconform
go build -o "$OUT/soak" ./bench/soak
# shellcheck disable=SC2086 # SERVE_FLAGS splits on purpose
"$OUT/aiconform" serve --addr "127.0.0.1:$PORT" --debug-addr "127.0.0.1:$DEBUG_PORT" ${SERVE_FLAGS---max-concurrent 64} >"$OUT/serve.out" 2>"$OUT/serve.log" &
SRV=$!
trap 'kill "$SRV" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$PORT/v2/health/ready" >/dev/null 2>&1 && break
	kill -0 "$SRV" 2>/dev/null || { echo "soak: serve exited; see $OUT/serve.log" >&2; exit 1; }
	sleep 0.1
done
echo "date: $(date -u +%FT%TZ) · commit $(git rev-parse --short HEAD) · $(go version | cut -d' ' -f3) · $(nproc) CPUs · load average $(cut -d' ' -f1-3 /proc/loadavg)"
grep -E '^(memory|batching|limits):' "$OUT/serve.out" || true
code=0
"$OUT/soak" -target "http://127.0.0.1:$PORT" -debug "http://127.0.0.1:$DEBUG_PORT" -pid "$SRV" \
	-duration "$DURATION" -probe "${PROBE:-20s}" -load "${LOAD:-0.8}" -out "$OUT/soak.json" || code=$?
kill -TERM "$SRV"
serve_code=0
wait "$SRV" || serve_code=$?
trap - EXIT
echo "serve exited $serve_code after SIGTERM; soak.json and the server's log in $OUT"
[ "$serve_code" -eq 0 ] || code=1
exit "$code"
