#!/usr/bin/env bash
# Benchmarks of the matching service end to end (make bench): builds the manager and
# cmd/taskroute-bench, then runs the dispatch-performance workloads (drain-batched,
# drain-single, start-latency) against a real `manager --standalone` process with durable
# writes on a temp data dir, over gRPC on 127.0.0.1. Each workload runs -runs times (3 by
# default, each on a fresh service and data dir) and ends with a line of the medians: the
# issue's targets are medians of 3 runs. Every run line gives tasks/s (or p50/p99), the
# machine CPU per task split into the service and the driver process, and each process's
# context switches per task. Results print to stdout; record them in docs/benchmarks.md
# ("## Dispatch workloads").
#
# Extra arguments go to taskroute-bench, e.g.:
#   hack/bench.sh -runs 5                                 # 5 runs of each workload
#   hack/bench.sh -scenarios latency,batched              # the earlier scenarios
#   hack/bench.sh -scenarios memory,restart -restart-tasks 100000 -queues 10000
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
mkdir -p bin
CGO_ENABLED=0 go build -trimpath -o bin/manager ./cmd/manager
CGO_ENABLED=0 go build -trimpath -o bin/taskroute-bench ./cmd/taskroute-bench
exec bin/taskroute-bench -manager bin/manager "$@"
