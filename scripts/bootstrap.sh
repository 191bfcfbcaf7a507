#!/usr/bin/env bash
# Create or update the project's virtual environment from the lock file, installing uv if missing.
set -euo pipefail
venv="${1:-.venv}"
if ! command -v uv >/dev/null 2>&1; then
  if [ ! -x .cache/uv-bin/uv ]; then
    echo "bootstrap: installing uv (from PyPI) into .cache/uv-bin"
    python3 -m venv .cache/uv-venv
    .cache/uv-venv/bin/pip install --quiet --disable-pip-version-check uv
    mkdir -p .cache/uv-bin && ln -sf "$PWD/.cache/uv-venv/bin/uv" .cache/uv-bin/uv
  fi
  export PATH="$PWD/.cache/uv-bin:$PATH"
fi
export UV_PROJECT_ENVIRONMENT="$venv"
# Trust the system's CA store too (machines behind a TLS-inspecting proxy); older uv reads NATIVE_TLS.
export UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}" UV_NATIVE_TLS="${UV_NATIVE_TLS:-1}"
echo "bootstrap: syncing $venv from uv.lock"
uv sync --all-extras --frozen --quiet
