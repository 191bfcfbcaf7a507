#!/usr/bin/env bash
# Create or update the project's virtual environment from the lock file, installing uv if missing.
#
# Every tool the project installs for itself lives in .cache/bin (uv here; helm and docker-compose
# from scripts/get-*.sh). The Makefile puts .cache/bin and the venv's bin on the PATH of everything
# it runs: that is the one mechanism by which scripts find these tools.
set -euo pipefail
venv="${1:-.venv}"
tools="$PWD/.cache/bin"
export PATH="$tools:$PATH"
if ! command -v uv >/dev/null 2>&1; then
  echo "bootstrap: installing uv (from PyPI) into .cache/bin"
  python3 -m venv .cache/uv-venv
  .cache/uv-venv/bin/pip install --quiet --disable-pip-version-check uv
  mkdir -p "$tools" && ln -sf "$PWD/.cache/uv-venv/bin/uv" "$tools/uv"
fi
export UV_PROJECT_ENVIRONMENT="$venv"
# Trust the system's CA store too (machines behind a TLS-inspecting proxy); older uv reads NATIVE_TLS.
export UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}" UV_NATIVE_TLS="${UV_NATIVE_TLS:-1}"
echo "bootstrap: syncing $venv from uv.lock"
uv sync --all-extras --frozen --quiet
