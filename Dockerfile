# One image for all five services: `herald serve gateway|users|templates`,
# `herald worker email|push`, `herald migrate`.
ARG PYTHON_IMAGE=python:3.12-slim

# Build stage: turn Herald and its dependencies into wheels.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
# The client `herald send` uses: a package of its own, built into a wheel beside Herald.
COPY clients/python ./clients/python
# deploy/wheelhouse is empty unless filled for a build without an index
# (`pip wheel --wheel-dir deploy/wheelhouse . ./clients/python setuptools`): then pip
# reads only from it.
COPY deploy/wheelhouse /wheelhouse
RUN if ls /wheelhouse/*.whl >/dev/null 2>&1; then \
        export PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheelhouse; \
    fi \
    && pip wheel --wheel-dir /wheels . ./clients/python

# Runtime stage: the wheels only, no compiler, no build tools, not root.
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HERALD_LOG_JSON=true \
    HERALD_HOME=/app/data
RUN groupadd --system --gid 10001 herald \
    && useradd --system --uid 10001 --gid herald --home-dir /app --shell /usr/sbin/nologin herald
WORKDIR /app
COPY --from=build /wheels /wheels
# The wheels were built above from this very source, installed with --no-index.
# hadolint ignore=DL3013
RUN pip install --no-index --find-links=/wheels herald \
    && rm -rf /wheels \
    && mkdir -p /app/data && chown herald:herald /app/data
# Source beside the installed package: `docker compose watch` syncs ./src here and
# PYTHONPATH makes the synced code win over the installed copy.
COPY --chown=herald:herald src /app/src
ENV PYTHONPATH=/app/src
USER 10001:10001
EXPOSE 8000 8001 8002 8003 8004 8005 8006 8007
HEALTHCHECK --interval=10s --timeout=4s --start-period=20s --retries=3 \
    CMD ["herald", "healthcheck"]
ENTRYPOINT ["herald"]
CMD ["serve", "gateway"]
