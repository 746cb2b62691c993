# syntax=docker/dockerfile:1
# fsrl learner image: a Ray node with fsrl installed that runs the driver and the learner.
# By default a GPU node (CUDA base, torch with CUDA): the learner worker group on
# Kubernetes and the learner service of docker/compose.yaml, where the learner task lands
# because it asks Ray for num_gpus=1. `make images` builds its CPU variant (the Ray head +
# learner host of `make e2e` and CI) from a local Debian base and the CPU torch wheel.
#
# Build from the repository root (the context is filtered by /.dockerignore):
#   docker build -f docker/learner.Dockerfile -t fsrl-learner:0.1.0 .
#   (TORCH_INDEX_URL picks the PyTorch wheel index, e.g. .../whl/cu126 for older drivers)
# CPU variant (what docker/build_images.sh runs):
#   docker build --build-arg BASE_IMAGE=fsrl-base:bookworm --build-arg PYTHON=python3 \
#     --build-arg TORCH_INDEX_URL= -f docker/learner.Dockerfile -t fsrl-learner:0.1.0-cpu .
#
# The default base is pinned by tag. When bumping it, record its digest next to it, e.g.
#   docker buildx imagetools inspect nvidia/cuda:12.8.1-base-ubuntu24.04
# and pin it as nvidia/cuda:12.8.1-base-ubuntu24.04@sha256:<digest>.
#
# Dependencies come from pyproject.toml only (`pip install .`), plus two build-argument
# pins: torch (the CUDA wheel, which also brings cuDNN/cuBLAS as pip packages, hence the
# small CUDA "base" image; or the CPU wheel from docker/build-inputs/wheelhouse/) and ray
# (the same RAY_VERSION as docker/actor.Dockerfile: Ray needs one Ray version and one
# Python minor version, python3.12 here by default, on every node). Build-only inputs in
# docker/build-inputs/ (wheelhouse, CA bundle) never reach the runtime stage.

ARG BASE_IMAGE=nvidia/cuda:12.8.1-base-ubuntu24.04
FROM ${BASE_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ARG RAY_VERSION=2.60.0
ARG PYTHON=python3.12
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN if ! command -v "${PYTHON}" >/dev/null || ! "${PYTHON}" -c "import ensurepip" 2>/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends "${PYTHON}" "${PYTHON}-venv" \
        && rm -rf /var/lib/apt/lists/*; \
    fi
RUN "${PYTHON}" -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY docker/build-inputs/ /build/
# torch pinned by its build argument; hadolint reads the optional index flag as a package.
# hadolint ignore=DL3013
RUN if [ -s /build/ca.crt ]; then export PIP_CERT=/build/ca.crt; fi \
    && pip install --find-links /build/wheelhouse ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} "torch==${TORCH_VERSION}"
# Ray before the sources, so a source change rebuilds only the last layer.
RUN if [ -s /build/ca.crt ]; then export PIP_CERT=/build/ca.crt; fi \
    && pip install "ray[default]==${RAY_VERSION}"
WORKDIR /src
COPY . .
RUN if [ -s /build/ca.crt ]; then export PIP_CERT=/build/ca.crt; fi \
    && pip install "ray[default]==${RAY_VERSION}" .

FROM ${BASE_IMAGE}
ARG PYTHON=python3.12
LABEL org.opencontainers.image.title="fsrl-learner" \
      org.opencontainers.image.description="fsrl Ray node: the driver and the learner (CUDA by default, CPU from make images)" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV DEBIAN_FRONTEND=noninteractive
# The interpreter the venv was built against (the base's PYTHON); pinning the
# Ubuntu package version would break on every security update of the base, so the base
# tag is the pin (DL3008 ignored on purpose).
# hadolint ignore=DL3008
RUN if ! command -v "${PYTHON}" >/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends "${PYTHON}" \
        && rm -rf /var/lib/apt/lists/*; \
    fi
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    USER=fsrl \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY --from=build /opt/venv /opt/venv
WORKDIR /tmp
USER 1000:1000
CMD ["python", "-m", "learner.main", "--help"]
