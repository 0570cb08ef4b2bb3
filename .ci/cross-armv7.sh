#!/usr/bin/env bash
# Small devices: a build of wasmpod without a compiler for 32-bit ARM
# (armv7-unknown-linux-gnueabihf, Raspberry Pi class), where wasmtime runs
# guests in Pulley, its interpreter. It is built with Debian's cross gcc;
# this machine's own build compiles the toolbox for it (`wasmpod compile
# --target`), and the smoke suite (.ci/smoke.sh) runs the armv7 build under
# qemu-user with that code in its cache. First it checks that the small
# build refuses an image nobody compiled for it, with the message that
# says how to compile it.
set -euo pipefail
cd "$(dirname "$0")/.."

. .ci/cross-lib.sh
triple=armv7-unknown-linux-gnueabihf
need_packages qemu-arm-static qemu-user-static -- arm-linux-gnueabihf-gcc gcc-arm-linux-gnueabihf libc6-dev-armhf-cross -- curl curl
cross_build $triple arm-linux-gnueabihf-gcc --no-default-features --features cli
small=$target_dir/$triple/debug/wasmpod
export QEMU_LD_PREFIX=/usr/arm-linux-gnueabihf

# This machine's full build: README's test command built it (building it
# again here would recompile the dependencies whose features the tests
# widen, a second copy on disk).
[ -x target/debug/wasmpod ] || cargo build --bin wasmpod
host=target/debug/wasmpod

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { printf 'FAIL: %s\n' "$*" >&2; failures=$((failures + 1)); }

# What the small build says about itself.
version=$(qemu-arm-static "$small" version)
if grep -q "target: $triple" <<<"$version" && grep -q "compiler: none" <<<"$version"; then echo "ok: version: $(tr '\n' ' ' <<<"$version")"; else fail "version: $version"; fi

# An image nobody compiled for the small build is refused, naming the fix.
cat >"$work/pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: hello}
spec:
  restartPolicy: Never
  containers:
  - {name: hello, image: busybox, args: ["echo", "hello from pulley"]}
YAML
code=0
out=$(qemu-arm-static "$small" --state-dir "$work/empty" run "$work/pod.yaml" 2>&1) || code=$?
if [ $code -ne 0 ] && grep -q "has no precompiled code for this wasmpod (built without a compiler; code for pulley32)" <<<"$out" &&
	grep -q "wasmpod compile --target $triple busybox" <<<"$out"; then
	echo "ok: an uncompiled image is refused (exit $code)"
else
	fail "an uncompiled image: exit $code: $out"
fi

# Compiled here, the same pod runs there.
# busybox for the pod above, and every image the seed's manifests name.
files=()
for f in examples/*.yaml; do files+=(-f "$f"); done
"$host" compile --target $triple -o "$work/compiled" busybox "${files[@]}"
mkdir -p "$work/state/cache"
cp -r "$work/compiled" "$work/state/cache/compiled"
code=0
out=$(qemu-arm-static "$small" --state-dir "$work/state" run "$work/pod.yaml" 2>&1) || code=$?
if [ $code -eq 0 ] && grep -q '\[hello/hello\] hello from pulley' <<<"$out"; then echo "ok: a precompiled image runs"; else
	fail "a precompiled image: exit $code: $out"
fi

SMOKE_COMPILED_DIR=$work/compiled .ci/smoke.sh "$small" qemu-arm-static || failures=$((failures + $?))
printf '%s failure(s) on %s\n' "$failures" "$triple"
exit "$failures"
