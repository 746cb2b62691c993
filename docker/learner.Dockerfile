# syntax=docker/dockerfile:1
# fsrl learner image: a GPU Ray node (CUDA base, torch with CUDA) with fsrl installed.
# It runs the learner worker group on Kubernetes and the learner service of
# docker/compose.yaml; the learner task lands here because it asks Ray for num_gpus=1.
#
# Build from the repository root (the context is filtered by /.dockerignore):
#   docker build -f docker/learner.Dockerfile -t fsrl-learner:0.1.0 .
#   (TORCH_CUDA picks the PyTorch wheel index, e.g. --build-arg TORCH_CUDA=cu126)
#
# Bases are pinned by tag. When bumping one, record its digest next to it, e.g.
#   docker buildx imagetools inspect nvidia/cuda:12.8.1-base-ubuntu24.04
# and pin it as FROM nvidia/cuda:12.8.1-base-ubuntu24.04@sha256:<digest>.
#
# Dependencies come from pyproject.toml only (`pip install .`), plus two build-argument
# pins: torch (the CUDA wheel, which also brings cuDNN/cuBLAS as pip packages, hence the
# small CUDA "base" image) and ray (the same RAY_VERSION as docker/actor.Dockerfile:
# Ray needs one Ray version and one Python minor version, 3.12 here, on every node).

FROM nvidia/cuda:12.8.1-base-ubuntu24.04 AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_CUDA=cu128
ARG RAY_VERSION=2.60.0
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.12 python3.12-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3.12 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --index-url "https://download.pytorch.org/whl/${TORCH_CUDA}" "torch==${TORCH_VERSION}"
WORKDIR /src
COPY . .
RUN pip install "ray[default]==${RAY_VERSION}" .

FROM nvidia/cuda:12.8.1-base-ubuntu24.04
LABEL org.opencontainers.image.title="fsrl-learner" \
      org.opencontainers.image.description="fsrl Ray node (CUDA): the learner worker group" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV DEBIAN_FRONTEND=noninteractive
# The interpreter the venv was built against (ubuntu 24.04's python3.12); pinning the
# Ubuntu package version would break on every security update of the base, so the base
# tag is the pin (DL3008 ignored on purpose).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.12 \
    && rm -rf /var/lib/apt/lists/*
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY --from=build /opt/venv /opt/venv
WORKDIR /tmp
USER 1000:1000
CMD ["python", "-m", "learner.main", "--help"]
