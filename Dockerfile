# syntax=docker/dockerfile:1
# inference-exporter image.
# The version, revision and date labels come from build arguments, e.g.
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -t inference-exporter:0.1.0 .

# The interpreter the test suite runs on; pin a digest (python:3.11-slim-bookworm@sha256:...)
# for reproducible builds.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Build stage: the project and its dependencies as wheels. The dependencies ship binary wheels;
# the project's own compiles its parser (setup.py), so this stage alone has a C compiler.
FROM ${PYTHON_IMAGE} AS build
RUN apt-get update \
 && apt-get install --yes --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md LICENSE ./
COPY exporter ./exporter
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Final stage: the wheels installed offline into a clean interpreter; pip, setuptools and wheel
# removed; no build tools.
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="inference-exporter" \
      org.opencontainers.image.description="Prometheus exporter that translates model-server metrics into one documented schema" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"

# No .pyc writes at run time (the root filesystem is read-only in Kubernetes); logs unbuffered.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# --compile: the bytecode is written here, once (a start without it compiles every module, about
# 0.1 s of the sidecar's start-up).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --compile --no-cache-dir --no-index --find-links=/wheels inference-exporter \
 && python -m pip uninstall --yes pip setuptools wheel \
 && groupadd --system --gid 65532 exporter \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin exporter \
 && install --directory --owner=65532 --group=65532 --mode=0750 /var/lib/inference-exporter

# Numeric, so Kubernetes can check runAsNonRoot without a runAsUser.
USER 65532:65532
EXPOSE 9072

# For docker run; Kubernetes ignores it and uses the probes in deploy/kubernetes. It assumes the
# default listen address.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:9072/-/healthy', timeout=4).status != 200)"]

ENTRYPOINT ["inference-exporter"]
# The journal goes to the one writable folder (the default is relative to the working directory).
CMD ["--config.file=/etc/inference-exporter/config.yml", "--journal.path=/var/lib/inference-exporter"]
