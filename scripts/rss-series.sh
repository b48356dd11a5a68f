#!/usr/bin/env bash
# Measures the resident memory of the reference server over repeated suite
# runs, as "Reference server memory" in docs/reliability.md records it: builds
# aiconform, starts `aiconform serve`, runs `aiconform run` against it N times
# in a row (the built-in profile: core, performance and safety) and prints
# VmRSS and VmHWM of the server from /proc/PID/status, idle before the first
# run and after each. Linux only (it reads /proc).
#
#   scripts/rss-series.sh [N]        (default 5)
#
# Environment: OUT (the directory of the binary, the reports and the server's
# log; default a new temporary directory), PORT (default 18480), SERVE_FLAGS
# (more flags for serve, e.g. "--memory-limit off"). Needs Go and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/rss-series.XXXXXX")}
PORT=${PORT:-18480}
mkdir -p "$OUT"
go build -o "$OUT/aiconform" ./cmd/aiconform
# shellcheck disable=SC2086 # SERVE_FLAGS splits on purpose
"$OUT/aiconform" serve --addr "127.0.0.1:$PORT" ${SERVE_FLAGS:-} >"$OUT/serve.out" 2>"$OUT/serve.log" &
SRV=$!
trap 'kill "$SRV" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$PORT/v2/health/ready" >/dev/null 2>&1 && break
	kill -0 "$SRV" 2>/dev/null || { echo "rss-series: serve exited; see $OUT/serve.log" >&2; exit 1; }
	sleep 0.1
done
# mib FIELD prints the field of the server's /proc status (kB) in MiB.
mib() { awk -v f="$1:" '$1 == f { printf "%.0f", $2 / 1024 }' "/proc/$SRV/status"; }
{
	echo "date: $(date -u +%FT%TZ) · commit $(git rev-parse --short HEAD) · $(go version | cut -d' ' -f3) · $(nproc) CPUs · load average $(cut -d' ' -f1-3 /proc/loadavg)"
	grep -E '^(memory|batching|limits):' "$OUT/serve.out" || true
	echo
	echo "| run | VmRSS (MiB) | VmHWM (MiB) | run exit | run seconds |"
	echo "|---|---|---|---|---|"
	echo "| idle, before run 1 | $(mib VmRSS) | $(mib VmHWM) | | |"
} | tee "$OUT/series.md"
for i in $(seq "$N"); do
	start=$(date +%s)
	code=0
	"$OUT/aiconform" run --target "http://127.0.0.1:$PORT" --out "$OUT/run$i" -q >"$OUT/run$i.txt" 2>&1 || code=$?
	echo "| $i | $(mib VmRSS) | $(mib VmHWM) | $code | $(($(date +%s) - start)) |" | tee -a "$OUT/series.md"
done
kill -TERM "$SRV"
code=0
wait "$SRV" || code=$?
trap - EXIT
echo
echo "serve exited $code after SIGTERM; reports, logs and series.md in $OUT"
