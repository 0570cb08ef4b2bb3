# Shared by the cross-platform scripts (sourced): packages and the Rust
# target a cross build needs, and the cross build itself.

# `need_packages CMD PACKAGE... [-- CMD PACKAGE... ]`: installs each group's
# Debian packages when its command is missing.
need_packages() {
	local need=() cmd
	while [ $# -gt 0 ]; do
		cmd=$1
		shift
		local group=()
		while [ $# -gt 0 ] && [ "$1" != -- ]; do group+=("$1"); shift; done
		[ $# -gt 0 ] && shift
		command -v "$cmd" >/dev/null || need+=("${group[@]}")
	done
	if [ ${#need[@]} -gt 0 ]; then
		local sudo=()
		[ "$(id -u)" -eq 0 ] || sudo=(sudo)
		"${sudo[@]}" apt-get update -qq
		DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
	fi
}

# `cross_build TRIPLE LINKER [CARGO ARGS...]`: the dev profile (dependencies
# optimised, as Cargo.toml sets it) for TRIPLE, linked by LINKER, into
# $target_dir, outside the clone ($WASMPOD_CROSS_TARGET_DIR, default
# ~/.cache/wasmpod/cross-target), so later runs rebuild only what changed.
target_dir=${WASMPOD_CROSS_TARGET_DIR:-$HOME/.cache/wasmpod/cross-target}
cross_build() {
	local triple=$1 linker=$2
	shift 2
	rustup target add "$triple"
	# Incremental caches (left by earlier runs) are gigabytes each and
	# unused: .ci/run builds with CARGO_INCREMENTAL=0.
	rm -rf "$target_dir/$triple/debug/incremental"
	local upper
	upper=$(tr 'a-z-' 'A-Z_' <<<"$triple")
	env CARGO_TARGET_DIR="$target_dir" "CARGO_TARGET_${upper}_LINKER=$linker" "CC_${triple//-/_}=$linker" \
		cargo build --target "$triple" "$@"
}
