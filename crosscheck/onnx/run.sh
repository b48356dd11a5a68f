#!/usr/bin/env bash
# ONNX cross-check of the aiconform reference models, from a clean clone:
#   1. installs onnxruntime-node (npm ci, without its download step) if missing,
#   2. exports every reference model as ONNX (aiconform reference export --format onnx),
#   3. checks each file with onnx.checker (full_check) from Debian's python3-onnx,
#   4. runs the models in ONNX Runtime on the published FP32 goldens and
#      compares within the tolerance class (ort_check.mjs),
#   5. negative control: with fc.bias[0] of every model moved by 1e-3, the
#      same check must fail for every FP32 golden set.
# Extra arguments go to ort_check.mjs (e.g. --optimization disabled).
# Exit status: 0 when everything passes, non-zero otherwise.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
export PATH="/usr/local/go/bin:${PATH}"

python=/usr/bin/python3
if ! "$python" -c 'import onnx' 2>/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "==> installing python3-onnx (Debian)"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-onnx >/dev/null
	else
		echo "run.sh: $python cannot import onnx; install Debian's python3-onnx" >&2
		exit 1
	fi
fi
command -v node >/dev/null || { echo "run.sh: node (v20 or later) is missing" >&2; exit 1; }

lib="$here/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1"
if [ ! -f "$lib" ]; then
	echo "==> npm ci (onnxruntime-node, ONNXRUNTIME_NODE_INSTALL=skip)"
	(cd "$here" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error)
	[ -f "$lib" ] || { echo "run.sh: npm ci did not install $lib" >&2; exit 1; }
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "==> aiconform reference export --format onnx"
go run ./cmd/aiconform reference export --format onnx --out "$out"

echo "==> onnx.checker (full_check)"
"$python" "$here/check_onnx.py" "$out"

echo "==> ONNX Runtime vs the published FP32 goldens"
node "$here/ort_check.mjs" --models "$out" "$@"

echo "==> negative control: fc.bias[0] + 1e-3 in every model must fail the check"
"$python" "$here/perturb.py" "$out" "$out/perturbed" fc.bias 1e-3
status=0
node "$here/ort_check.mjs" --models "$out/perturbed" "$@" >"$out/perturbed.log" 2>&1 || status=$?
if [ "$status" -ne 1 ]; then
	cat "$out/perturbed.log" >&2
	echo "run.sh: ort_check.mjs exited $status on perturbed models, want 1" >&2
	exit 1
fi
sets=$(node -e 'const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
for (const s of m.sets) if (s.dtype === "FP32") console.log(`${s.model}/${s.version}`);' "$root/testdata/goldens/v1/manifest.json")
for s in $sets; do
	if ! grep -q "^FAIL $s " "$out/perturbed.log"; then
		cat "$out/perturbed.log" >&2
		echo "run.sh: the perturbed $s passed ort_check.mjs" >&2
		exit 1
	fi
	echo "ok    perturbed $s fails: $(grep -c "^FAIL $s " "$out/perturbed.log") tensors outside the class"
done
