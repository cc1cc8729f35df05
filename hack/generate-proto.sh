#!/usr/bin/env bash
# Regenerates the Go code of the matching protocol (api/matching/v1) and of KEDA's external
# scaler protocol (api/externalscaler/v1alpha1) with pinned buf, protoc-gen-go and
# protoc-gen-go-grpc, all built from the module proxy into the cache.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=$("$root/hack/tools.sh" proto)
for dir in api/matching/v1 api/externalscaler/v1alpha1; do
  (cd "$root/$dir" && PATH="$tools:$PATH" buf generate --template buf.gen.yaml .)
done
