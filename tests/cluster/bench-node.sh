#!/usr/bin/env bash
# Figures for `wasmpod node` against the real control plane of tests/cluster:
#   tests/cluster/bench-node.sh TESTCLUSTER WASMPOD KUBECTL [NODES] [REPLICAS]
# Starts the control plane and NODES wasmpod nodes (default 3), measures each
# node agent's idle CPU and RSS, applies a Deployment of REPLICAS (default
# 150) sleeping busybox pods through the wasmpod RuntimeClass, and prints the
# time until every replica is Running, pods per second, and the agents' RSS
# with the pods running. Linux (reads /proc). As root it also runs the nodes
# in routed mode (each adds a `local` route of its podCIDR, removed at exit)
# and measures pod traffic between two nodes beside pod traffic within one:
# throughput and one-byte round trips (nettest pods).
set -euo pipefail
tc=${1:?usage: bench-node.sh TESTCLUSTER WASMPOD KUBECTL [NODES] [REPLICAS]}
wasmpod=${2:?usage}
kubectl=${3:?usage}
nodes=${4:-3}
replicas=${5:-150}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=$(mktemp -d)
pids=()
cidrs=""
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for c in $cidrs; do ip route del local "$c" dev lo 2>/dev/null || true; done
	[ -n "${up_pid:-}" ] && kill -TERM "$up_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
# Runs a test command until it succeeds, for at most $1 seconds.
within() {
	local secs=$1
	shift
	for _ in $(seq $((secs * 5))); do
		"$@" && return 0
		sleep 0.2
	done
	echo "bench-node: timed out waiting for: $*" >&2
	exit 1
}
ready_nodes() { [ "$(k get nodes --no-headers 2>/dev/null | grep -c ' Ready')" = "$nodes" ]; }
running() { [ "$(k get pods -l app=bench --field-selector status.phase=Running --no-headers 2>/dev/null | wc -l)" -ge "$replicas" ]; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

coproc UP { exec "$tc" up --dir "$dir/c" --port 0 2>"$dir/up.log"; }
up_pid=$UP_PID
read -r -t 300 line <&"${UP[0]}" || { cat "$dir/up.log" >&2; exit 1; }
k() { "$kubectl" --kubeconfig "$dir/c/admin.kubeconfig" "$@"; }
# What the agents read (Services, EndpointSlices, Nodes, pods, namespaces,
# NetworkPolicies): their idle figures include those watches.
k apply -f "$repo/examples/cluster/node-rbac.yaml" >/dev/null
routed=()
[ "$(id -u)" = 0 ] && [ "$nodes" -ge 2 ] && routed=(--pod-network routed)
for i in $(seq "$nodes"); do
	kc=$("$tc" node-cert --dir "$dir/c" --name "wp-$i")
	"$wasmpod" --state-dir "$dir/wp-$i" node --kubeconfig "$kc" --name "wp-$i" --kubelet-port 0 --listen none --quiet "${routed[@]}" >"$dir/wp-$i.log" 2>&1 &
	pids+=($!)
done
within 120 ready_nodes
cidrs=$(k get nodes -o jsonpath='{.items[*].spec.podCIDR}')
within 60 k get serviceaccount default >/dev/null 2>&1
k apply -f "$repo/examples/cluster/runtimeclass.yaml" >/dev/null

hz=$(getconf CLK_TCK)
window=10
declare -A before
for p in "${pids[@]}"; do before[$p]=$(ticks "$p"); done
sleep "$window"
for i in $(seq "$nodes"); do
	p=${pids[$((i - 1))]}
	echo "node_agent_idle_cpu_percent wp-$i $(awk -v d=$(($(ticks "$p") - before[$p])) -v hz="$hz" -v w="$window" 'BEGIN {printf "%.2f", 100 * d / hz / w}')"
	echo "node_agent_idle_rss_mib wp-$i $(rss_mib "$p")"
done

cat >"$dir/deploy.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: bench}
spec:
  replicas: $replicas
  selector: {matchLabels: {app: bench}}
  template:
    metadata: {labels: {app: bench}}
    spec:
      runtimeClassName: wasmpod
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: busybox, command: [sleep, "3600"]}
YAML
start=$(date +%s%N)
k apply -f "$dir/deploy.yaml" >/dev/null
within 600 running
took=$(ms "$start")
echo "deployment_${replicas}_replicas_all_running_ms $took"
echo "pods_per_second $(awk -v n="$replicas" -v t="$took" 'BEGIN {printf "%.1f", n / (t / 1000)}')"
echo "pods_per_second_per_node $(awk -v n="$replicas" -v t="$took" -v m="$nodes" 'BEGIN {printf "%.1f", n / (t / 1000) / m}')"
for i in $(seq "$nodes"); do
	p=${pids[$((i - 1))]}
	echo "node_agent_rss_with_pods_mib wp-$i $(rss_mib "$p") ($(k get pods -l app=bench --field-selector spec.nodeName=wp-$i --no-headers | wc -l) pods)"
done
[ ${#routed[@]} = 0 ] && exit 0

# Pod traffic between two nodes (routed: through the host's TCP) beside
# pod traffic within one node (in memory). One-shot nettest servers on
# wp-1, clients on wp-2 and on wp-1.
k delete deployment bench --wait=false >/dev/null
pod() {
	local name=$1 node=$2
	shift 2
	local args
	args=$(printf '"%s", ' "$@")
	k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $name}
spec:
  runtimeClassName: wasmpod
  restartPolicy: Never
  nodeSelector: {kubernetes.io/hostname: $node}
  containers:
  - {name: c, image: "builtin:nettest", args: [${args%, }]}
YAML
}
ip_of() { k get pod "$1" -o jsonpath='{.status.podIP}'; }
said() { k logs "$1" 2>/dev/null | grep "^$2" | head -1; }
has() { [ -n "$(said "$1" "$2")" ]; }
field() { sed -n "s/.*$2=\([0-9]*\).*/\1/p" <<<"$1"; }
bytes=$((64 << 20))
rounds=5000
for where in "across:wp-2" "within:wp-1"; do
	tag=${where%%:*}
	node=${where#*:}
	pod "sink-$tag" wp-1 rate-sink 9000
	within 60 has "sink-$tag" listening
	pod "send-$tag" "$node" send "$(ip_of "sink-$tag"):9000" "$bytes" 30
	within 120 has "sink-$tag" rate-sink
	line=$(said "sink-$tag" rate-sink)
	echo "pod_to_pod_gbps_$tag $(awk -v b="$(field "$line" bytes)" -v n="$(field "$line" ns)" 'BEGIN {printf "%.2f", b * 8 / n}')"
	pod "pong-$tag" wp-1 pong 9001
	within 60 has "pong-$tag" listening
	pod "ping-$tag" "$node" ping "$(ip_of "pong-$tag"):9001" "$rounds" 30
	within 120 has "ping-$tag" ping
	line=$(said "ping-$tag" ping)
	echo "pod_to_pod_rtt_us_$tag $(awk -v r="$(field "$line" rounds)" -v n="$(field "$line" ns)" 'BEGIN {printf "%.1f", n / r / 1000}')"
done
