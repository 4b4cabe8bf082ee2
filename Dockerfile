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

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY webhook ./webhook
RUN python -m pip wheel --no-deps --wheel-dir /dist . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install /dist/*.whl \
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
