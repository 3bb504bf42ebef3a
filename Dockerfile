# Switchyard: the gateway and its console in one image.
#   docker build -t switchyard .
#   docker run -p 4000:4000 -e SWITCHYARD_MASTER_KEY=... -e SECRET_KEY=... -v sy-data:/data switchyard
# docker-compose.yml runs two instances with PostgreSQL and Redis.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 switchyard \
    && useradd --system --uid 10001 --gid switchyard --home-dir /app --shell /usr/sbin/nologin switchyard

WORKDIR /app
# The project installs from its own files (dependencies and the otel extra for tracing);
# the server runs from /app, where manage.py is (templates and static files are in console/).
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY console ./console
RUN pip install ".[otel]"
COPY manage.py ./
COPY deploy/docker-entrypoint.sh /usr/local/bin/switchyard-entrypoint

# /data: SQLite (when DATABASE_URL is unset), the generated secret and master keys,
# collected static files and the workers' metrics; /config: a LiteLLM config to import.
RUN mkdir -p /data /config && chown switchyard:switchyard /data
ENV SWITCHYARD_DATA_DIR=/data \
    SWITCHYARD_HOST=0.0.0.0 \
    SWITCHYARD_PORT=4000 \
    SWITCHYARD_WORKERS=2
VOLUME ["/data"]
EXPOSE 4000

USER switchyard
HEALTHCHECK --interval=15s --timeout=3s --start-period=40s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/liveliness' % os.environ.get('SWITCHYARD_PORT', '4000'), timeout=2)"]
ENTRYPOINT ["switchyard-entrypoint"]
