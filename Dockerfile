# syntax=docker/dockerfile:1
#
# Two stages: "build" turns the project into a wheel and installs it with its dependencies into a
# virtualenv; "runtime" is the slim base plus that virtualenv, so pip, setuptools and any
# compiler a dependency might need never reach the image that runs. The process runs as a
# numeric non-root user and writes only under /tmp (an emptyDir in Kubernetes), so the root
# filesystem can be mounted read-only.
#
# Pin the base by digest in CI: --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# Optional extras of the wheel: --build-arg EXTRAS=msk adds Amazon MSK IAM authentication.
ARG EXTRAS=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
# The production image gets the plain wheel: no `embedded` broker, no `test` tools.
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv --without-pip /opt/venv \
 && set -- /wheels/*.whl \
 && python -m pip --python /opt/venv/bin/python install --no-compile "$1${EXTRAS:+[$EXTRAS]}"

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="interaction-enricher" \
      org.opencontainers.image.description="Merges CRM and analytics events per contact-center interaction and writes them to the vendor platform." \
      org.opencontainers.image.licenses="Apache-2.0"
# PYTHONDONTWRITEBYTECODE: the root filesystem is read-only, so no .pyc files may be written.
# TMPDIR and the ledger default point at /tmp, the one writable path.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    TMPDIR=/tmp \
    HOME=/tmp \
    ENRICHER_LEDGER_URL=sqlite:////tmp/enricher-ledger.sqlite3 \
    ENRICHER_HTTP_PORT=8080
# Files stay owned by root: the service user can read the code but never change it.
COPY --from=build /opt/venv /opt/venv
RUN groupadd --system --gid 10001 enricher \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /tmp --shell /usr/sbin/nologin enricher
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
# Exec form: `enricher` is PID 1 and receives SIGTERM itself, so it drains and commits.
ENTRYPOINT ["enricher"]
CMD ["run"]
