# One image for all Vigil functions; the Knative Service picks one with FUNCTION and
# SIGNATURE_TYPE (infra/knative/services.yaml). Knative sets PORT; THREADS (gunicorn threads)
# matches the Service's containerConcurrency and GRACEFUL_TIMEOUT is how long a running request
# may finish after SIGTERM. `vigil dev` starts its local functions with this same CMD, so what
# runs on a laptop is what runs in the cluster. scripts/image builds it without a Docker engine.
#
# BASE is pinned by digest (refresh: `skopeo inspect docker://docker.io/library/python:3.11-slim-bookworm`);
# scripts/image passes a Debian-made stand-in when the registry cannot be reached. Both stages use
# the same base, so the virtualenv's interpreter link holds in the run image.
ARG BASE=docker.io/library/python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY constraints.txt pyproject.toml README.md ./
COPY shared ./shared
COPY vigil ./vigil
COPY vigilsim ./vigilsim
# The locked versions (constraints.txt, refreshed by scripts/lock), then no installer left behind;
# bytecode compiled here because the run image's root filesystem is read-only.
RUN python3 -m venv /opt/vigil \
    && /opt/vigil/bin/pip install --constraint constraints.txt . \
    && /opt/vigil/bin/pip uninstall --yes pip setuptools \
    && rm -rf /opt/vigil/bin/activate* /opt/vigil/share \
    && python3 -m compileall -q /opt/vigil

FROM ${BASE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="vigil" \
      org.opencontainers.image.description="Instance high availability for OpenStack as Knative functions (Masakari API v1)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://opendev.org/vigil/vigil"
ENV PATH=/opt/vigil/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /tmp --shell /usr/sbin/nologin vigil
COPY --from=build /opt/vigil /opt/vigil
WORKDIR /app
COPY functions ./functions
RUN python3 -m compileall -q /app/functions

USER 10001:10001
ENV FUNCTION=api \
    SIGNATURE_TYPE=http \
    PORT=8080
EXPOSE 8080
CMD ["sh", "-c", "exec gunicorn --bind \"${HOST:-0.0.0.0}:$PORT\" --workers 1 --threads \"${THREADS:-8}\" --timeout 0 --graceful-timeout \"${GRACEFUL_TIMEOUT:-30}\" --limit-request-line 0 --log-level \"${GUNICORN_LOG_LEVEL:-error}\" \"functions_framework:create_app(target='$FUNCTION', source='functions/$FUNCTION/main.py', signature_type='$SIGNATURE_TYPE')\""]
