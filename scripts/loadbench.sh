#!/usr/bin/env bash
# Benchmarks aiconform's load generator (conformance/load) beside vegeta and wrk
# against one trivial Go server on loopback, as "The load generator" in
# docs/performance.md describes. Run by a person, not by CI: about 10 minutes.
#
#   scripts/loadbench.sh [out-dir]        (default /tmp/loadbench)
#
# Environment: D (each measurement, default 10s), RATES (the open-loop sweep),
# SRV_CPU and GEN_CPU (the cores the server and the generators are pinned to,
# default 0 and 1), PORT (default 8089). Needs Go, taskset, jq and wrk
# (apt-get install -y wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/loadbench}
D=${D:-10s}
RATES=${RATES:-"10000 20000 25000 30000 35000 40000 45000 50000"}
SRV_CPU=${SRV_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
PORT=${PORT:-8089}
URL=http://127.0.0.1:$PORT/
mkdir -p "$OUT"
for tool in taskset jq wrk; do
	command -v "$tool" >/dev/null || { echo "loadbench: $tool is missing" >&2; exit 1; }
done
(cd bench/loadbench && go build -o "$OUT/loadbench" .)
LB=$OUT/loadbench
SRV=
start_server() {
	taskset -c "$SRV_CPU" "$LB" serve -addr "127.0.0.1:$PORT" "$@" &
	SRV=$!
	for _ in $(seq 50); do curl -sf "${URL}truth" >/dev/null 2>&1 && return; sleep 0.1; done
	echo "loadbench: the server did not start" >&2
	exit 1
}
stop_server() { kill "$SRV" && wait "$SRV" || true; }
trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null || true' EXIT
gen() { taskset -c "$GEN_CPU" "$LB" "$@"; }

{
	echo "date: $(date -u +%FT%TZ)"
	echo "commit: $(git rev-parse --short HEAD)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-) x $(nproc)"
	echo "go: $(go version)"
	echo "wrk: $(wrk -v 2>&1 | head -1)"
	echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"

echo "== 1. throughput: the trivial handler (200, 16 bytes)"
start_server
gen ours -rate 5000 -d 2s >/dev/null # warm the server
echo "-- wrk, closed loop, 1 thread, 64 connections"
gen_wrk() { taskset -c "$GEN_CPU" wrk -t1 -c64 -d"$D" --latency "$URL"; }
gen_wrk | tee "$OUT/wrk.txt"
: >"$OUT/sweep.jsonl"
for rate in $RATES; do
	for tool in ours vegeta; do
		gen "$tool" -rate "$rate" -d "$D" -conns 256 | tee -a "$OUT/sweep.jsonl"
	done
done
for rate in 10000 20000; do
	gen nethttp -rate "$rate" -d "$D" -conns 256 | tee -a "$OUT/sweep.jsonl"
done
stop_server

# The highest rate each tool sustained: under 1% of sends more than 1 ms
# late, at least 99% of the offered rate achieved, no failures.
sustained() {
	jq -s --arg t "$1" '[.[] | select(.tool == $t and .lateShare < 0.01 and .achieved >= 0.99 * .offered and .failed == 0) | .offered] | max // 0' "$OUT/sweep.jsonl"
}
OURS=$(sustained ours)
VEGETA=$(sustained vegeta)
echo "sustained: ours $OURS/s, vegeta $VEGETA/s" | tee "$OUT/sustained.txt"
jq -r '[.tool, .offered, (.achieved|floor), (.lateShare*1000|round/10), .latenessP99, .latency.p50, .latency.p99, .failed, .cpuSeconds] | @tsv' "$OUT/sweep.jsonl" |
	(echo -e "tool\toffered\tachieved\tlate%\tlateP99ms\tp50ms\tp99ms\tfailed\tcpu_s"; cat) | column -t | tee "$OUT/sweep.txt"

echo "== 2. accuracy: handlers of known delay, at half the lower sustained rate"
ACC=$(( ($(printf '%.0f' "$VEGETA") < $(printf '%.0f' "$OURS") ? $(printf '%.0f' "$VEGETA") : $(printf '%.0f' "$OURS")) / 2 ))
[ "$ACC" -gt 0 ] || ACC=5000
: >"$OUT/accuracy.jsonl"
for handler in "fixed:-delay 5ms" "tail:-delay 5ms -slow-every 100 -slow-delay 50ms"; do
	name=${handler%%:*}
	# shellcheck disable=SC2086 # the flags split on purpose
	start_server ${handler#*:}
	gen ours -rate 2000 -d 2s >/dev/null
	for tool in ours vegeta; do
		gen "$tool" -rate "$ACC" -d "$D" -conns 512 -truth | jq -c --arg h "$name" '. + {handler: $h}' | tee -a "$OUT/accuracy.jsonl"
	done
	stop_server
done
jq -r '[.handler, .tool, .offered, .truth.p50, .latency.p50, (.latency.p50 - .truth.p50 | .*1000|round/1000), .truth.p99, .latency.p99, (.latency.p99 - .truth.p99 | .*1000|round/1000), (.uncorrected.p50 // "-"), (.uncorrected.p99 // "-")] | @tsv' "$OUT/accuracy.jsonl" |
	(echo -e "handler\ttool\trate\ttrue_p50\tp50\tΔp50\ttrue_p99\tp99\tΔp99\tunc_p50\tunc_p99"; cat) | column -t | tee "$OUT/accuracy.txt"

echo "== 3. memory: peak RSS for 100k and 1M queries"
start_server
RSS_RATE=$(printf '%.0f' "$OURS")
[ "$RSS_RATE" -gt 0 ] || RSS_RATE=10000
: >"$OUT/rss.jsonl"
for n in 100000 1000000; do
	gen ours -rate "$RSS_RATE" -d 1s -min "$n" | jq -c '{tool, sent, maxRSSMiB, achieved}' | tee -a "$OUT/rss.jsonl"
done
stop_server
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
