# syntax=docker/dockerfile:1
# reload-safe: the admission webhook, its certificate tooling and the rollout controller.
#
#   docker build -t reload-safe:0.1.0 .
#   docker run --rm reload-safe:0.1.0 --help
#
# Two stages: the first builds the project's wheel and installs it with its dependencies into a
# virtual environment; the final stage copies only that environment onto a clean slim Python,
# with no build tools, no pip, and a non-root user. The chart runs it with a read-only root
# filesystem, so everything the program imports is byte-compiled here.
#
# Every dependency and the build backend come from lock files with hashes (requirements.lock,
# requirements-build.lock; `make lock` writes them from pyproject.toml with pip-compile), so a
# rebuild installs the same files, and pip refuses any file whose hash differs. For the same base
# too, pin PYTHON_IMAGE by digest (python:3.11-slim@sha256:...): the locks are resolved for 3.11.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY requirements.lock requirements-build.lock ./
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes -r requirements-build.lock \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY webhook ./webhook
# The project itself: built with the locked backend, installed without resolving anything.
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /dist . \
 && /opt/venv/bin/pip install --no-deps /dist/*.whl \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/pip uninstall --yes pip \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="reload-safe" \
      org.opencontainers.image.description="Admission webhook that makes ConfigMap changes reach the pods that consume them" \
      org.opencontainers.image.licenses="Apache-2.0"
# The runtime needs no installer: remove the base image's pip/setuptools/wheel.
RUN python -m pip uninstall --yes --quiet pip setuptools wheel || true
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# 65532 is the conventional "nonroot" user; the chart sets runAsNonRoot and the same UID.
USER 65532:65532
WORKDIR /tmp
EXPOSE 8443
ENTRYPOINT ["reload-safe"]
CMD ["serve"]
