"""gunicorn settings: `gunicorn --config python:greenai_site.gunicorn_conf ...`.

prometheus_client's multiprocess mode keeps each worker's metrics in files under
PROMETHEUS_MULTIPROC_DIR: the directory is emptied when gunicorn starts (files left by an earlier
run would be counted again), and a worker's live gauges are dropped when it exits.
"""

import os
import shutil
from pathlib import Path


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
