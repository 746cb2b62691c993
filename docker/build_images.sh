#!/usr/bin/env bash
# `make images`: build fsrl's images on this machine, from a local Debian base when the
# public registries cannot be reached (the default here; FSRL_BASE=public uses the
# Dockerfiles' own public bases instead).
#
#   docker/build_images.sh            # fsrl-base:bookworm (once), then actor, learner (CPU), edge, e2e redis
#
# What it does, each step skipped when already done:
#   1. installs docker.io and debootstrap with apt-get when missing;
#   2. starts dockerd when `docker info` does not answer (and leaves it running: its pid is
#      written to $FSRL_DOCKERD_PIDFILE for whoever stops it; .ci/run does);
#   3. builds the base with debootstrap (minbase, python3 + venv + pip + CA certificates)
#      and `docker import`s it as fsrl-base:bookworm, once (cached by tag);
#   4. puts the CPU torch wheel in docker/build-inputs/wheelhouse/ and the host's CA
#      bundle ($PIP_CERT) in docker/build-inputs/ca.crt (build-only: see its README);
#   5. builds the images and prints their sizes.
# Fails loudly (non-zero, naming the step) wherever Docker cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_TAG=${FSRL_BASE_TAG:-fsrl-base:bookworm}
VERSION=${FSRL_IMAGE_VERSION:-0.1.0}
TORCH_VERSION=$(sed -n 's/^TORCH_SPEC ?= torch==//p' Makefile)
PIP=${PIP:-pip}
DOCKERD_LOG=${FSRL_DOCKERD_LOG:-/tmp/fsrl-dockerd.log}
DOCKERD_PIDFILE=${FSRL_DOCKERD_PIDFILE:-/tmp/fsrl-dockerd.pid}
t0=$(date +%s)
say() { echo "== images: $* ($(( $(date +%s) - t0 ))s)"; }
die() { echo "== images: FAILED: $*" >&2; exit 1; }

# 1. tools
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    command -v apt-get >/dev/null || die "no apt-get to install ${missing[*]}"
    apt-get update -q || die "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" || die "apt-get install ${missing[*]}"
fi

# 2. the daemon
if ! docker info >/dev/null 2>&1; then
    say "starting dockerd (log $DOCKERD_LOG)"
    dockerd >"$DOCKERD_LOG" 2>&1 &
    echo $! >"$DOCKERD_PIDFILE"
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { tail -20 "$DOCKERD_LOG" >&2; die "dockerd does not answer (see $DOCKERD_LOG)"; }
fi

build_args=()
if [[ ${FSRL_BASE:-local} == local ]]; then
    # 3. the base, once
    if ! docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
        rootfs=$(mktemp -d /tmp/fsrl-rootfs.XXXXXX)
        trap 'rm -rf "$rootfs"' EXIT
        say "debootstrap bookworm -> $BASE_TAG"
        debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
            bookworm "$rootfs" >/tmp/fsrl-debootstrap.log 2>&1 \
            || { tail -20 /tmp/fsrl-debootstrap.log >&2; die "debootstrap (log /tmp/fsrl-debootstrap.log)"; }
        tar -C "$rootfs" -c . | docker import - "$BASE_TAG" >/dev/null || die "docker import $BASE_TAG"
        rm -rf "$rootfs"
    fi
    build_args+=(--build-arg "BASE_IMAGE=$BASE_TAG" --build-arg TORCH_INDEX_URL=)
    learner_args=(--build-arg PYTHON=python3)
    learner_tag=fsrl-learner:$VERSION-cpu
else
    learner_args=()
    learner_tag=fsrl-learner:$VERSION
fi

# 4. build-only inputs
mkdir -p docker/build-inputs/wheelhouse
if ! ls docker/build-inputs/wheelhouse/torch-"$TORCH_VERSION"*.whl >/dev/null 2>&1; then
    say "pip download torch==$TORCH_VERSION (CPU wheel)"
    $PIP download "torch==$TORCH_VERSION" --no-deps -d docker/build-inputs/wheelhouse/ \
        || die "pip download torch==$TORCH_VERSION"
fi
rm -f docker/build-inputs/ca.crt
if [[ -n ${PIP_CERT:-} && -s ${PIP_CERT:-} ]]; then
    cp "$PIP_CERT" docker/build-inputs/ca.crt
fi

# 5. the images
build() {  # tag dockerfile context [args...]
    local tag=$1 file=$2 ctx=$3 s
    shift 3
    s=$(date +%s)
    say "building $tag"
    local log=/tmp/fsrl-build-${tag//[:\/]/_}.log
    docker build "${build_args[@]}" "$@" -f "$file" -t "$tag" "$ctx" >"$log" 2>&1 \
        || { tail -40 "$log" >&2; die "docker build $tag ($file; log $log)"; }
    echo "   $tag built in $(( $(date +%s) - s ))s"
}
build "fsrl-actor:$VERSION" docker/actor.Dockerfile .
build "$learner_tag" docker/learner.Dockerfile . "${learner_args[@]}"
build "fsrl-edge:$VERSION" docker/edge.Dockerfile .
build fsrl-e2e-redis:bookworm docker/e2e/redis.Dockerfile docker/e2e
rm -f docker/build-inputs/ca.crt

# The CA bundle must not be in any final image.
for img in "fsrl-actor:$VERSION" "$learner_tag" "fsrl-edge:$VERSION"; do
    if docker run --rm --entrypoint sh "$img" -c 'test ! -e /build'; then :; else die "$img holds /build"; fi
done
say "done"
docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | grep -E '^fsrl-' | sort
