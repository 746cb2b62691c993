# syntax=docker/dockerfile:1
# The Redis host of `make e2e` (tests/e2e): Debian's redis-server on the same base as the
# fsrl images, for machines where the public redis image cannot be pulled. Production
# uses redis:7.4.2-alpine3.21 (docker/compose.yaml, k8s/). Not an fsrl image: it lives
# outside docker/*.Dockerfile on purpose (tests/deploy checks those three).
#   docker build --build-arg BASE_IMAGE=fsrl-base:bookworm -f docker/e2e/redis.Dockerfile -t fsrl-e2e-redis:bookworm docker/e2e
ARG BASE_IMAGE=debian:12.12-slim
FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# The base tag is the pin (DL3008 ignored on purpose, as in docker/learner.Dockerfile).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server redis-tools \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server", "--appendonly", "yes", "--appendfsync", "everysec", "--dir", "/data"]
