#!/usr/bin/env bash
# Copy the CustomResourceDefinitions the tests install out of the Go modules pinned in
# tests/tools/crds/go.mod (fetched through the Go module proxy, checked against go.sum) into a
# cache outside the repository, and print that folder last on stdout.
#
#   tests/tools/crds.sh   -> /path/to/cache/crds-<hash>/{argo-rollouts,openreports,wgpolicyk8s}/*.yaml
#
# argo-rollouts  manifests/crds/rollout-crd.yaml           (argoproj.io Rollout)
# openreports    config/crd/openreports.io_*.yaml           (openreports.io Report, ClusterReport)
# wgpolicyk8s    kyverno config/crds/policyreport/*.yaml    (wgpolicyk8s.io PolicyReport, ClusterPolicyReport)
#
# Nothing is compiled. Cache root as for build.sh; RELOAD_SAFE_TOOLS_FORCE=1 copies again.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/crds"
log() { printf '%s\n' "crds.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

HASH="$({ cat "$HERE/go.mod" "$HERE/go.sum"; sed -n '/^copy()/,$p' "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-10)"
CACHE_ROOT="${RELOAD_SAFE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/reload-safe/tools}"
DIR="$CACHE_ROOT/crds-$HASH"

if [[ "${RELOAD_SAFE_TOOLS_FORCE:-0}" != 1 && -f "$DIR/.complete" ]]; then
  echo "$DIR"
  exit 0
fi
command -v go >/dev/null || die "go not found on PATH"
export GOFLAGS="-mod=readonly"

# moddir MODULE -> the module's folder in the Go module cache (downloaded and verified first).
moddir() {
  local dir
  dir="$(cd "$HERE" && go mod download -json "$1" | sed -nE 's/^[[:space:]]*"Dir": "(.*)",?$/\1/p')"
  [[ -n "$dir" && -d "$dir" ]] || die "could not download $1 (see the go error above)"
  echo "$dir"
}

copy() { # dest-subfolder source-files...
  local dest="$PARTIAL/$1"; shift
  mkdir -p "$dest"
  cp "$@" "$dest/"
}

mkdir -p "$CACHE_ROOT"
PARTIAL="$(mktemp -d "$CACHE_ROOT/.crds-partial.XXXXXX")"
trap 'rm -rf "$PARTIAL"' EXIT
ROLLOUTS="$(moddir github.com/argoproj/argo-rollouts)"
REPORTS="$(moddir github.com/openreports/reports-api)"
KYVERNO="$(moddir github.com/kyverno/kyverno)"
copy argo-rollouts "$ROLLOUTS/manifests/crds/rollout-crd.yaml"
copy openreports "$REPORTS"/config/crd/openreports.io_*.yaml
copy wgpolicyk8s "$KYVERNO"/config/crds/policyreport/wgpolicyk8s.io_*.yaml
chmod -R u+w "$PARTIAL"
touch "$PARTIAL/.complete"
rm -rf "$DIR"
mv "$PARTIAL" "$DIR"
trap - EXIT
log "CRDs ready in $DIR"
echo "$DIR"
