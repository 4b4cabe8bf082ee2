#!/usr/bin/env bash
# Build the benchmark's load generator, vegeta, from the Go module pinned in
# tests/tools/vegeta, once, into the same cache root as the control-plane tools
# (tests/tools/build.sh), and print the folder that holds it.
#
#   bench/build-loadgen.sh            -> last line on stdout: /path/to/cache/<key>
#
# A separate script (not a fourth binary in build.sh) so that pinning or bumping vegeta never
# changes the control plane's cache key, which would rebuild kube-apiserver for nothing.
#
# Cache: ${RELOAD_SAFE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/reload-safe/tools}/<key>,
# <key> = vegeta-<version>-<hash of go.mod, go.sum and this recipe>. An executable `vegeta`
# there is reused without calling go; concurrent callers serialise on a flock.
#
# Environment:
#   RELOAD_SAFE_TOOLS_CACHE     cache root (default above)
#   RELOAD_SAFE_TOOLS_FORCE=1   rebuild even if the binary exists
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/tools/vegeta"
RECIPE=1
MODULE=github.com/tsenart/vegeta/v12

log() { printf '%s\n' "build-loadgen.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

VERSION="$(awk -v m="$MODULE" '{ for (i = 1; i < NF; i++) if ($i == m && $(i + 1) ~ /^v[0-9]/) { print $(i + 1); exit } }' "$HERE/go.mod")"
[[ -n "$VERSION" ]] || die "no $MODULE version in $HERE/go.mod"
HASH="$({ echo "recipe=$RECIPE"; cat "$HERE/go.mod" "$HERE/go.sum"; } | sha256sum | cut -c1-10)"
KEY="vegeta-${VERSION}-${HASH}"
CACHE_ROOT="${RELOAD_SAFE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/reload-safe/tools}"
DIR="$CACHE_ROOT/$KEY"

built() { [[ -f "$DIR/vegeta" && -x "$DIR/vegeta" ]]; }

if [[ "${RELOAD_SAFE_TOOLS_FORCE:-0}" != 1 ]] && built; then
  echo "$DIR"
  exit 0
fi

mkdir -p "$DIR"
exec 9>"$CACHE_ROOT/.$KEY.lock"
if ! flock -n 9; then
  log "another build of $KEY is running; waiting for its lock…"
  flock 9
fi
if [[ "${RELOAD_SAFE_TOOLS_FORCE:-0}" != 1 ]] && built; then
  echo "$DIR"
  exit 0
fi

command -v go >/dev/null || die "go not found on PATH (Go >= 1.26 is needed)"
export CGO_ENABLED=0
export GOFLAGS="-mod=readonly -buildvcs=false"
PARTIAL="$DIR/.partial.$$"
trap 'rm -f "$PARTIAL"' EXIT
start=$SECONDS
log "building vegeta $VERSION (first run only, ~10 s with the modules downloaded)…"
(cd "$HERE" && go build -p 2 -trimpath -ldflags "-s -w -X main.Version=$VERSION" -o "$PARTIAL" "$MODULE") >&2 \
  || die "go build of vegeta failed"
mv -f "$PARTIAL" "$DIR/vegeta"
log "built vegeta in $((SECONDS - start))s"
echo "$DIR"
