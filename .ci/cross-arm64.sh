#!/usr/bin/env bash
# 64-bit ARM Linux: builds wasmpod for aarch64-unknown-linux-gnu with
# Debian's cross gcc and runs the smoke suite (.ci/smoke.sh) under
# qemu-user. The cross build's target directory lives outside the clone
# ($WASMPOD_CROSS_TARGET_DIR, default ~/.cache/wasmpod/cross-target), so
# later runs rebuild only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
	sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi
rustup target add aarch64-unknown-linux-gnu

target_dir=${WASMPOD_CROSS_TARGET_DIR:-$HOME/.cache/wasmpod/cross-target}
# The dev profile (dependencies optimised, as Cargo.toml sets it).
CARGO_TARGET_DIR=$target_dir \
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
	CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
	cargo build --target aarch64-unknown-linux-gnu
QEMU_LD_PREFIX=/usr/aarch64-linux-gnu .ci/smoke.sh "$target_dir/aarch64-unknown-linux-gnu/debug/wasmpod" qemu-aarch64-static
