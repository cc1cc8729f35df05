#!/usr/bin/env bash
# Benchmarks of the matching service end to end (make bench): builds the manager and
# cmd/taskroute-bench, then runs the dispatch-performance workloads (drain-batched,
# drain-single, start-latency) against a real `manager --standalone` process with durable
# writes on a temp data dir, over gRPC on 127.0.0.1. Results print to stdout; record them
# in docs/benchmarks.md ("## Dispatch workloads").
#
# Extra arguments go to taskroute-bench, e.g.:
#   hack/bench.sh -scenarios latency,batched              # the earlier scenarios
#   hack/bench.sh -scenarios memory,restart -restart-tasks 100000 -queues 10000
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
mkdir -p bin
CGO_ENABLED=0 go build -trimpath -o bin/manager ./cmd/manager
CGO_ENABLED=0 go build -trimpath -o bin/taskroute-bench ./cmd/taskroute-bench
exec bin/taskroute-bench -manager bin/manager "$@"
