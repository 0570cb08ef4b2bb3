#!/usr/bin/env bash
# Windows: builds wasmpod.exe for x86_64-pc-windows-gnu with Debian's mingw
# and runs the smoke suite (.ci/smoke.sh) under Debian's wine (8.0). The
# cross build's target directory lives outside the clone
# ($WASMPOD_CROSS_TARGET_DIR, default ~/.cache/wasmpod/cross-target), so
# later runs rebuild only what changed.
#
# Wine 8.0 lacks bcryptprimitives.dll, which Rust's standard library loads
# for random bytes; .ci/windows/bcryptprimitives.c is a stand-in, built here
# with mingw and put beside the exe (a wine limit, not a Windows one).
set -euo pipefail
cd "$(dirname "$0")/.."

. .ci/cross-lib.sh
need_packages x86_64-w64-mingw32-gcc gcc-mingw-w64-x86-64 -- wine wine wine64 -- curl curl
cross_build x86_64-pc-windows-gnu x86_64-w64-mingw32-gcc
exe_dir=$target_dir/x86_64-pc-windows-gnu/debug
x86_64-w64-mingw32-gcc -shared -O2 -o "$exe_dir/bcryptprimitives.dll" .ci/windows/bcryptprimitives.c -ladvapi32

# A wine prefix of its own, outside the clone (created on first use).
export WINEPREFIX=${WASMPOD_WINEPREFIX:-$HOME/.cache/wasmpod/wine}
export WINEDEBUG=${WINEDEBUG:--all}
export WINEDLLOVERRIDES="bcryptprimitives=n"
# Wine keeps a byte per 4 KiB page of every reservation: the default pool
# (64 TiB of address space for 16,000 slots on Windows) costs 16 GiB of
# memory there and a minute to start. A pool of 256 slots (1 TiB) keeps
# the pooling allocator in the test at 256 MiB of bookkeeping.
export WASMPOD_INSTANCE_ALLOCATION=${WASMPOD_INSTANCE_ALLOCATION:-pool=256}
mkdir -p "$WINEPREFIX"
# One wineserver for the whole run, started here with no terminal or pipe
# open: a wineserver that the first `wine` in a $(...) or a pipeline
# started would hold that pipe open after the command ended, and the shell
# would wait for it forever.
wineserver -k 2>/dev/null || true
wineserver -p </dev/null >/dev/null 2>&1
trap 'wineserver -k 2>/dev/null || true' EXIT
wine wineboot --init </dev/null >/dev/null 2>&1 || true
.ci/smoke.sh "$exe_dir/wasmpod.exe" wine
