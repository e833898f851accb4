# One image for the GreenAI web app, the Celery worker and Celery beat.
#   web (default):  gunicorn (greenai_site/gunicorn_conf.py), static files served by whitenoise
#   worker:         celery -A greenai_site worker --loglevel INFO
#   beat:           celery -A greenai_site beat --loglevel INFO
#   migrations:     python manage.py migrate --noinput
# Configuration comes from the environment (docs/deployment.md).
#
#   docker build -t greenai:latest .
# Where Docker Hub is out of reach, build the base from Debian's packages first
# (deploy/base/make-base-image.sh) and pass it:
#   podman build --build-arg BASE=localhost/greenai-base:bookworm -t greenai:latest .
# Behind a TLS-inspecting proxy, lend pip the host's CA certificates for the build only:
#   podman build --volume /etc/ssl/certs:/run/build-ca:ro ...
# The agent that runs on GPU servers has its own image (deploy/agent/Dockerfile).
ARG BASE=debian:bookworm-slim
FROM ${BASE}

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBIAN_FRONTEND=noninteractive \
    PATH=/opt/greenai/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    GREENAI_VAR_DIR=/var/lib/greenai \
    PROMETHEUS_MULTIPROC_DIR=/run/greenai/prometheus \
    CHROMIUM_PATH=/usr/bin/chromium \
    BROWSER_PATH=/usr/bin/chromium

# Debian's Python 3.11; Pango, HarfBuzz and fonts for WeasyPrint (the PDF report); Chromium for
# kaleido (chart images in the report); curl for the health checks; CA certificates for
# outgoing TLS (mail, database, broker).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3 python3-venv \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
        chromium curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb

WORKDIR /opt/greenai/app
COPY requirements.txt ./
# The host's CA bundle, when lent as a build volume at /run/build-ca, serves pip only: it is not
# copied into a layer.
RUN python3 -m venv /opt/greenai/venv \
    && if [ -s /run/build-ca/ca-certificates.crt ]; then \
         export PIP_CERT=/run/build-ca/ca-certificates.crt; fi \
    && pip install -r requirements.txt

COPY . .
# Static files are collected at build time (whitenoise serves them, hashed and compressed).
# Settings need a SECRET_KEY to load; this placeholder exists only during this step.
RUN SECRET_KEY=build-time-only-collectstatic-key-not-used-at-run-time \
    GREENAI_VAR_DIR=/tmp/build-var \
    python manage.py collectstatic --noinput --verbosity 0 \
    && rm -rf /tmp/build-var

# Non-root. A writable home: Chromium keeps its per-user files there. /var/lib/greenai holds
# reports (MEDIA_ROOT) and beat's schedule file; /run/greenai the metrics of gunicorn's workers.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/greenai greenai \
    && mkdir -p /var/lib/greenai /run/greenai/prometheus \
    && chown greenai:greenai /var/lib/greenai /run/greenai /run/greenai/prometheus
USER 10001

EXPOSE 8000
VOLUME ["/var/lib/greenai"]
CMD ["gunicorn", "greenai_site.wsgi:application", \
     "--config", "python:greenai_site.gunicorn_conf", \
     "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "60", \
     "--access-logfile", "-", "--no-control-socket"]
