# One image for the GreenAI web app, the Celery worker and Celery beat.
#   web (default):  gunicorn, static files served by whitenoise
#   worker:         celery -A greenai_site worker --loglevel INFO
#   beat:           celery -A greenai_site beat --loglevel INFO
#   migrations:     python manage.py migrate --noinput
# Configuration comes from the environment (docs/deployment.md); see docker-compose.yml.
# The agent that runs on GPU servers is not in this image (deploy/ for its own files).
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GREENAI_VAR_DIR=/var/lib/greenai \
    CHROMIUM_PATH=/usr/bin/chromium \
    BROWSER_PATH=/usr/bin/chromium

# Pango, HarfBuzz and fonts for WeasyPrint (the PDF report); Chromium for kaleido (chart images
# in the report); curl for the health checks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
        chromium curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
# Static files are collected at build time (whitenoise serves them, hashed and compressed).
# Settings need a SECRET_KEY to load; this one exists only during the build.
RUN SECRET_KEY=build-time-only-collectstatic-key-not-used-at-run-time \
    GREENAI_VAR_DIR=/tmp/build-var \
    python manage.py collectstatic --noinput --verbosity 0 \
    && rm -rf /tmp/build-var

# A writable home: Chromium keeps its per-user files there.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/greenai greenai \
    && mkdir -p /var/lib/greenai \
    && chown greenai:greenai /var/lib/greenai
USER greenai

EXPOSE 8000
VOLUME ["/var/lib/greenai"]
CMD ["gunicorn", "greenai_site.wsgi:application", \
     "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "60", \
     "--access-logfile", "-", "--no-control-socket"]
