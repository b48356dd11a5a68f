#!/usr/bin/env bash
# Generates the Go code of a .proto file of the repository with protoc and
# the protoc-gen-go and protoc-gen-go-grpc versions go.mod pins (its tool
# directives), so that every machine generates the same bytes.
#
#   scripts/protoc.sh [-grpc] [-out DIR] PROTO_DIR FILE.proto GO_IMPORT_PATH
#
# The .proto file is used as its upstream publishes it (no go_package
# option): GO_IMPORT_PATH maps it to its Go package. -grpc also generates
# the service's client and server. The output goes beside the .proto file,
# or into DIR (the staleness tests compare the two). protoc comes from the
# system (Debian: protobuf-compiler); the plugins are built from the module
# cache into a temporary directory.
set -euo pipefail

grpc=0
out=""
while [[ $# -gt 0 ]]; do
	case "$1" in
	-grpc) grpc=1; shift ;;
	-out) out="$2"; shift 2 ;;
	*) break ;;
	esac
done
if [[ $# -ne 3 ]]; then
	echo "usage: scripts/protoc.sh [-grpc] [-out DIR] PROTO_DIR FILE.proto GO_IMPORT_PATH" >&2
	exit 2
fi
dir="$1" file="$2" importpath="$3"
out="${out:-$dir}"
command -v protoc >/dev/null || { echo "protoc.sh: protoc is not installed (Debian: apt-get install protobuf-compiler)" >&2; exit 3; }

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
(cd "$root" && go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go)
args=(--proto_path="$dir" --plugin=protoc-gen-go="$bin/protoc-gen-go"
	--go_out="$out" --go_opt=paths=source_relative --go_opt="M$file=$importpath")
if [[ $grpc == 1 ]]; then
	(cd "$root" && go build -o "$bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc)
	args+=(--plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc"
		--go-grpc_out="$out" --go-grpc_opt=paths=source_relative --go-grpc_opt="M$file=$importpath")
fi
protoc "${args[@]}" "$dir/$file"
