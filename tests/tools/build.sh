#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager, etcd and helm from the Go modules pinned in
# this folder, once, into a cache outside the repository, and print the folder that holds them.
#
#   tests/tools/build.sh            -> last line on stdout: /path/to/cache/<key>
#
# Modules (each binary is built with exactly the dependency set its upstream release pins):
#   tests/tools/go.mod       k8s.io/kubernetes (kube-apiserver, kube-controller-manager)
#                            + staging-module replaces
#   tests/tools/etcd/go.mod  go.etcd.io/etcd/server/v3 (etcd)
#   tests/tools/helm/go.mod  helm.sh/helm/v3 (helm)
#
# Cache: ${RELOAD_SAFE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/reload-safe/tools}/<key>,
# where <key> names the three pinned versions plus a short hash of the go.mod/go.sum files
# and of the build recipe, so bumping any version (or any dependency) rebuilds.
# A folder where all four binaries exist and are executable is reused without calling go.
# Concurrent callers serialise on a flock; the second one finds the binaries built.
#
# Environment:
#   RELOAD_SAFE_TOOLS_CACHE   cache root (default above)
#   RELOAD_SAFE_TOOLS_FORCE=1 rebuild even if the binaries exist
#   GOTOOLCHAIN               honoured as usual; the modules need Go >= 1.26.0
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Bump when the build flags or the set of binaries below change, so existing caches are not
# reused (2: kube-controller-manager added).
RECIPE=2

log() { printf '%s\n' "build.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# modver GO_MOD MODULE -> the version that go.mod requires for MODULE (offline, no go call).
modver() {
  awk -v m="$2" '
    $0 ~ /=>/ { next }
    { for (i = 1; i < NF; i++) if ($i == m && $(i + 1) ~ /^v[0-9]/) { print $(i + 1); exit } }
  ' "$1"
}

K8S_VERSION="$(modver "$HERE/go.mod" k8s.io/kubernetes)"
ETCD_VERSION="$(modver "$HERE/etcd/go.mod" go.etcd.io/etcd/server/v3)"
HELM_VERSION="$(modver "$HERE/helm/go.mod" helm.sh/helm/v3)"
[[ -n "$K8S_VERSION" ]] || die "no k8s.io/kubernetes version in $HERE/go.mod"
[[ -n "$ETCD_VERSION" ]] || die "no go.etcd.io/etcd/server/v3 version in $HERE/etcd/go.mod"
[[ -n "$HELM_VERSION" ]] || die "no helm.sh/helm/v3 version in $HERE/helm/go.mod"

HASH="$(
  {
    echo "recipe=$RECIPE"
    for f in go.mod go.sum etcd/go.mod etcd/go.sum helm/go.mod helm/go.sum; do
      echo "== $f"
      cat "$HERE/$f"
    done
  } | sha256sum | cut -c1-10
)"
KEY="k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}-helm-${HELM_VERSION}-${HASH}"
CACHE_ROOT="${RELOAD_SAFE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/reload-safe/tools}"
DIR="$CACHE_ROOT/$KEY"
BINARIES=(kube-apiserver kube-controller-manager etcd helm)

all_built() {
  local b
  for b in "${BINARIES[@]}"; do
    [[ -f "$DIR/$b" && -x "$DIR/$b" ]] || return 1
  done
}

if [[ "${RELOAD_SAFE_TOOLS_FORCE:-0}" != 1 ]] && all_built; then
  echo "$DIR"
  exit 0
fi

mkdir -p "$DIR"
exec 9>"$CACHE_ROOT/.$KEY.lock"
if ! flock -n 9; then
  log "another build of $KEY is running; waiting for its lock…"
  flock 9
fi
# The lock holder before us may have finished the job.
if [[ "${RELOAD_SAFE_TOOLS_FORCE:-0}" != 1 ]] && all_built; then
  echo "$DIR"
  exit 0
fi

command -v go >/dev/null || die "go not found on PATH (Go >= 1.26 is needed)"
GO_MINOR="$(go env GOVERSION | sed -nE 's/^go1\.([0-9]+).*/\1/p')"
if [[ -z "$GO_MINOR" || "$GO_MINOR" -lt 26 ]]; then
  die "$(go env GOVERSION) is too old; Go >= 1.26.0 is needed (try GOTOOLCHAIN=go1.26.8 $0)"
fi

export CGO_ENABLED=0
# go.sum files are committed: never let a build edit them.
export GOFLAGS="-mod=readonly -buildvcs=false"
GO_BUILD=(go build -p 2 -trimpath)

# module_time DIR MODULE -> the module version's commit time, used as buildDate so that
# builds are reproducible (needs the module downloaded; go build downloads it anyway).
module_time() {
  (cd "$1" && go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' "$2") 2>/dev/null \
    || echo "1970-01-01T00:00:00Z"
}

PARTIAL="$DIR/.partial.$$"
mkdir -p "$PARTIAL"
trap 'rm -rf "$PARTIAL"' EXIT

START_ALL=$SECONDS

build_one() { # name minutes-hint module-dir package ldflags tags
  local name="$1" hint="$2" moddir="$3" pkg="$4" ldflags="$5" tags="$6" start=$SECONDS
  if [[ "${RELOAD_SAFE_TOOLS_FORCE:-0}" != 1 && -x "$DIR/$name" ]]; then
    log "$name already built in $DIR"
    return 0
  fi
  log "building $name (first run only, ~$hint min on 2 cores)…"
  (cd "$moddir" && "${GO_BUILD[@]}" -tags "$tags" -ldflags "$ldflags" -o "$PARTIAL/$name" "$pkg") >&2 \
    || die "go build of $name failed"
  mv -f "$PARTIAL/$name" "$DIR/$name"
  log "built $name in $((SECONDS - start))s"
}

# kube-apiserver: the flags of hack/lib/golang.sh + hack/lib/version.sh for a release build.
(cd "$HERE" && go mod download k8s.io/kubernetes >&2)
K8S_DATE="$(module_time "$HERE" k8s.io/kubernetes)"
K8S_MAJOR="$(sed -nE 's/^v([0-9]+)\..*/\1/p' <<<"$K8S_VERSION")"
K8S_MINOR="$(sed -nE 's/^v[0-9]+\.([0-9]+)\..*/\1/p' <<<"$K8S_VERSION")"
K8S_LDFLAGS="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  K8S_LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION"
  K8S_LDFLAGS+=" -X $pkg.gitMajor=$K8S_MAJOR -X $pkg.gitMinor=$K8S_MINOR"
  K8S_LDFLAGS+=" -X $pkg.gitTreeState=archive -X $pkg.buildDate=$K8S_DATE"
done
build_one kube-apiserver 4 "$HERE" k8s.io/kubernetes/cmd/kube-apiserver "$K8S_LDFLAGS" "selinux,notest,grpcnotrace"
# kube-controller-manager: same module, flags and tags (it shares most packages with
# kube-apiserver, so after it the Go build cache leaves mostly the link).
build_one kube-controller-manager 3 "$HERE" k8s.io/kubernetes/cmd/kube-controller-manager "$K8S_LDFLAGS" "selinux,notest,grpcnotrace"

# etcd: its version string is a constant of go.etcd.io/etcd/api/v3/version; only GitSHA is
# set at link time upstream, and a module build has no commit to give it.
build_one etcd 1 "$HERE/etcd" go.etcd.io/etcd/server/v3 \
  "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=go-module-$ETCD_VERSION" ""

# helm: the flags of helm's Makefile (version, and the Kubernetes version that
# .Capabilities.KubeVersion defaults to, taken from the client-go it is built with).
CLIENT_GO="$(modver "$HERE/helm/go.mod" k8s.io/client-go)"
HELM_K8S_MAJOR=$(( $(sed -nE 's/^v([0-9]+)\..*/\1/p' <<<"$CLIENT_GO") + 1 ))
HELM_K8S_MINOR="$(sed -nE 's/^v[0-9]+\.([0-9]+)\..*/\1/p' <<<"$CLIENT_GO")"
HELM_LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
HELM_LDFLAGS+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  HELM_LDFLAGS+=" -X $pkg.k8sVersionMajor=$HELM_K8S_MAJOR -X $pkg.k8sVersionMinor=$HELM_K8S_MINOR"
done
build_one helm 1 "$HERE/helm" helm.sh/helm/v3/cmd/helm "$HELM_LDFLAGS" ""

all_built || die "binaries missing in $DIR after the build"
log "tools ready in $DIR ($((SECONDS - START_ALL))s)"
echo "$DIR"
