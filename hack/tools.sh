#!/usr/bin/env bash
# Installs the pinned code generators into the cache and prints the folder they are in.
#   hack/tools.sh         -> prints $TOOLS_BIN
#   hack/tools.sh proto   -> also installs buf (only `make generate` needs it)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
export GOFLAGS=-buildvcs=false

install() { # $1 = package, $2 = version, $3 = binary name
  local stamp="$TOOLS_BIN/.$3-$2"
  [[ -f "$stamp" && -x "$TOOLS_BIN/$3" ]] && return 0
  printf '[tools] installing %s@%s\n' "$1" "$2" >&2
  mkdir -p "$TOOLS_BIN"
  GOBIN="$TOOLS_BIN" go install "$1@$2"
  rm -f "$TOOLS_BIN"/."$3"-*
  touch "$stamp"
}

install sigs.k8s.io/controller-tools/cmd/controller-gen "$CONTROLLER_TOOLS_VERSION" controller-gen
install google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION" protoc-gen-go
install google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION" protoc-gen-go-grpc
install github.com/planetscale/vtprotobuf/cmd/protoc-gen-go-vtproto "$PROTOC_GEN_GO_VTPROTO_VERSION" protoc-gen-go-vtproto
[[ "${1:-}" == proto ]] && install github.com/bufbuild/buf/cmd/buf "$BUF_VERSION" buf
echo "$TOOLS_BIN"
