#!/usr/bin/env bash
# 64-bit ARM Linux: builds wasmpod for aarch64-unknown-linux-gnu with
# Debian's cross gcc and runs the smoke suite (.ci/smoke.sh) under
# qemu-user. The cross build's target directory lives outside the clone
# ($WASMPOD_CROSS_TARGET_DIR, default ~/.cache/wasmpod/cross-target), so
# later runs rebuild only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

. .ci/cross-lib.sh
need_packages qemu-aarch64-static qemu-user-static -- aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu libc6-dev-arm64-cross -- curl curl
cross_build aarch64-unknown-linux-gnu aarch64-linux-gnu-gcc
QEMU_LD_PREFIX=/usr/aarch64-linux-gnu .ci/smoke.sh "$target_dir/aarch64-unknown-linux-gnu/debug/wasmpod" qemu-aarch64-static
