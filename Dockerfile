# syntax=docker/dockerfile:1
# newsflow images. One target per process; they share every layer but the last, and only
# `extract` carries spaCy and its model (the `nlp` extra):
#
#   docker build --target api     -t newsflow-api .
#   docker build --target fetch   -t newsflow-fetch .      (also: clean, index)
#   docker build --target extract -t newsflow-extract .
#
# docker-compose.yml and k8s/ build or name these targets.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# ---- build: resolve the locked dependencies into /app/.venv with uv --------------------
FROM ${PYTHON_IMAGE} AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src

FROM build AS venv-core
# Dependencies first (cached until uv.lock changes), then the project itself, not editable,
# so the runtime image needs no source tree.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --no-dev --no-install-project
COPY pyproject.toml uv.lock README.md ./
COPY services ./services
COPY shared ./shared
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

FROM build AS venv-nlp
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --no-dev --no-install-project --extra nlp
COPY pyproject.toml uv.lock README.md ./
COPY services ./services
COPY shared ./shared
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --extra nlp

# ---- runtime: no compilers, no uv, a non-root user ------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 newsflow \
 && useradd --system --uid 10001 --gid newsflow --no-create-home --home-dir /app newsflow \
 && mkdir -p /app /data \
 && chown newsflow:newsflow /data
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NEWSFLOW_DATA_DIR=/data \
    NEWSFLOW_LOG_FORMAT=json \
    NEWSFLOW_API_HOST=0.0.0.0 \
    NEWSFLOW_METRICS_HOST=0.0.0.0 \
    NEWSFLOW_METRICS_PORT=9100
WORKDIR /app
USER 10001:10001
ENTRYPOINT ["newsflow"]

FROM runtime AS core
COPY --from=venv-core /app/.venv /app/.venv

FROM core AS api
EXPOSE 8000
CMD ["api"]

FROM core AS fetch
EXPOSE 9100
CMD ["worker", "fetch"]

FROM core AS clean
EXPOSE 9100
CMD ["worker", "clean"]

FROM core AS index
EXPOSE 9100
CMD ["worker", "index"]

FROM runtime AS extract
COPY --from=venv-nlp /app/.venv /app/.venv
EXPOSE 9100
CMD ["worker", "extract"]
