# syntax=docker/dockerfile:1
# fsrl actor image: a CPU Ray node with fsrl installed. It runs the Ray head and the
# actor worker group on Kubernetes (KubeRay writes the `ray start` command), the
# ray-head / ray-worker services of docker/compose.yaml and the worker hosts of `make e2e`.
#
# Build from the repository root (the context is filtered by /.dockerignore):
#   docker build -f docker/actor.Dockerfile -t fsrl-actor:0.1.0 .
# Where the public registries cannot be reached, `make images` (docker/build_images.sh)
# builds a Debian base with debootstrap and passes it as a build argument:
#   docker build --build-arg BASE_IMAGE=fsrl-base:bookworm --build-arg TORCH_INDEX_URL= ...
#
# The default base is pinned by tag. When bumping it, record its digest next to it, e.g.
#   docker buildx imagetools inspect python:3.12.12-slim-bookworm
# and pin it as python:3.12.12-slim-bookworm@sha256:<digest>.
#
# Dependencies come from pyproject.toml only (`pip install .`). Two pins are added on
# purpose, as build arguments: torch (the CPU build: from TORCH_INDEX_URL, or a wheel in
# docker/build-inputs/wheelhouse/, so the install never pulls CUDA) and ray (Ray needs
# the same Ray and Python version on every node, so this image and
# docker/learner.Dockerfile pin the same RAY_VERSION; the [default] extra brings the
# dashboard that KubeRay's job submission and probes use).
#
# docker/build-inputs/ holds build-only inputs written by docker/build_images.sh (a
# wheelhouse, the host's CA bundle when pip sits behind a TLS-inspecting proxy). They
# live in the build stage only: the runtime stage copies /opt/venv and nothing else.

ARG BASE_IMAGE=python:3.12.12-slim-bookworm
FROM ${BASE_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
ARG RAY_VERSION=2.60.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
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
    && pip install "ray[default]==${RAY_VERSION}" . \
    && python -c "import torch; assert not torch.version.cuda, torch.version.cuda"

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="fsrl-actor" \
      org.opencontainers.image.description="fsrl Ray node (CPU): head and actor workers" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    USER=fsrl
COPY --from=build /opt/venv /opt/venv
WORKDIR /tmp
# Numeric, non-root; the root filesystem can be read-only (Ray writes /tmp and /dev/shm).
USER 1000:1000
CMD ["python", "-m", "learner.main", "--help"]
