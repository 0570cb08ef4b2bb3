#!/usr/bin/env bash
# Prints the path of Debian's docker-registry (distribution 2.8), which the
# registry tests (tests/all/registry.rs) start on a loopback port. When it
# is not installed, the package is fetched with `apt-get download` and
# unpacked into ~/.cache/wasmpod/docker-registry (nothing is installed, no
# service is started); a machine whose package lists are empty needs root
# for the `apt-get update` that comes first.
set -euo pipefail
if command -v docker-registry >/dev/null; then command -v docker-registry; exit 0; fi
dir=${WASMPOD_REGISTRY_CACHE:-$HOME/.cache/wasmpod/docker-registry}
bin=$dir/usr/bin/docker-registry
if [ ! -x "$bin" ]; then
	mkdir -p "$dir"
	cd "$dir"
	if ! apt-get download docker-registry >/dev/null 2>&1; then
		sudo=()
		[ "$(id -u)" -eq 0 ] || sudo=(sudo)
		"${sudo[@]}" apt-get update -qq >&2
		apt-get download docker-registry >&2
	fi
	dpkg-deb -x docker-registry_*.deb .
	rm -f docker-registry_*.deb
fi
echo "$bin"
