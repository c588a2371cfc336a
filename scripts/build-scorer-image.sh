#!/usr/bin/env bash
# Build the scorer's container image, offline and from nothing a registry holds:
#
#   1. localhost/autolab-base:bookworm: a Debian bookworm rootfs made by mmdebstrap from the Debian
#      mirror and `podman import`ed; skipped when the image exists with the same inputs (label
#      org.autolab.base-inputs, a hash of suite, variant, packages and mirrors; REBUILD_BASE=1 forces it,
#      e.g. for security updates);
#   2. a wheelhouse made by the host's pip (the project's wheel, its dependencies, the selected tasks'
#      runtime requirements; torch only from the machine's local CPU wheel, never from an index);
#   3. `podman build -f scorer/container/Containerfile --network=none` (pip inside: --no-index) as
#      localhost/autolab-scorer:<version> and :latest.
#
#   scripts/build-scorer-image.sh                 # all bundled tasks
#   TASKS=edit_distance scripts/build-scorer-image.sh   # CI: just the demo/test task (no torch)
#
# Environment: TASKS ("all" or names, space/comma separated), VERSION (tag; default
# <pyproject version>-<git short sha>[-dirty]), TAG (the second tag, default latest; tests use their
# own), MIRROR / SECURITY_MIRROR (Debian mirrors),
# TORCH_WHEEL (path of the local torch wheel, else found via pip's find-links and /opt),
# AUTOLAB_SCORER_BUILD_DIR (scratch and wheel cache, default /var/tmp/autolab-scorer-build),
# REBUILD_BASE=1, BASE_ONLY=1 (stop after the base image: `import harbor --backend docker` builds on it). Podman runs on the storage of scripts/podman-service.sh (same config: runc,
# cgroupfs, ulimits that work in a VM), so the Docker-API service sees the images too. Needs root.
#
# Measured 2026-12-03 on a fresh Debian 12 VM (2 cores, cgroup v1, podman 4.3.1; tools installed
# by apt, base image not yet built):
#   base rootfs (mmdebstrap, variant apt)   44 s -> localhost/autolab-base:bookworm (tarball 340 MB)
#   TASKS=edit_distance, from scratch       82 s -> localhost/autolab-scorer, 597 MB
#   rebuild after a source change           30 s (base skipped, wheelhouse from the cache)
#   rebuild, nothing changed                 7 s (layers cached)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${AUTOLAB_SCORER_BUILD_DIR:-/var/tmp/autolab-scorer-build}
TASKS=${TASKS:-all}
TAG=${TAG:-latest}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
BASE_IMAGE=localhost/autolab-base:bookworm
IMAGE=localhost/autolab-scorer
CONTAINERFILE=$ROOT/scorer/container/Containerfile
SUITE=bookworm
VARIANT=apt
# mount: the entrypoint remounts the cgroup tree read-write; tini: pid 1 that reaps orphans.
PACKAGES=(python3 python3-venv bubblewrap util-linux mount tini gcc libc6-dev ca-certificates)
# bump when the way the rootfs is made changes (part of the base image's input hash)
BASE_FORMAT=1
DPKG_OPTS=(path-exclude=/usr/share/man/* path-exclude=/usr/share/doc/* path-exclude=/usr/share/info/*
  path-exclude=/usr/share/locale/* path-include=/usr/share/locale/locale.alias)

T_START=$(date +%s)
# shellcheck source=lib/ensure-commands.sh
source "$ROOT/scripts/lib/ensure-commands.sh"
say() { echo "build-scorer-image: $*" >&2; }
die() { say "error: $*"; exit 1; }
podman() { bash "$ROOT/scripts/podman-service.sh" podman "$@"; }
# step NAME CMD...: run a step, say what it does and how long it took
step() {
  local name=$1 t0
  shift
  t0=$(date +%s)
  say "==> $name"
  "$@"
  say "<== $name ($(($(date +%s) - t0))s)"
}

[[ $(id -u) -eq 0 ]] || die "needs root (rootful podman, mmdebstrap --mode=root)"
[[ -f $CONTAINERFILE ]] || die "missing $CONTAINERFILE"

if [[ -x $ROOT/.venv/bin/pip ]]; then PIP=("$ROOT/.venv/bin/pip"); else PIP=(python3 -m pip); fi
PIP+=(--disable-pip-version-check)

install_tools() { ensure_commands mmdebstrap podman runc || die "cannot install the build tools"; }

base_inputs_hash() {
  printf '%s\n' "format=$BASE_FORMAT" "suite=$SUITE" "variant=$VARIANT" "mirror=$MIRROR" \
    "security=$SECURITY_MIRROR" "packages=${PACKAGES[*]}" "dpkg=${DPKG_OPTS[*]}" | sha256sum | cut -c1-16
}

build_base() {
  local want have tar
  want=$(base_inputs_hash)
  have=$(podman image inspect --format '{{ index .Config.Labels "org.autolab.base-inputs" }}' "$BASE_IMAGE" \
    2>/dev/null || true)
  if [[ $have == "$want" && ${REBUILD_BASE:-0} != 1 ]]; then
    say "$BASE_IMAGE is up to date (inputs $want); skipped"
    return 0
  fi
  say "building $BASE_IMAGE (inputs $want${have:+, image has $have}): ${PACKAGES[*]}"
  mkdir -p "$BUILD_DIR"
  tar=$BUILD_DIR/rootfs-$want.tar
  rm -f "$tar"
  local packages o
  packages=$(IFS=,; echo "${PACKAGES[*]}")
  local opts=(--variant="$VARIANT" --mode=root --format=tar --aptopt='Acquire::Retries "3"' --include="$packages")
  for o in "${DPKG_OPTS[@]}"; do opts+=(--dpkgopt="$o"); done
  mmdebstrap "${opts[@]}" "$SUITE" "$tar" \
    "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $SECURITY_MIRROR $SUITE-security main"
  say "rootfs tarball: $(du -h "$tar" | cut -f1)"
  podman import --quiet \
    --change "LABEL org.autolab.base-inputs=$want" \
    --change "LABEL org.autolab.base-packages=$packages" \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    "$tar" "$BASE_IMAGE" >/dev/null
  rm -f "$tar"
}

# The working tree's project files (tracked and untracked-but-not-ignored: no caches, no .venv),
# with only the selected tasks.
stage_source() {
  local ctx=$BUILD_DIR/context
  rm -rf "$ctx"
  mkdir -p "$ctx/src" "$ctx/wheels"
  (
    cd "$ROOT"
    git ls-files -z -co --exclude-standard -- pyproject.toml README.md autolab_mcp scorer clients tasks |
      while IFS= read -r -d '' f; do [[ -f $f ]] && printf '%s\0' "$f"; done |
      tar --null -T - -cf -
  ) | tar -xf - -C "$ctx/src"
  local t
  if [[ $TASKS != all ]]; then
    for t in "$ctx"/src/tasks/*/; do
      t=$(basename "$t")
      [[ " ${TASK_LIST[*]} " == *" $t "* ]] || rm -rf "$ctx/src/tasks/$t"
    done
  fi
  say "staged $(find "$ctx/src" -type f | wc -l) files; tasks: $(cd "$ctx/src/tasks" && echo */ | tr -d /)"
}

# The requirements of the staged tasks, one a line (task.toml [environment] requirements).
task_requirements() {
  python3 - "$BUILD_DIR/context/src/tasks" <<'EOF'
import sys, tomllib
from pathlib import Path
reqs = set()
for toml in sorted(Path(sys.argv[1]).glob("*/task.toml")):
    reqs.update(r.strip() for r in tomllib.loads(toml.read_text()).get("environment", {}).get("requirements", []))
print("\n".join(sorted(r for r in reqs if r)))
EOF
}

# The local wheel of torch==$1 for this python: $TORCH_WHEEL, else pip's find-links dirs and /opt.
find_torch_wheel() {
  local version=$1 dirs=() d f
  [[ -n ${TORCH_WHEEL:-} ]] && { [[ -f $TORCH_WHEEL ]] || die "TORCH_WHEEL=$TORCH_WHEEL is missing"; echo "$TORCH_WHEEL"; return; }
  while IFS= read -r d; do dirs+=("$d"); done < <("${PIP[@]}" config list 2>/dev/null |
    sed -n "s/^[^=]*find-links='\(.*\)'$/\1/p" | tr ' ' '\n' | sed 's|^file://||')
  dirs+=(/opt/wheels /opt/pypi/files /opt/pypi-more/files)
  for d in "${dirs[@]}"; do
    for f in "$d"/torch-"$version"+cpu-cp311-*.whl "$d"/torch-"$version"-cp311-*.whl; do
      [[ -f $f ]] && { echo "$f"; return; }
    done
  done
  die "no local wheel of torch==$version (looked in ${dirs[*]}); set TORCH_WHEEL=PATH. It is never fetched from \
an index: PyPI's build is multi-GB (CUDA)"
}

build_wheelhouse() {
  local ctx=$BUILD_DIR/context cache=$BUILD_DIR/wheel-cache reqs=() r
  mkdir -p "$cache"
  "${PIP[@]}" wheel -q --no-deps --wheel-dir "$ctx/wheels" "$ctx/src"
  local project
  project=$(ls "$ctx"/wheels/autolab_mcp-*.whl)
  while IFS= read -r r; do
    [[ -n $r ]] || continue
    if [[ $r =~ ^torch([[:space:]]|=|\<|\>|!|~|$) ]]; then
      [[ $r =~ ^torch[[:space:]]*==[[:space:]]*([0-9][0-9A-Za-z.]*)$ ]] ||
        die "a task requires '$r': pin torch exactly (torch==X.Y.Z) so the local wheel can be used"
      r=$(find_torch_wheel "${BASH_REMATCH[1]}")
      say "torch: local wheel $r ($(du -h "$r" | cut -f1))"
    fi
    reqs+=("$r")
  done < <(task_requirements)
  say "requirements: autolab-mcp (its wheel) ${reqs[*]}"
  # offline from the cache when it already holds everything, else from the index (binary wheels only:
  # the image has no build tools for sdists)
  local dl=("${PIP[@]}" download -q --only-binary=:all: --dest "$ctx/wheels" --find-links "$cache" "$project" "${reqs[@]}")
  if "${dl[@]}" --no-index 2>/dev/null; then
    say "wheelhouse complete from the cache ($cache)"
  else
    say "fetching missing wheels from the index"
    "${dl[@]}"
  fi
  for r in "$ctx"/wheels/*.whl; do
    [[ $r == "$project" || -e $cache/$(basename "$r") ]] || cp -l "$r" "$cache/" 2>/dev/null || cp "$r" "$cache/"
  done
  say "wheelhouse: $(ls "$ctx/wheels" | wc -l) wheels, $(du -sh "$ctx/wheels" | cut -f1)"
}

build_image() {
  local wheelhouse
  wheelhouse=$(cd "$BUILD_DIR/context/wheels" && sha256sum -- *.whl | sha256sum | cut -c1-16)
  podman build --network=none --layers --build-arg "WHEELHOUSE=$wheelhouse" \
    --build-arg "BASE=$BASE_IMAGE" --build-arg "TASKS=$TASKS" --build-arg "VERSION=$VERSION" \
    -f "$CONTAINERFILE" -t "$IMAGE:$VERSION" -t "$IMAGE:$TAG" "$BUILD_DIR/context"
}

version() {
  local v sha dirty=
  v=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' \
    "$ROOT/pyproject.toml")
  sha=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo nogit)
  [[ -z $(git -C "$ROOT" status --porcelain 2>/dev/null) ]] || dirty=-dirty
  echo "$v-$sha$dirty"
}

# TASKS -> TASK_LIST (names), validated against tasks/
read -r -a TASK_LIST <<<"${TASKS//,/ }"
if [[ $TASKS == all ]]; then
  TASK_LIST=()
else
  for t in "${TASK_LIST[@]}"; do [[ -f $ROOT/tasks/$t/task.toml ]] || die "no task '$t' in $ROOT/tasks"; done
  TASKS="${TASK_LIST[*]}"
fi
VERSION=${VERSION:-$(version)}
say "image $IMAGE:$VERSION (and :$TAG), tasks: $TASKS, scratch $BUILD_DIR"

step "tools (mmdebstrap, podman, runc)" install_tools
step "base image $BASE_IMAGE" build_base
if [[ ${BASE_ONLY:-0} == 1 ]]; then
  say "done in $(($(date +%s) - T_START))s: $BASE_IMAGE (BASE_ONLY=1: the scorer image was not built)"
  exit 0
fi
step "build context (working tree)" stage_source
step "wheelhouse (host pip)" build_wheelhouse
step "podman build $IMAGE:$VERSION" build_image
size=$(podman image inspect --format '{{.Size}}' "$IMAGE:$VERSION")
say "done in $(($(date +%s) - T_START))s: $IMAGE:$VERSION, $((size / 1000000)) MB"
