#!/usr/bin/env bash
# Print a PATH on which none of the tools that the project's bootstrap must install can be found.
#
# CI runs the README's test command with it, so a machine where uv (or airflow, helm, ...) was
# installed by hand cannot hide a missing install step: every PATH directory that holds such a
# tool is replaced by a folder of links to everything else in it.
#   PATH="$(bash scripts/hide-tools.sh)" make test
set -euo pipefail
hide=(uv uvx airflow banditops helm docker-compose mlflow ruff mypy pytest)
farm_root="${HIDE_TOOLS_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/hide-tools.XXXX")}"
path=""; i=0
IFS=: read -ra dirs <<< "${PATH}"
for d in "${dirs[@]}"; do
  [ -n "$d" ] || continue
  has=0
  for t in "${hide[@]}"; do [ -e "$d/$t" ] && has=1; done
  if [ "$has" = 1 ]; then
    i=$((i + 1)); farm="$farm_root/path$i"; mkdir -p "$farm"
    for f in "$d"/*; do
      [ -e "$f" ] || continue
      n=$(basename "$f"); skip=0
      for t in "${hide[@]}"; do [ "$n" = "$t" ] && skip=1; done
      [ "$skip" = 0 ] && ln -sf "$f" "$farm/$n"
    done
    d="$farm"
  fi
  path="$path${path:+:}$d"
done
echo "$path"
