"""gunicorn settings of the web app: `gunicorn --config python:greenai_site.gunicorn_conf
greenai_site.wsgi:application` (docs/deployment.md, docs/metrics.md).

With PROMETHEUS_MULTIPROC_DIR set, every worker writes its Prometheus counters to files in that
directory and /metrics sums them all, so the counts do not depend on which worker answers a
scrape. The directory must be empty when gunicorn starts (files of an earlier run would be added
to this one's), and a worker that exits must be marked dead, so that its live-gauge files are
dropped (its counters stay in the sums). Options given on the command line override these.

Environment: GUNICORN_BIND (default 127.0.0.1:8000), WEB_WORKERS (default 2).
"""

import os
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
timeout = 60


def multiprocess_dir_prepare(path: str) -> None:
    """Create PROMETHEUS_MULTIPROC_DIR if missing and remove the files an earlier run left."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for leftover in directory.glob("*.db"):
        leftover.unlink(missing_ok=True)


def on_starting(server):
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        multiprocess_dir_prepare(path)
        server.log.info("Prometheus multiprocess mode: counters in %s", path)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
