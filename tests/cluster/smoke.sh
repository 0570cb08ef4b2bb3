#!/usr/bin/env bash
# End-to-end check of testcluster with a real kubectl:
#   tests/cluster/smoke.sh TESTCLUSTER KUBECTL [DIR]
# Brings a control plane up in DIR (default: a new temporary directory) on a
# free port, checks /readyz, namespaces, that a Deployment gets a ReplicaSet and
# Pending pods (no nodes), that a node identity from `node-cert` may create its
# own Node (Node authorizer + NodeRestriction) but not another one, and that the
# controller-manager gives the node a podCIDR; then stops the control plane
# and checks that none of its processes is left.
set -euo pipefail
tc=${1:?usage: smoke.sh TESTCLUSTER KUBECTL [DIR]}
kubectl=${2:?usage: smoke.sh TESTCLUSTER KUBECTL [DIR]}
dir=${3:-$(mktemp -d)}
node=smoke-node-1

step() { printf '\n== %s\n' "$*"; }
fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
# Polls a command until it prints something non-empty (up to $1 seconds).
poll() {
	local secs=$1 out
	shift
	for _ in $(seq $((secs * 2))); do
		out=$("$@" 2>/dev/null || true)
		[ -n "$out" ] && { echo "$out"; return 0; }
		sleep 0.5
	done
	return 1
}

step "up --dir $dir --port 0"
start=$(date +%s%N)
mkdir -p "$dir"
coproc UP { exec "$tc" up --dir "$dir" --port 0 2>"$dir/up.log"; }
up_pid=$UP_PID
trap 'kill -TERM $up_pid 2>/dev/null || true' EXIT
read -r -t 300 line <&"${UP[0]}" || { cat "$dir/up.log" >&2; fail "no ready line"; }
echo "$line"
echo "ready after $((($(date +%s%N) - start) / 1000000)) ms"
[[ $line == ready\ https://127.0.0.1:* ]] || fail "unexpected line: $line"
k() { "$kubectl" --kubeconfig "$dir/admin.kubeconfig" "$@"; }

step "processes and RSS"
pids=$(printf '%s\n' "$up_pid" $(pgrep -P "$up_pid") | paste -sd,)
ps -o pid,rss,args -p "$pids" | cut -c1-110
ps -o rss= -p "$pids" | awk '{s += $1} END {printf "total RSS %.0f MiB\n", s / 1024}'

step "readyz, namespaces, nodes"
k version
k get --raw /readyz
echo
k get ns
[ -z "$(k get nodes -o name)" ] || fail "expected no nodes"
echo "no nodes"

step "deployment x: ReplicaSet and Pending pod"
k create deployment x --image=nginx
poll 60 k get rs -l app=x -o name >/dev/null || fail "no ReplicaSet"
poll 60 k get pods -l app=x -o name >/dev/null || fail "no Pod"
k get rs,pods -l app=x
phase=$(k get pods -l app=x -o jsonpath='{.items[0].status.phase}')
[ "$phase" = Pending ] || fail "pod phase $phase, expected Pending"
poll 30 k get pods -l app=x -o jsonpath='{.items[0].status.conditions[?(@.type=="PodScheduled")].reason}' ||
	fail "scheduler did not mark the pod unschedulable"

step "node identity $node"
nkc=$("$tc" node-cert --dir "$dir" --name "$node")
kn() { "$kubectl" --kubeconfig "$nkc" "$@"; }
kn auth whoami
cat <<YAML | kn create -f -
apiVersion: v1
kind: Node
metadata:
  name: $node
  labels: {kubernetes.io/hostname: $node}
YAML
if out=$(printf 'apiVersion: v1\nkind: Node\nmetadata: {name: other-node}\n' | kn create -f - 2>&1); then
	fail "node $node could create Node other-node"
fi
echo "other-node refused as expected: $out"
cidr=$(poll 60 k get node "$node" -o jsonpath='{.spec.podCIDR}') || fail "no podCIDR"
echo "spec.podCIDR = $cidr"
kn get node "$node" -o name

step "stop"
stop=$(date +%s%N)
kill -TERM "$up_pid"
wait "$up_pid" || fail "up exited with $?"
trap - EXIT
echo "stopped in $((($(date +%s%N) - stop) / 1000000)) ms"
left=$(pgrep -f "^$tc " || true)
[ -z "$left" ] || { ps -o pid,args -p "$left"; fail "processes left"; }
echo "no testcluster process left"
echo "smoke: OK ($dir)"
