# syntax=docker/dockerfile:1
# watchtower container image: `docker build -t kube-watchtower:0.1.0 .`
#
# Not built or tested on the project's CI machines (no container engine there); kept minimal.
# Base: python 3.11.13 slim (Debian bookworm), pinned by its multi-platform manifest digest as
# several public Dockerfiles pin it; it could not be checked against the registry from here, so
# confirm with `docker buildx imagetools inspect python:3.11.13-slim-bookworm` before relying on it.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1

# Stage 1: wheels for watchtower and its runtime dependencies only (no [test] extra).
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY watchtower ./watchtower
# setup.py ships these inside the wheel (watchtower/_data/): what the Grafana provisioner provisions.
COPY dashboards/*.json ./dashboards/
COPY alerts/*.rules.yaml ./alerts/
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels .

# Stage 2: the runtime, installed from those wheels and nothing else.
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --no-cache-dir --no-index --find-links /wheels kube-watchtower \
 && watchtower version
# Non-root, numeric so Kubernetes can verify runAsNonRoot. The Helm chart's DaemonSet overrides
# it with uid 0 (all capabilities dropped) only to read kubeadm's 0600 root-owned files.
USER 65532:65532
EXPOSE 9847
ENTRYPOINT ["watchtower"]
CMD ["run"]
