#!/usr/bin/env bash
# The project's test command (`make test`, and what .ci/run runs): builds the pinned
# control-plane binaries if they are not cached, checks that generated files are fresh,
# then runs every unit and envtest suite and the end-to-end suite on a local cluster made
# of etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.
#
#   hack/test.sh          everything
#   hack/test.sh unit     unit + envtest suites
#   hack/test.sh e2e      end-to-end suite only
#
# The full log goes to $TEST_LOG (default: a temp file); the console shows each test's
# result, each Ginkgo suite's "Ran N of M Specs", and a final "N passed, N failed" line.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
mode=${1:-all}
export GOFLAGS=-buildvcs=false
export GINKGO_NO_COLOR=TRUE # plain "Ran N of M Specs" lines for the digest below

step() { printf '\n==> %s\n' "$*"; }

step "Building pinned control-plane binaries (cached after the first run)"
case "$mode" in
unit) hack/testbin.sh envtest; hack/testbin.sh helm ;;
*) hack/testbin.sh all ;;
esac
eval "$(hack/testbin-env.sh)"

if [[ "$mode" == all ]]; then
  step "Checking that generated code and manifests are fresh (make verify)"
  make --no-print-directory verify
  step "go vet"
  go vet ./...
fi

log=${TEST_LOG:-$(mktemp -t taskroute-test.XXXXXX.log)}
: >"$log"
status=0

# run_tests runs go test -v and shows a digest: per-test results, suite summaries, package
# results. The full output stays in the log.
run_tests() {
  set +e
  go test -v -count=1 "$@" 2>&1 | tee -a "$log" |
    grep --line-buffered -E '^(--- (PASS|FAIL|SKIP)|ok |FAIL|panic:|Ran [0-9]+ of [0-9]+ Specs|SUCCESS!|FAIL!)' |
    grep --line-buffered -vE '^--- PASS: .*/' # subtests are in the log
  local rc=${PIPESTATUS[0]}
  set -e
  ((rc == 0)) || status=$rc
}

# Tests that compare latencies run alone: packages run two at a time, and a neighbour's
# load (a kill -9 run of 100,000 tasks, say) moves tail latencies more than what they test.
latency_tests='^TestQuotaIsolation$'

if [[ "$mode" == all || "$mode" == unit ]]; then
  step "Unit and envtest suites"
  run_tests -timeout 30m -skip "$latency_tests" $(go list ./... | grep -v /test/e2e)
  step "Latency comparisons (alone on the machine)"
  run_tests -timeout 10m -run "$latency_tests" ./internal/matching/server/
fi
if [[ "$mode" == all || "$mode" == e2e ]]; then
  step "End-to-end suite (local cluster with kwok nodes)"
  TASKROUTE_E2E=1 run_tests -timeout 40m ./test/e2e/...
fi

passed=$(grep -cE '^\s*--- PASS' "$log" || true)
failed=$(grep -cE '^\s*--- FAIL' "$log" || true)
skipped=$(grep -cE '^\s*--- SKIP' "$log" || true)
if ((status != 0)); then
  step "Failures (full log: $log)"
  grep -nE -B2 -A30 '^\s*--- FAIL|^panic:|\[FAIL\]' "$log" | tail -300 || true
  ((failed > 0)) || failed=1
fi
echo
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
