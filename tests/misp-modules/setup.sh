#!/usr/bin/env bash
# Installs the misp-modules enrichment server that the integration tests
# run into a virtual environment under target/ (git-ignored), with the
# versions of constraints.txt. Does nothing when that environment is
# already there. Prints one line on success: the version and the path.
set -euo pipefail

version=3.1.1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=$(cd "$here/../.." && pwd)/target/misp-modules-venv
constraints=$here/constraints.txt

# The environment is current when it runs the pinned misp-modules and was
# built from the constraints as they are now.
installed() {
    [ -x "$venv/bin/misp-modules" ] &&
        cmp -s "$constraints" "$venv/constraints.txt" &&
        [ "$("$venv/bin/python" -c \
            'import importlib.metadata as m; print(m.version("misp-modules"))' \
            2>/dev/null)" = "$version" ]
}

# Debian ships ensurepip, which venv needs to bring pip, in python3-venv.
ensure_venv_support() {
    if python3 -c 'import ensurepip, venv' 2>/dev/null; then
        return
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup.sh: python3 cannot create virtual environments;" \
            "install python3-venv as root (apt-get install python3-venv)" >&2
        exit 1
    fi
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
}

if ! installed; then
    ensure_venv_support
    # A half-made or outdated environment is built again from scratch.
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --constraint "$constraints" "misp-modules==$version"
    cp "$constraints" "$venv/constraints.txt"
    if ! installed; then
        echo "setup.sh: misp-modules $version did not install in $venv" >&2
        exit 1
    fi
fi
echo "misp-modules $version in $venv"
