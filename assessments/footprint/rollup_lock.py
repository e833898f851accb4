"""A lock so that periodic rollups never pile up: a run that finds it taken does nothing.

PostgreSQL: a session advisory lock (released if the worker dies). SQLite (the embedded
set-up, one machine): an exclusive lock on a file under GREENAI_VAR_DIR.
"""

import fcntl
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

ROLLUP_LOCK_KEY = 7_401_301  # any number unique among this app's advisory locks


@contextmanager
def exclusive_rollup():
    """Yields True if this process holds the rollup lock, False if another run holds it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ROLLUP_LOCK_KEY])
            acquired = cursor.fetchone()[0]
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [ROLLUP_LOCK_KEY])
        return
    path = settings.VAR_DIR / "rollup.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
