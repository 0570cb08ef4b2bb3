#!/usr/bin/env bash
# macOS: links wasmpod for aarch64-apple-darwin and x86_64-apple-darwin
# with zig as the linker (cargo-zigbuild, and zig from PyPI's `ziglang`,
# which ships the macOS SDK's library stubs), and checks each executable
# (.ci/macho.py): its CPU, the oldest macOS it asks for, and that it loads
# only libraries and frameworks every Mac has. No Mac runs it here: what is verified is
# that the macOS code paths compile and link, not how they behave.
set -euo pipefail
cd "$(dirname "$0")/.."

. .ci/cross-lib.sh
# The tools, in a virtual environment outside the clone.
tools=${WASMPOD_TOOLS_DIR:-$HOME/.cache/wasmpod/tools}
if [ ! -x "$tools/bin/cargo-zigbuild" ] || [ ! -x "$tools/bin/python-zig" ]; then
	python3 -m venv "$tools"
	"$tools/bin/pip" install -q "ziglang==0.17.1" "cargo-zigbuild==0.24.1"
fi
export PATH=$tools/bin:$PATH
# What the binaries ask of macOS (without it zig records its own SDK's, 15).
export MACOSX_DEPLOYMENT_TARGET=11.0
# zig ships libSystem's stubs but no frameworks. The registry client's TLS
# verifies with the system's roots through Security.framework (and
# CoreFoundation): .ci/macos-sdk holds link-time stubs of the symbols used,
# in Apple's .tbd format; on a Mac the real frameworks are loaded. A new
# dependency needing more symbols fails the link with "undefined symbol":
# add them there.
export SDKROOT=$PWD/.ci/macos-sdk

failures=0
for arch in aarch64 x86_64; do
	triple=$arch-apple-darwin
	rustup target add "$triple"
	rm -rf "$target_dir/$triple/debug/incremental"
	CARGO_TARGET_DIR=$target_dir cargo zigbuild --target "$triple"
	bin=$target_dir/$triple/debug/wasmpod
	python3 .ci/macho.py "$bin" "$([ $arch = aarch64 ] && echo arm64 || echo x86_64)" "$MACOSX_DEPLOYMENT_TARGET" || failures=$((failures + 1))
done
printf '%s failure(s) on macOS\n' "$failures"
exit "$failures"
