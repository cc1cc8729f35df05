#!/usr/bin/env bash
# Builds the real Kubernetes control-plane binaries that the tests run against, from the Go
# module proxy, at pinned versions. Binaries are cached outside the checkout, keyed by
# version, so only a changed pin triggers a rebuild.
#
#   hack/testbin.sh [all|envtest|cluster|helm|kubectl]   (default: all)
#   prints nothing but progress on stderr; the binary directory is $TESTBIN_DIR.
#
# Layout of the cache ($TASKROUTE_CACHE, default ~/.cache/taskroute):
#   bin/<version-key>/<tool>   one folder per pin; "bin/current" is never used, paths are
#                              always resolved through hack/testbin-env.sh.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"

export GOFLAGS=-buildvcs=false
export CGO_ENABLED=0

log() { printf '[testbin] %s\n' "$*" >&2; }

build_dir() { # $1 = module key -> a scratch module folder in the cache
  local d="$TASKROUTE_CACHE/build/$1"
  mkdir -p "$d"
  echo "$d"
}

# kube_version_ldflags stamps the pinned version into the binaries, as the Kubernetes
# release build does, so /version (and kubectl version) report it.
kube_version_ldflags() {
  local v=$KUBERNETES_VERSION minor=${KUBERNETES_VERSION#v1.}
  minor=${minor%%.*}
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    printf -- '-X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=%s -X %s.gitTreeState=clean ' \
      "$pkg" "$v" "$pkg" "$pkg" "$minor" "$pkg"
  done
}

# kube_binaries builds kube-apiserver, kube-controller-manager, kube-scheduler (and
# optionally kubectl) from k8s.io/kubernetes with every staging module replaced by its
# published release, which is what makes the main module buildable outside its repo.
kube_binaries() {
  local want=("$@") missing=()
  # A binary built without the version stamp reports v0.0.0-master, which charts with a
  # kubeVersion constraint refuse; rebuild those (only the link step reruns).
  for b in "${want[@]}"; do
    [[ -x "$K8S_BIN/$b" ]] && "$K8S_BIN/$b" --version 2>/dev/null | grep -q "$KUBERNETES_VERSION" || missing+=("$b")
  done
  ((${#missing[@]})) || return 0
  local d; d=$(build_dir "kubernetes-$KUBERNETES_VERSION")
  if [[ ! -f "$d/go.mod" ]]; then
    log "preparing k8s.io/kubernetes $KUBERNETES_VERSION build module"
    local gomod
    gomod=$(cd "$d" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    {
      echo "module taskroute.local/kubebuild"
      echo "go 1.26"
      echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
      # Every staging module (k8s.io/x => ./staging/src/k8s.io/x) becomes its release.
      local staging="v0${KUBERNETES_VERSION#v1}"
      grep -oE '^\s*k8s.io/[a-z0-9-]+ => \./staging' "$gomod" | awk '{print $1}' | sort -u |
        while read -r m; do echo "replace $m => $m $staging"; done
    } >"$d/go.mod.tmp"
    mv "$d/go.mod.tmp" "$d/go.mod"
  fi
  mkdir -p "$K8S_BIN"
  for b in "${missing[@]}"; do
    log "building $b $KUBERNETES_VERSION (several minutes on a cold cache)"
    (cd "$d" && GOFLAGS="$GOFLAGS -mod=mod" go build -trimpath -ldflags="-s $(kube_version_ldflags)" -o "$K8S_BIN/$b.tmp" "k8s.io/kubernetes/cmd/$b")
    mv "$K8S_BIN/$b.tmp" "$K8S_BIN/$b"
  done
}

etcd_binary() {
  [[ -x "$ETCD_BIN/etcd" ]] && return 0
  local d; d=$(build_dir "etcd-$ETCD_VERSION")
  log "building etcd $ETCD_VERSION"
  cat >"$d/go.mod" <<MOD
module taskroute.local/etcdbuild
go 1.26
require go.etcd.io/etcd/server/v3 $ETCD_VERSION
MOD
  cat >"$d/main.go" <<'GO'
// Command etcd is etcd's own main, built from the module proxy for tests.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  mkdir -p "$ETCD_BIN"
  (cd "$d" && GOFLAGS="$GOFLAGS -mod=mod" go build -trimpath -ldflags=-s -o "$ETCD_BIN/etcd.tmp" .)
  mv "$ETCD_BIN/etcd.tmp" "$ETCD_BIN/etcd"
}

# go_install_pinned installs a module's command at a pinned version into its own folder.
go_install_pinned() { # $1 = package@version, $2 = destination folder
  local name; name=$(basename "${1%@*}")
  [[ -x "$2/$name" ]] && return 0
  log "building $1"
  mkdir -p "$2"
  GOBIN="$2" go install -trimpath -ldflags=-s "$1"
}

kwok_binary() {
  go_install_pinned "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "$KWOK_BIN"
  # kwok needs stage definitions; the module ships them. Joined into one config file.
  # The "fast" pod stages (Pending -> Running at once); the "general" ones wait for a
  # pod-create stage that sets the Initialized condition. The marker line rebuilds a file
  # written from another selection.
  local marker="# taskroute kwok stages: node/fast node/heartbeat pod/fast"
  if [[ "$(head -1 "$KWOK_BIN/stages.yaml" 2>/dev/null)" != "$marker" ]]; then
    local dir
    dir=$(cd "$(build_dir kwok)" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    local out="$KWOK_BIN/stages.yaml.tmp" first=1
    echo "$marker" >"$out"
    for f in node/fast/node-initialize node/heartbeat/node-heartbeat pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
      local src="$dir/kustomize/stage/$f.yaml"
      [[ -f "$src" ]] || { log "kwok stage $src not found"; exit 1; }
      ((first)) || echo '---' >>"$out"
      first=0
      cat "$src" >>"$out"
    done
    mv "$out" "$KWOK_BIN/stages.yaml"
  fi
}

target=${1:-all}
case "$target" in
envtest) etcd_binary; kube_binaries kube-apiserver ;;
cluster) etcd_binary; kube_binaries kube-apiserver kube-controller-manager kube-scheduler; kwok_binary ;;
helm) go_install_pinned "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" "$HELM_BIN" ;;
kubectl) kube_binaries kubectl ;;
all)
  etcd_binary
  kube_binaries kube-apiserver kube-controller-manager kube-scheduler
  kwok_binary
  go_install_pinned "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" "$HELM_BIN"
  ;;
*) echo "usage: $0 [all|envtest|cluster|helm|kubectl]" >&2; exit 2 ;;
esac
log "ready: $target"
