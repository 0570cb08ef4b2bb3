#!/usr/bin/env bash
# A smoke run of a wasmpod binary built for another platform, under its
# emulator: `.ci/smoke.sh WASMPOD [RUNNER...]`, e.g.
#   .ci/smoke.sh target/aarch64-unknown-linux-gnu/release/wasmpod qemu-aarch64-static
# It runs a pod to its end with `run`, then, with `serve` in the
# background, applies the seed's manifests in examples/ from a second process,
# waits for each pod to run, reads logs, execs, forwards a port, deletes,
# and stops the server with Ctrl-C (SIGINT). Each failure says what it
# expected and what it got; the exit code is the number of failures.
set -uo pipefail
# Job control: each background job is a process group that keeps SIGINT (a
# non-interactive shell would start it with SIGINT ignored), so Ctrl-C can
# be sent to the group: the emulator or wasmpod inside the function's
# subshell gets it.
set -m
cd "$(dirname "$0")/.."

bin=$1
shift
runner=("$@")
state=$(mktemp -d)
work=$(mktemp -d)
failures=0
server=

# A build without a compiler runs what `wasmpod compile` made for it:
# $SMOKE_COMPILED_DIR goes into the state directory's cache.
if [ -n "${SMOKE_COMPILED_DIR:-}" ]; then
	mkdir -p "$state/cache"
	cp -r "$SMOKE_COMPILED_DIR" "$state/cache/compiled"
fi

wasmpod() { "${runner[@]}" "$bin" --state-dir "$state" "$@"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; failures=$((failures + 1)); }
ok() { printf 'ok: %s\n' "$*"; }
finish() {
	[ -n "$server" ] && stop_job "$server"
	rm -rf "$state" "$work"
}
trap finish EXIT

# Ctrl-C (SIGINT) to background job $1's process group; sets $stopped to
# its exit code, or "killed" when it had not ended 30 seconds later (then
# SIGKILL).
stop_job() {
	kill -INT -- -"$1" 2>/dev/null
	local deadline=$((SECONDS + 30))
	while kill -0 "$1" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 1; done
	if kill -0 "$1" 2>/dev/null; then
		kill -KILL -- -"$1" 2>/dev/null
		wait "$1" 2>/dev/null
		stopped=killed
	else
		wait "$1" 2>/dev/null
		stopped=$?
	fi
}

# Waits up to $1 seconds for the command after it to succeed.
until_ok() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 1
	done
}

out=$(wasmpod version 2>&1) && ok "version: ${out%%$'\n'*}" || fail "version: $out"

cat >"$work/once.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: once}
spec:
  restartPolicy: Never
  volumes: [{name: shared, emptyDir: {}}]
  initContainers:
  - {name: write, image: busybox, command: ["sh", "-c", "echo from the init container > /data/note"], volumeMounts: [{name: shared, mountPath: /data}]}
  containers:
  - {name: read, image: busybox, args: ["cat", "/data/note"], volumeMounts: [{name: shared, mountPath: /data}]}
EOF
out=$(wasmpod run "$work/once.yaml" 2>&1)
if [ $? -eq 0 ] && grep -q '\[once/read\] from the init container' <<<"$out"; then ok "run: a pod with an init container and a shared volume succeeded"; else fail "run: $out"; fi

# Log rotation: 3,000 lines through 4 KiB files, 2 kept (the current one
# and one rotated), and the last line still read back.
cat >"$work/chatty.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: chatty}
spec:
  restartPolicy: Never
  containers:
  - {name: talk, image: busybox, command: ["sh", "-c", "seq 1 3000"]}
EOF
out=$(wasmpod run --quiet --container-log-max-size 4Ki --container-log-max-files 2 "$work/chatty.yaml" 2>&1)
logs=$(find "$state/pods/default/chatty/logs/talk" -type f | wc -l)
last=$(wasmpod logs chatty --tail 1 2>&1)
if [ "$logs" -eq 2 ] && [ "$last" = 3000 ]; then ok "log rotation: 2 files kept, last line $last"; else fail "log rotation: $logs files, last line '$last': $out"; fi

# Small log files, so a follower below meets rotations (five kept, so a
# follower slowed by a loaded machine, or by wine, still finds the files
# it has not read).
wasmpod serve --container-log-max-size 4Ki --container-log-max-files 5 >"$work/serve.log" 2>&1 &
server=$!

# The seed's manifests, from a second process. Not applied:
# env-from-objects.yaml (its ConfigMaps and Secrets are not served by the
# control API; `run` takes them) and liveness-probe.yaml (fields Kubernetes
# rejects, and the pod name readiness-probe.yaml uses).
applied=0
for f in examples/*.yaml; do
	case $f in examples/env-from-objects.yaml | examples/liveness-probe.yaml) continue ;; esac
	# Exit code 5: the server is not listening yet.
	deadline=$((SECONDS + 120))
	while out=$(wasmpod apply -f "$f" 2>&1); code=$?; [ $code -eq 5 ] && [ $SECONDS -lt $deadline ]; do sleep 1; done
	if [ $code -eq 0 ]; then ok "apply $f"; applied=$((applied + $(grep -c '^kind: Pod' "$f"))); else fail "apply $f ($code): $out"; fi
done

# Every applied pod runs (or ran to its end).
names=$(wasmpod get pods -o name 2>&1)
for pod in $names; do
	pod=${pod#pod/}
	until_ok 180 bash -c "\"\$0\" \"\${@}\" | grep -q -e Running -e Completed" "${runner[@]}" "$bin" --state-dir "$state" get pod "$pod" ||
		fail "pod $pod never ran: $(wasmpod get pod "$pod" 2>&1)"
done
[ "$(wc -w <<<"$names")" -eq $((applied + 2)) ] && ok "every applied pod ran ($applied pods applied, and the two run)" || fail "get pods -o name: $names"

# two-tier.yaml's Service and NetworkPolicy: listed, and the front reaches
# the store through the Service's name.
out=$(wasmpod get svc store 2>&1)
grep -q '^store   ClusterIP   10\.9' <<<"$out" && ok "get svc: $(tail -1 <<<"$out")" || fail "get svc store: $out"
until_ok 120 bash -c "\"\$0\" \"\${@}\" | grep -q 'records in the store'" "${runner[@]}" "$bin" --state-dir "$state" exec web -c refresher -- curl -s http://store/records &&
	ok "a pod reaches another through a Service" || fail "exec web curl http://store/records: $(wasmpod exec web -c refresher -- curl -s http://store/records 2>&1)"

until_ok 60 bash -c "\"\$0\" \"\${@}\" | grep -q ." "${runner[@]}" "$bin" --state-dir "$state" logs custom-command-pod &&
	ok "logs custom-command-pod" || fail "logs custom-command-pod: $(wasmpod logs custom-command-pod 2>&1)"

# logs -f follows the container: a line it prints after we start.
timeout 12 "${runner[@]}" "$bin" --state-dir "$state" logs -f --tail 0 custom-command-pod >"$work/follow.log" 2>&1
[ -s "$work/follow.log" ] && ok "logs -f: $(head -1 "$work/follow.log")" || fail "logs -f printed nothing"

# logs -f follows a log through its rotations: 400 lines of ~100 bytes,
# one every 10 ms, through 4 KiB files, all read in order, and the follow
# ends with the container.
cat >"$work/rotating.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: rotating}
spec:
  restartPolicy: Never
  containers:
  - name: count
    image: busybox
    command: ["sh", "-c", "sleep 4; i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo \"line $i ........................................................................................\"; sleep 0.01; done"]
EOF
out=$(wasmpod apply -f "$work/rotating.yaml" 2>&1) || fail "apply rotating: $out"
until_ok 60 bash -c "\"\$0\" \"\${@}\" | grep -q Running" "${runner[@]}" "$bin" --state-dir "$state" get pod rotating
timeout 180 "${runner[@]}" "$bin" --state-dir "$state" logs -f rotating >"$work/rotating.log" 2>&1
code=$?
lines=$(grep -c '^line [0-9]* \.' "$work/rotating.log")
in_order=$(awk '{ if ($2 != NR) { print "line " NR " is: " $0; exit } }' "$work/rotating.log")
rotated=$(find "$state/pods/default/rotating/logs/count" -type f | wc -l)
if [ $code -eq 0 ] && [ "$lines" -eq 400 ] && [ -z "$in_order" ]; then ok "logs -f through rotations: 400 lines in order ($rotated files kept)"; else
	fail "logs -f through rotations: exit $code, $lines lines; $in_order; last: $(tail -1 "$work/rotating.log")"
fi

# A pod another process runs is refused, not run twice (the claim's lock).
out=$(wasmpod run examples/custom-command.yaml 2>&1)
code=$?
[ $code -ne 0 ] && grep -q custom-command-pod <<<"$out" && ok "a second run of a running pod is refused ($code)" || fail "second run ($code): $out"

out=$(wasmpod exec custom-command-pod -- sh -c 'echo exec in $HOSTNAME' 2>&1)
[ "$out" = "exec in custom-command-pod" ] && ok "exec" || fail "exec: $out"

# port-forward to the sidecar example's web server (port 80).
port=$((20000 + RANDOM % 20000))
wasmpod port-forward sidecar-pod "$port:80" >"$work/forward.log" 2>&1 &
forward=$!
if until_ok 60 curl -sf --max-time 10 "http://127.0.0.1:$port/date.log" -o /dev/null; then ok "port-forward"; else fail "port-forward: $(cat "$work/forward.log")"; fi
stop_job "$forward"

out=$(wasmpod delete pod custom-command-pod 2>&1) && ok "delete" || fail "delete: $out"
wasmpod get pod custom-command-pod >/dev/null 2>&1 && fail "the deleted pod is still listed"

stop_job "$server"
code=$stopped
server=
[ "$code" = 130 ] && ok "serve stopped on SIGINT (130)" || fail "serve ended with $code: $(tail -5 "$work/serve.log")"

printf '%s failure(s)\n' "$failures"
exit "$failures"
