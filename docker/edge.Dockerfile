# syntax=docker/dockerfile:1
# fsrl edge image: robot_edge, the service that runs ON the Raspberry Pi (arm64).
# It holds robot_edge only, with pyzmq and numpy: never torch, ray or redis.
#
# Build from the repository root for the Pi (the base is multi-arch):
#   docker buildx build --platform linux/arm64 -f docker/edge.Dockerfile -t fsrl-edge:0.1.0 .
# Run on the Pi with its CURVE key home (python -m robot_edge.pair, docs/deploy.md);
# backend=sim simulates the robot, backend=gopigo3 drives the motors:
#   docker run --rm -p 5555:5555 -v ~/.fsrl/edge-keys:/keys:ro fsrl-edge:0.1.0 \
#     python -m robot_edge.server backend=gopigo3 bind=tcp://0.0.0.0:5555 keys_dir=/keys
#
# Where the public registries cannot be reached, `make images` (docker/build_images.sh)
# passes a local Debian base: --build-arg BASE_IMAGE=fsrl-base:bookworm (also Python 3.11).
#
# The default base is pinned by tag. When bumping it, record its digest next to it, e.g.
#   docker buildx imagetools inspect python:3.11.14-slim-bookworm
# and pin it as python:3.11.14-slim-bookworm@sha256:<digest>.
# robot_edge supports Python >= 3.9; the image uses 3.11 (Raspberry Pi OS bookworm's).
# docker/build-inputs/ca.crt (the host's CA bundle, when pip sits behind a TLS-inspecting
# proxy) is used by the install step of the build stage only.

ARG BASE_IMAGE=python:3.11.14-slim-bookworm
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Only the edge package: setuptools' package discovery then finds robot_edge alone.
COPY docker/build-inputs/ /build/
COPY pyproject.toml README.md ./
COPY robot_edge/ robot_edge/
# The `edge` extra is read from pyproject.toml (the one list of dependencies); the
# package itself goes in without the host's dependencies (torch, ray, redis, ...).
RUN if [ -s /build/ca.crt ]; then export PIP_CERT=/build/ca.crt; fi \
    && python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); print('\n'.join(p['project']['optional-dependencies']['edge']))" > /tmp/edge-requirements.txt \
    && pip install -r /tmp/edge-requirements.txt \
    && pip install --no-deps . \
    && python -c "import robot_edge, zmq, numpy"

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="fsrl-edge" \
      org.opencontainers.image.description="fsrl robot_edge service for the Raspberry Pi (pyzmq + numpy)" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    USER=fsrl
COPY --from=build /opt/venv /opt/venv
# CURVE key homes (python -m robot_edge.pair). Owned by the runtime user, so a fresh
# named volume mounted here (docker/compose.yaml) starts out writable by it.
RUN mkdir -p /keys/host /keys/pi && chown -R 1000:1000 /keys
WORKDIR /tmp
USER 1000:1000
EXPOSE 5555
CMD ["python", "-m", "robot_edge.server", "backend=sim", "bind=tcp://0.0.0.0:5555", "keys_dir=/keys"]
