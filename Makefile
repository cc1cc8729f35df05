# taskroute — see README.md. Every tool is pinned in hack/versions.sh and built into the
# cache (~/.cache/taskroute) by hack/ scripts; nothing needs to be installed by hand.

SHELL := /usr/bin/env bash -o pipefail
TOOLS_BIN = $(shell hack/tools.sh)
CONTROLLER_GEN = $(TOOLS_BIN)/controller-gen
IMG ?= ghcr.io/taskroute/taskroute:dev
BIN_DIR ?= bin

# Stamped into the binaries (internal/version): printed by --version and in startup logs.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
VERSION_PKG = github.com/taskroute/taskroute/internal/version
LDFLAGS = -X $(VERSION_PKG).version=$(VERSION) -X $(VERSION_PKG).commit=$(COMMIT)

.PHONY: all
all: build

##@ Development

.PHONY: generate
generate: ## Generate deepcopy code and the gRPC/protobuf code.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	hack/generate-proto.sh

.PHONY: manifests
manifests: ## Generate CRDs and RBAC from markers, and copy them into the Helm chart and dist/.
	rm -rf config/crd/bases
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	go run ./hack/crd-trim config/crd/bases/*.yaml
	$(CONTROLLER_GEN) rbac:roleName=taskroute-manager paths=./controllers/... paths=./internal/... output:rbac:artifacts:config=config/rbac
	hack/sync-chart.sh

.PHONY: verify
verify: generate manifests ## Fail when generated files are stale, code is not gofmt'ed, or go.mod is untidy.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "not gofmt'ed: run 'make fmt'"; exit 1; }
	@go mod tidy -diff >/dev/null || { echo "go.mod/go.sum are not tidy: run 'go mod tidy'"; exit 1; }
	@git diff --exit-code -- api config charts dist || { echo "generated files are stale: run 'make generate manifests' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- api config charts dist)" || { git status --porcelain -- api config charts dist; echo "untracked generated files: commit them"; exit 1; }

.PHONY: fmt
fmt:
	gofmt -s -w $$(git ls-files '*.go')

.PHONY: vet
vet:
	go vet ./...

##@ Test

.PHONY: test
test: ## Unit, envtest and end-to-end tests against a real control plane built from source.
	hack/test.sh

.PHONY: test-unit
test-unit: ## Unit and envtest suites only.
	hack/test.sh unit

.PHONY: test-e2e
test-e2e: ## End-to-end suite only (local cluster with kwok nodes).
	hack/test.sh e2e

.PHONY: bench
bench: ## Benchmarks; results go to docs/benchmarks.md by hand.
	hack/bench.sh

.PHONY: testbin
testbin: ## Build (or reuse) the pinned control-plane binaries.
	hack/testbin.sh all

##@ Run

.PHONY: dev
dev: ## Start a local cluster with fake GPU/CPU nodes, install taskroute, apply the samples.
	hack/dev.sh

.PHONY: build
build: ## Build the manager and the taskroute CLI into bin/, stamped with VERSION and COMMIT.
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN_DIR)/manager ./cmd/manager
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN_DIR)/taskroute ./cmd/taskroute

.PHONY: docker-build
docker-build: ## Build the manager image (needs a container engine).
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMG) .

.PHONY: help
help:
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-14s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
