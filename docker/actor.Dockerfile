# syntax=docker/dockerfile:1
# fsrl actor image: a CPU Ray node with fsrl installed. It runs the Ray head and the
# actor worker group on Kubernetes (KubeRay writes the `ray start` command) and the
# ray-head / ray-worker services of docker/compose.yaml.
#
# Build from the repository root (the context is filtered by /.dockerignore):
#   docker build -f docker/actor.Dockerfile -t fsrl-actor:0.1.0 .
#
# Bases are pinned by tag. When bumping one, record its digest next to it, e.g.
#   docker buildx imagetools inspect python:3.12.12-slim-bookworm
# and pin it as FROM python:3.12.12-slim-bookworm@sha256:<digest>.
#
# Dependencies come from pyproject.toml only (`pip install .`). Two pins are added on
# purpose, as build arguments: torch (the CPU wheel, from the PyTorch CPU index, so the
# install never pulls CUDA) and ray (Ray needs the same Ray and Python version on every
# node, so this image and docker/learner.Dockerfile pin the same RAY_VERSION; the
# [default] extra brings the dashboard that KubeRay's job submission and probes use).

FROM python:3.12.12-slim-bookworm AS build
ARG TORCH_VERSION=2.13.0
ARG RAY_VERSION=2.60.0
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==${TORCH_VERSION}"
WORKDIR /src
COPY . .
RUN pip install "ray[default]==${RAY_VERSION}" . \
    && python -c "import torch; assert not torch.version.cuda, torch.version.cuda"

FROM python:3.12.12-slim-bookworm
LABEL org.opencontainers.image.title="fsrl-actor" \
      org.opencontainers.image.description="fsrl Ray node (CPU): head and actor workers" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=build /opt/venv /opt/venv
WORKDIR /tmp
# Numeric, non-root; the root filesystem can be read-only (Ray writes /tmp and /dev/shm).
USER 1000:1000
CMD ["python", "-m", "learner.main", "--help"]
