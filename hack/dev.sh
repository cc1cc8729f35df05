#!/usr/bin/env bash
# `make dev`: a local taskroute environment on a machine with nothing but Go.
#
# Builds (or reuses from ~/.cache/taskroute) etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok and helm from the Go module proxy, then starts a local cluster with
# fake GPU and CPU nodes, installs the chart, runs the manager locally, applies
# config/samples and prints where the worker pods landed. Ctrl-C stops and cleans up.
# See docs/local-cluster.md.
#
#   hack/dev.sh [devcluster flags]     e.g. --samples=path/to/manifests
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export GOFLAGS=${GOFLAGS:--buildvcs=false}

echo "==> Building the local cluster's binaries (a cold cache takes 10-15 minutes on 2 cores)"
hack/testbin.sh cluster
hack/testbin.sh helm
eval "$(hack/testbin-env.sh)"

echo "==> Starting the local cluster"
go build -o "${TMPDIR:-/tmp}/taskroute-devcluster" ./internal/localcluster/cmd/devcluster
# exec: Ctrl-C reaches devcluster directly, which stops every process it started.
exec "${TMPDIR:-/tmp}/taskroute-devcluster" --repo-root="$root" "$@"
