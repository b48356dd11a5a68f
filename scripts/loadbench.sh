#!/usr/bin/env bash
# Benchmarks aiconform's load generator (conformance/load) beside vegeta and wrk
# against one trivial Go server on loopback, as "The load generator" in
# docs/performance.md describes. Run by a person, not by CI: about 10 minutes.
#
#   scripts/loadbench.sh [out-dir]        (default /tmp/loadbench)
#
# Environment: D (each measurement, default 5s), ROUNDS (rounds of the sweep,
# default 3), RATES (the open-loop sweep), SRV_CPU and GEN_CPU (the cores the
# server and the generators are pinned to, default 0 and 1), PORT (default
# 8089), NICE (the niceness of the server and the generators, default 0; on a
# machine shared with other jobs, NICE=-10 as root keeps them from taking the
# pinned cores in the middle of a measurement). Needs Go, taskset, jq, curl,
# GNU time and wrk (apt-get install -y wrk).
#
# On a shared machine other jobs take the pinned cores now and then, and every
# generator then sends late: the sweep runs in rounds, every tool at every rate
# once per round, and a tool sustains a rate when one of its rounds there had
# under 1% of sends more than 1 ms late, at least 99% of the offered rate
# achieved and no failures (load only adds lateness, so the best round is the
# closer estimate of what the tool can do).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/loadbench}
D=${D:-5s}
ROUNDS=${ROUNDS:-3}
RATES=${RATES:-"10000 20000 30000 40000 50000"}
SRV_CPU=${SRV_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
PORT=${PORT:-8089}
NICE=${NICE:-0}
URL=http://127.0.0.1:$PORT/
mkdir -p "$OUT"
for tool in taskset jq curl wrk /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "loadbench: $tool is missing" >&2; exit 1; }
done
(cd bench/loadbench && go build -o "$OUT/loadbench" .)
LB=$OUT/loadbench
SRV=
start_server() {
	nice -n "$NICE" taskset -c "$SRV_CPU" "$LB" serve -addr "127.0.0.1:$PORT" "$@" &
	SRV=$!
	for _ in $(seq 50); do curl -sf "${URL}truth" >/dev/null 2>&1 && return; sleep 0.1; done
	echo "loadbench: the server did not start" >&2
	exit 1
}
stop_server() { kill "$SRV" && wait "$SRV" || true; }
trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null || true' EXIT
gen() { nice -n "$NICE" taskset -c "$GEN_CPU" "$LB" "$@"; }

{
	echo "date: $(date -u +%FT%TZ)"
	echo "commit: $(git rev-parse --short HEAD)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-) x $(nproc)"
	echo "go: $(go version)"
	echo "wrk: $(wrk -v 2>&1 | head -1)"
	echo "niceness: $NICE"
	echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"

echo "== 1. throughput: the trivial handler (200, 16 bytes)"
start_server
gen ours -rate 5000 -d 2s >/dev/null # warm the server
: >"$OUT/sweep.jsonl"
: >"$OUT/wrk.txt"
for round in $(seq "$ROUNDS"); do
	echo "-- round $round: wrk (closed loop, 1 thread, 64 connections), ours closed loop (64 lanes), then the open-loop sweep"
	nice -n "$NICE" /usr/bin/time -f "wrk cpu seconds: %U user %S system" taskset -c "$GEN_CPU" wrk -t1 -c64 -d"$D" "$URL" 2>&1 | tee -a "$OUT/wrk.txt" | grep -E "Requests/sec|cpu seconds"
	gen ours -lanes 64 -d "$D" -conns 64 | jq -c '. + {tool: "ours-closed"}' | tee -a "$OUT/sweep.jsonl"
	for rate in $RATES; do
		for tool in ours vegeta; do
			gen "$tool" -rate "$rate" -d "$D" -conns 256 | tee -a "$OUT/sweep.jsonl"
		done
	done
	gen nethttp -rate 10000 -d "$D" -conns 256 | tee -a "$OUT/sweep.jsonl"
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
echo "wrk requests/s by round: $(grep Requests/sec "$OUT/wrk.txt" | awk '{print $2}' | xargs)" | tee -a "$OUT/sustained.txt"
echo "wrk cpu seconds (user+system) by round: $(grep 'cpu seconds' "$OUT/wrk.txt" | awk '{print $4+$6}' | xargs)" | tee -a "$OUT/sustained.txt"
jq -r '[.tool, .offered, (.achieved|floor), (.lateShare*1000|round/10), .latenessP99, .latency.p50, .latency.p99, .failed, (.cpuSeconds*1e6/.sent|round)] | @tsv' "$OUT/sweep.jsonl" |
	(echo -e "tool\toffered\tachieved\tlate%\tlateP99ms\tp50ms\tp99ms\tfailed\tcpu_us/query"; cat) | column -t | tee "$OUT/sweep.txt"

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
		gen "$tool" -rate "$ACC" -d 10s -conns 512 -truth | jq -c --arg h "$name" '. + {handler: $h}' | tee -a "$OUT/accuracy.jsonl"
	done
	stop_server
done
jq -r '[.handler, .tool, .offered, .truth.p50, .latency.p50, (.latency.p50 - .truth.p50 | .*1000|round/1000), .truth.p99, .latency.p99, (.latency.p99 - .truth.p99 | .*1000|round/1000), (.uncorrected.p50 // "-"), (.uncorrected.p99 // "-")] | @tsv' "$OUT/accuracy.jsonl" |
	(echo -e "handler\ttool\trate\ttrue_p50\tp50\tΔp50\ttrue_p99\tp99\tΔp99\tunc_p50\tunc_p99"; cat) | column -t | tee "$OUT/accuracy.txt"

echo "== 3. memory: peak RSS for 100k and 1M queries"
start_server
# Closed loop, 64 lanes: as fast as the server answers.
: >"$OUT/rss.jsonl"
for n in 100000 1000000; do
	gen ours -lanes 64 -conns 64 -d 1s -min "$n" | jq -c '{tool, sent, achieved, maxRSSMiB, heapInuseMiB, stackInuseMiB}' | tee -a "$OUT/rss.jsonl"
done
stop_server
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
