# One image for the web process and the workers: the platform and its enabled plugins.
# `docker compose up` builds it (see docker-compose.yml); alone: `docker build -t jobplatform .`
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/var/lib/jobplatform

RUN useradd --system --uid 10001 --user-group --create-home jobplatform \
    && install -d -o jobplatform -g jobplatform /var/lib/jobplatform

WORKDIR /app
COPY pyproject.toml README.md plugins.toml ./
COPY clients/python ./clients/python
COPY jobplatform ./jobplatform
COPY plugins ./plugins
# The client package the platform depends on, the platform, then every plugin plugins.toml
# enables (`jobplatform plugins sync`).
RUN pip install ./clients/python . && jobplatform plugins sync

USER jobplatform
EXPOSE 8080 9100
# Liveness of the web process; docker-compose.yml gives the worker a check of its own.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8080')}/health\", timeout=4)"]
CMD ["jobplatform", "web"]
