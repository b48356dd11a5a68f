#!/usr/bin/env bash
# Forward-pass benchmarks of docs/performance.md, interleaved so that every
# implementation sees the same machine load: each round runs the Go
# benchmarks (gorgonia FP32, gorgonia FP64, plain-Go float64), then PyTorch
# FP32 (crosscheck/torch/bench.py), PyTorch FP64 (torch_fp64.py) and, when
# OPENBLAS_DIR names a directory holding OpenBLAS's libblas.so.3, PyTorch
# FP32 again with that BLAS preloaded through LD_LIBRARY_PATH.
#
#	crosscheck/bench/run.sh OUTDIR [ROUNDS]
#
# Environment: BENCHTIME (go test -benchtime, default 1s), SAMPLES (timed
# samples per PyTorch measurement, default 7), THREADS (torch threads,
# default 2; GOMAXPROCS is left at the Go default, the number of CPUs),
# OPENBLAS_DIR (optional, see above), CODE_VERSION (recorded in meta.txt
# instead of git describe's answer). Writes OUTDIR/go.txt (go test -bench
# output of every round, for benchstat), OUTDIR/torch-<variant>-<round>.json
# and OUTDIR/meta.txt; crosscheck/bench/table.py OUTDIR summarises them.
set -euo pipefail
cd "$(dirname "$0")/../.."

out=${1:?usage: crosscheck/bench/run.sh OUTDIR [ROUNDS]}
rounds=${2:-5}
benchtime=${BENCHTIME:-1s}
samples=${SAMPLES:-7}
threads=${THREADS:-2}
py=/usr/bin/python3

mkdir -p "$out"
out=$(cd "$out" && pwd)
: >"$out/go.txt"
go test -c -o "$out/reference.test" ./reference
{
	# The code measured: the commit, and whether the tree differs from it
	# (CODE_VERSION overrides, for a tree exported without .git).
	echo "code ${CODE_VERSION:-$(git describe --always --dirty 2>/dev/null || echo unknown)}"
	go version
	echo "nproc $(nproc)"
	echo "GOMAXPROCS ${GOMAXPROCS:-default ($(nproc))}"
	echo "benchtime $benchtime, torch samples $samples, torch threads $threads, rounds $rounds"
	grep -m1 'model name' /proc/cpuinfo || true
} >"$out/meta.txt"

for r in $(seq 1 "$rounds"); do
	echo "round $r/$rounds: load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/meta.txt" >&2
	"$out/reference.test" -test.run '^$' -test.bench '^BenchmarkForward$' \
		-test.benchtime "$benchtime" -test.count 1 >>"$out/go.txt"
	$py crosscheck/torch/bench.py --threads "$threads" --samples "$samples" \
		--out "$out/torch-fp32-$r.json" >/dev/null
	$py crosscheck/bench/torch_fp64.py --threads "$threads" --samples "$samples" \
		--out "$out/torch-fp64-$r.json" >/dev/null
	if [ -n "${OPENBLAS_DIR:-}" ]; then
		LD_LIBRARY_PATH="$OPENBLAS_DIR" OPENBLAS_NUM_THREADS="$threads" \
			$py crosscheck/torch/bench.py --threads "$threads" --samples "$samples" \
			--out "$out/torch-fp32-openblas-$r.json" >/dev/null
	fi
done
echo "end: load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"
rm -f "$out/reference.test"
