#!/usr/bin/env bash
# Builds `testcluster` (tests/cluster: etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler from the Kubernetes Go modules in
# one binary) outside the clone, so later runs and later clones reuse it:
#   binary   $HOME/.cache/wasmpod/testcluster/testcluster   (WASMPOD_TESTCLUSTER)
#   GOCACHE  $HOME/.cache/wasmpod/go-build                  (WASMPOD_GOCACHE)
#   modules  Go's default GOMODCACHE                        (or GOMODCACHE)
# The first build takes minutes; a rebuild with nothing changed takes seconds.
# Progress and timing go to stderr; the binary's path is printed on stdout:
#   testcluster=$(bash .ci/cluster-build.sh)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=$HOME/.cache/wasmpod
out=${WASMPOD_TESTCLUSTER:-$cache/testcluster/testcluster}

if ! command -v go >/dev/null 2>&1; then
	echo "cluster-build: 'go' is not on PATH: the test control plane (tests/cluster) needs Go >= 1.26" >&2
	exit 1
fi
export GOCACHE=${WASMPOD_GOCACHE:-$cache/go-build}
# Never fetch another Go toolchain: fail clearly if this one is too old.
export GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly"
mkdir -p "$GOCACHE" "$(dirname "$out")"

start=$(date +%s%N)
cd "$repo/tests/cluster"
# The upstream release build stamps the version into k8s.io/component-base/version
# (what /version, `kubectl version` and the components' --version report);
# without it they say v0.0.0-master. Take it from go.mod.
k8s=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
minor=${k8s#v1.}
minor=${minor%%.*}
v=k8s.io/component-base/version
ldflags="-s -w -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitVersion=$k8s -X $v.gitCommit= -X $v.gitTreeState=clean"
echo "cluster-build: $(go version), Kubernetes $k8s, building $out" >&2
# -trimpath keeps cache keys and the binary independent of the clone's path;
# -s -w drops the symbol table and DWARF (a third smaller, quicker to link).
# nice: never slow down other builds running on the same cores.
nice -n 19 go build -trimpath -ldflags="$ldflags" -o "$out" .
elapsed=$((($(date +%s%N) - start) / 1000000))
echo "cluster-build: done in $((elapsed / 1000)).$(printf %03d $((elapsed % 1000)))s ($(du -h "$out" | cut -f1))" >&2
echo "$out"
