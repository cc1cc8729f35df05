#!/usr/bin/env bash
# Before/after comparison of the plain-queue scenarios (sync-match latency, batched end to
# end) of two manager binaries, interleaved in one run (B A, A B, B A) so that drift in the
# machine's load weighs on both. The driver is taskroute-bench of this checkout.
#
#   hack/bench-compare.sh BEFORE_MANAGER AFTER_MANAGER ["extra flags for AFTER"]
#
# e.g. build the manager of an earlier commit into /tmp/manager-before (git worktree add)
# and compare it with this checkout's: hack/bench-compare.sh /tmp/manager-before bin/manager
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
before=$1 after=$2 after_args=${3:-}
mkdir -p bin
CGO_ENABLED=0 go build -trimpath -o bin/taskroute-bench ./cmd/taskroute-bench
run() { # label manager extra-flags
  echo "### $1"
  bin/taskroute-bench -manager "$2" -scenarios latency,batched -latency-samples 3000 -batched-tasks 100000 \
    ${3:+-server-args "$3"} 2>&1 | grep -v '^#'
}
for round in 1 2 3; do
  if ((round % 2)); then
    run "before r$round" "$before" ""
    run "after r$round" "$after" "$after_args"
  else
    run "after r$round" "$after" "$after_args"
    run "before r$round" "$before" ""
  fi
done
