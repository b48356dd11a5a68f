#!/usr/bin/env bash
# Measures the reference server over its REST binding (JSON data, binary
# data) and its gRPC binding (typed contents, raw contents) with
# `aiconform load`, as "The gRPC binding" in docs/performance.md describes.
# Run by a person, not by CI: about 10 minutes with the defaults.
#
#   scripts/grpcbench.sh [out-dir]        (default /tmp/grpcbench)
#
# One `aiconform serve --grpc-addr` serves both bindings, pinned to SRV_CPU;
# every `aiconform load` runs pinned to GEN_CPU, closed loop. The cells
# (model x clients x wire form) run in ROUNDS interleaved rounds, the four
# wire forms of a model and client count one after another in an order
# that rotates from round to round, so that a ratio between two forms
# compares measurements taken within a minute. For each cell the script
# keeps the result JSON, the generator's CPU time (GNU time) and the
# server's CPU time over the cell (/proc/PID/stat); one row per cell goes to
# cells.tsv, and the tables of medians and ratios to table.md.
#
# Environment: D (each cell's timed phase, default 10s), ROUNDS (default 3),
# MODELS (default "seed-cnn seed-transformer"), CLIENTS (default "1 64"),
# SRV_CPU and GEN_CPU (default 0 and 1), AICONFORM (a built binary; default:
# built from this tree into the out dir), SERVE_FLAGS (extra flags of serve).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/grpcbench}
D=${D:-10s}
ROUNDS=${ROUNDS:-3}
MODELS=${MODELS:-"seed-cnn seed-transformer"}
CLIENTS=${CLIENTS:-"1 64"}
SRV_CPU=${SRV_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
SERVE_FLAGS=${SERVE_FLAGS:-}
mkdir -p "$OUT"
for tool in taskset jq python3 /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "grpcbench: $tool is missing" >&2; exit 1; }
done
if [ -z "${AICONFORM:-}" ]; then
	go build -o "$OUT/aiconform" ./cmd/aiconform
	AICONFORM=$OUT/aiconform
fi

# The server: both bindings, pinned; --max-concurrent above the 64 clients
# (its default, 4 x GOMAXPROCS, is 4 on one core), batching at its defaults.
# shellcheck disable=SC2086 # SERVE_FLAGS splits on purpose
taskset -c "$SRV_CPU" "$AICONFORM" serve --addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 --max-concurrent 256 $SERVE_FLAGS >"$OUT/serve.log" 2>&1 &
SRV=$!
trap 'kill "$SRV" 2>/dev/null || true' EXIT
REST= GRPC=
for _ in $(seq 100); do
	REST=$(grep -o 'listening on http://[^ ]*' "$OUT/serve.log" | head -1 | sed 's/listening on //') || true
	GRPC=$(grep -o 'listening on grpc://[^ ]*' "$OUT/serve.log" | head -1 | sed 's/listening on //') || true
	[ -n "$REST" ] && [ -n "$GRPC" ] && break
	sleep 0.1
done
[ -n "$REST" ] && [ -n "$GRPC" ] || { echo "grpcbench: the server did not start:" >&2; cat "$OUT/serve.log" >&2; exit 1; }

ticks() { awk '{print $14 + $15}' "/proc/$SRV/stat"; }
HZ=$(getconf CLK_TCK)

{
	echo "date: $(date -u +%FT%TZ)"
	echo "commit: $(git rev-parse --short HEAD)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-) x $(nproc)"
	echo "go: $(go version)"
	echo "server: $REST and $GRPC (aiconform serve), pinned to CPU $SRV_CPU; generator pinned to CPU $GEN_CPU"
	echo "cells: $D each, $ROUNDS rounds"
	echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"

WIRES=(rest-json rest-binary grpc-typed grpc-raw)
printf 'round\tmodel\tclients\twire\tsent\tfailed\tqps\tp50_ms\tp99_ms\tgen_cpu_us_per_query\tsrv_cpu_us_per_query\tload1\n' >"$OUT/cells.tsv"
for round in $(seq "$ROUNDS"); do
	for model in $MODELS; do
		for clients in $CLIENTS; do
			for i in 0 1 2 3; do
				wire=${WIRES[$(((i + round + clients) % 4))]}
				case $wire in
				rest-json) target=$REST data=json ;;
				rest-binary) target=$REST data=binary ;;
				grpc-typed) target=$GRPC data=json ;;
				grpc-raw) target=$GRPC data=binary ;;
				esac
				cell="$OUT/r$round-$model-c$clients-$wire"
				before=$(ticks)
				taskset -c "$GEN_CPU" /usr/bin/time -f '%U %S' -o "$cell.time" \
					"$AICONFORM" load --target "$target" --model "$model" --data "$data" \
					--concurrency "$clients" --duration "$D" --warmup 32 --max-lateness 1h \
					--max-connections 256 --json "$cell.json" >"$cell.out" 2>"$cell.err" || true
				after=$(ticks)
				python3 - "$cell" "$round" "$model" "$clients" "$wire" "$before" "$after" "$HZ" >>"$OUT/cells.tsv" <<'EOF'
import json, sys, datetime
cell, rnd, model, clients, wire, before, after, hz = sys.argv[1:]
r = json.load(open(cell + ".json"))
def t(s):
    s = s.replace("Z", "+00:00")
    head, _, frac = s.partition(".")
    if frac:
        digits = "".join(c for c in frac if c.isdigit())
        tz = frac[len(digits):]
        s = head + "." + digits[:6].ljust(6, "0") + tz
    return datetime.datetime.fromisoformat(s)
el = (t(r["end"]) - t(r["start"])).total_seconds()
u, s = open(cell + ".time").read().split()[-2:]
gen = (float(u) + float(s)) / max(r["sent"] + r["plan"].get("warmup", 0), 1) * 1e6
srv = (int(after) - int(before)) / int(hz) / max(r["sent"] + r["plan"].get("warmup", 0), 1) * 1e6
load1 = open("/proc/loadavg").read().split()[0]
print("\t".join(str(x) for x in [rnd, model, clients, wire, r["sent"], r["failed"],
      round(r["succeeded"] / el, 2), r["latency"]["p50"], r["latency"]["p99"], round(gen), round(srv), load1]))
EOF
				tail -1 "$OUT/cells.tsv"
			done
		done
	done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"

# The tables of docs/performance.md: medians over the rounds [range], and
# each form's ratios to REST JSON computed within a round.
python3 - "$OUT/cells.tsv" <<'EOF' | tee "$OUT/table.md"
import csv, statistics, sys
from collections import defaultdict
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
wires = ["rest-json", "rest-binary", "grpc-typed", "grpc-raw"]
cells = defaultdict(list)
for r in rows:
    cells[(r["model"], int(r["clients"]), r["wire"])].append(r)
def fmt(v):
    return f"{v:.3g}" if v < 1000 else f"{v:.0f}"
def stat(vals):
    return f"{fmt(statistics.median(vals))} [{fmt(min(vals))}–{fmt(max(vals))}]"
models = sorted({k[0] for k in cells}, key=lambda m: list(dict.fromkeys(r["model"] for r in rows)).index(m))
clients = sorted({k[1] for k in cells})
print("| model | clients | wire | queries/s | p50 ms | p99 ms | server CPU ms/query | generator CPU µs/query | failed |")
print("|---|---|---|---|---|---|---|---|---|")
for m in models:
    for c in clients:
        for w in wires:
            rs = cells.get((m, c, w), [])
            if not rs:
                continue
            g = lambda k: [float(r[k]) for r in rs]
            print(f"| {m} | {c} | {w} | {stat(g('qps'))} | {stat(g('p50_ms'))} | {stat(g('p99_ms'))} | "
                  f"{fmt(statistics.median(g('srv_cpu_us_per_query'))/1000)} | {fmt(statistics.median(g('gen_cpu_us_per_query')))} | {int(sum(g('failed')))} |")
print()
print("| model | clients | wire | queries/s | p50 | p99 | server CPU per query |")
print("|---|---|---|---|---|---|---|")
for m in models:
    for c in clients:
        base = {r["round"]: r for r in cells[(m, c, "rest-json")]}
        for w in wires[1:]:
            ratios = defaultdict(list)
            for r in cells[(m, c, w)]:
                b = base[r["round"]]
                for k in ["qps", "p50_ms", "p99_ms", "srv_cpu_us_per_query"]:
                    ratios[k].append(float(r[k]) / float(b[k]))
            print(f"| {m} | {c} | {w} / rest-json | " + " | ".join(
                f"{statistics.median(ratios[k]):.2f} [{min(ratios[k]):.2f}–{max(ratios[k]):.2f}]" for k in ["qps", "p50_ms", "p99_ms", "srv_cpu_us_per_query"]) + " |")
EOF
