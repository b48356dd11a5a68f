#!/usr/bin/env bash
# Runs every fuzz target of the repository, one at a time, each for the
# given duration, and fails if any of them fails.
#
#   scripts/fuzz.sh [-parallel N] DURATION   e.g. scripts/fuzz.sh 10s
#   scripts/fuzz.sh -list                    prints "PACKAGE TARGET" lines
#
# -parallel is passed to go test (default: GOMAXPROCS). New inputs that
# widen coverage are minimized for at most FUZZ_MINIMIZE (default 2s), so
# that a short run fuzzes rather than minimizes; a failing input is written
# under the package's testdata/fuzz/TARGET/ as go test does. For each
# target the script prints the target, the duration and the final execs
# figure of go's output.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every fuzz target, as "PACKAGE TARGET". TestFuzzTargetsListed (the root
# package's tests) fails when a func Fuzz of the tree is missing here.
targets=(
	"./oip FuzzDecodeResponse"
	"./oip FuzzDecodeData"
	"./oip FuzzDecodeBinary"
	"./oip/grpcbind FuzzScanContents"
	"./conformance FuzzInferenceResponse"
	"./conformance FuzzParseProfile"
	"./conformance FuzzModelCard"
	"./conformance FuzzCountJSONValues"
	"./safetensors FuzzDecode"
	"./safetensors FuzzEncodeDecode"
	"./golden FuzzReadManifest"
	"./golden FuzzLoadCase"
	"./reports FuzzParse"
	"./reference/serve FuzzHandler"
)

usage() {
	echo "usage: scripts/fuzz.sh [-parallel N] DURATION | scripts/fuzz.sh -list" >&2
	exit 2
}

parallel=()
duration=""
while [ $# -gt 0 ]; do
	case "$1" in
	-list | --list)
		printf '%s\n' "${targets[@]}"
		exit 0
		;;
	-parallel | --parallel)
		[ $# -ge 2 ] || usage
		parallel=(-parallel "$2")
		shift 2
		;;
	-*) usage ;;
	*)
		[ -z "$duration" ] || usage
		duration="$1"
		shift
		;;
	esac
done
[ -n "$duration" ] || usage

export PATH="/usr/local/go/bin:${PATH}"
minimize="${FUZZ_MINIMIZE:-2s}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=()
for entry in "${targets[@]}"; do
	read -r pkg target <<<"$entry"
	status=ok
	if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$duration" -fuzzminimizetime "$minimize" "${parallel[@]}" "$pkg" >"$log" 2>&1; then
		status=FAIL
		# Go's coordinator can end a clean run with a bare "context
		# deadline exceeded" when a worker misses the stop deadline; it
		# writes no failing input. Such a run passes if the seed corpus
		# (testdata/fuzz included) still passes.
		if grep -q '^    context deadline exceeded$' "$log" && ! grep -q 'Failing input written' "$log" &&
			go test -count=1 -run "^${target}\$" "$pkg" >>"$log" 2>&1; then
			status="ok (go's coordinator missed its deadline; the corpus passes)"
		fi
	fi
	execs=$(sed -n 's/^fuzz: elapsed: .*, execs: \([0-9]*\) .*/\1/p' "$log" | tail -n 1)
	printf '%-24s %-18s %s  execs %s  %s\n' "$target" "$pkg" "$duration" "${execs:-?}" "$status"
	if [ "${status%% *}" = FAIL ]; then
		cat "$log" >&2
		failed+=("$pkg $target")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	printf 'fuzz targets that failed:\n' >&2
	printf '  %s\n' "${failed[@]}" >&2
	exit 1
fi
