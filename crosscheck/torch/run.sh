#!/usr/bin/env bash
# PyTorch cross-check of the published weights and goldens.
# Runs from a clean clone, from any directory; needs Debian's python3-torch
# (torch 1.13) and Go. Steps:
#   1. self-tests of the cross-check (safetensors codec, weight generator,
#      torch modules against a numpy transcription of the spec);
#   2. the published weights equal the spec's generator bit for bit;
#   3. check_goldens.py: torch reproduces every published golden (FP64 to
#      rtol 1e-10 / atol 1e-12, FP32 within the set's class) and prints the
#      cross-distances;
#   4. the PyTorch route of GPU goldens, on CPU: generate_goldens.py
#      --device cpu writes a set that `aiconform validate` and
#      `aiconform golden verify` (gorgonia, within the set's class) accept.
# Exit non-zero on the first failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
export PATH="/usr/local/go/bin:${PATH}"
export PYTHONDONTWRITEBYTECODE=1
py="${PYTHON:-/usr/bin/python3}"

step() { printf '\n==> torch cross-check: %s\n' "$*"; }

if ! "$py" -c 'import torch, numpy' 2>/dev/null; then
	echo "run.sh: $py cannot import torch and numpy; install Debian's: apt-get install -y --no-install-recommends python3-torch" >&2
	exit 2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

step "self-tests"
"$py" -m unittest discover -s crosscheck/torch -p 'test_*.py'

step "weights regenerate from the spec"
"$py" crosscheck/torch/weightgen.py

step "torch reproduces the published goldens"
"$py" crosscheck/torch/check_goldens.py --json "$tmp/crosscheck.json"

step "GPU route on CPU: generate_goldens.py --device cpu, then aiconform golden verify"
go build -o "$tmp/aiconform" ./cmd/aiconform
"$py" crosscheck/torch/generate_goldens.py --device cpu --out "$tmp/torch-cpu"
"$tmp/aiconform" validate "$tmp/torch-cpu/manifest.json"
if ! "$tmp/aiconform" golden verify "$tmp/torch-cpu" >"$tmp/verify.out" 2>&1; then
	cat "$tmp/verify.out" >&2
	echo "run.sh: aiconform golden verify rejected the set PyTorch computed" >&2
	exit 1
fi
tail -n 1 "$tmp/verify.out"
