#!/usr/bin/env bash
# Small devices: a build of wasmpod without a compiler for 32-bit ARM
# (armv7-unknown-linux-gnueabihf, Raspberry Pi class), where wasmtime runs
# guests in Pulley, its interpreter. It is built with Debian's cross gcc;
# this machine's own build compiles the toolbox for it (`wasmpod compile
# --target`), and the smoke suite (.ci/smoke.sh) runs the armv7 build under
# qemu-user with that code in its cache. First it checks that the small
# build refuses an image nobody compiled for it, with the message that
# says how to compile it.
#
# The cross build's target directory lives outside the clone
# ($WASMPOD_CROSS_TARGET_DIR, default ~/.cache/wasmpod/cross-target).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v qemu-arm-static >/dev/null || need+=(qemu-user-static)
command -v arm-linux-gnueabihf-gcc >/dev/null || need+=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
	sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi
rustup target add armv7-unknown-linux-gnueabihf

triple=armv7-unknown-linux-gnueabihf
target_dir=${WASMPOD_CROSS_TARGET_DIR:-$HOME/.cache/wasmpod/cross-target}
# The dev profile (dependencies optimised, as Cargo.toml sets it), without
# the compiler.
CARGO_TARGET_DIR=$target_dir \
	CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc \
	CC_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-gcc \
	cargo build --target $triple --no-default-features --features cli
small=$target_dir/$triple/debug/wasmpod
export QEMU_LD_PREFIX=/usr/arm-linux-gnueabihf

# This machine's full build (README's test command built it).
cargo build --bin wasmpod
host=target/debug/wasmpod

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

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
out=$(qemu-arm-static "$small" --state-dir "$work/empty" run "$work/pod.yaml" 2>&1)
code=$?
if [ $code -ne 0 ] && grep -q "has no precompiled code for this wasmpod (built without a compiler; code for pulley32)" <<<"$out" &&
	grep -q "wasmpod compile --target $triple busybox" <<<"$out"; then
	echo "ok: an uncompiled image is refused ($code)"
else
	echo "FAIL: an uncompiled image: exit $code: $out" >&2
	failures=$((failures + 1))
fi

# Compiled here, the same pod runs there.
"$host" compile --target $triple -o "$work/compiled" busybox
mkdir -p "$work/state/cache"
cp -r "$work/compiled" "$work/state/cache/compiled"
out=$(qemu-arm-static "$small" --state-dir "$work/state" run "$work/pod.yaml" 2>&1)
if grep -q '\[hello/hello\] hello from pulley' <<<"$out"; then echo "ok: a precompiled image runs"; else
	echo "FAIL: a precompiled image: $out" >&2
	failures=$((failures + 1))
fi

SMOKE_COMPILED_DIR=$work/compiled .ci/smoke.sh "$small" qemu-arm-static || failures=$((failures + $?))
printf '%s failure(s) on %s\n' "$failures" "$triple"
exit "$failures"
