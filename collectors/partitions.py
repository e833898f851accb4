"""Raw samples partitioned by UTC day on PostgreSQL, so that retention drops whole days.

The table collectors_rawsample is declared `PARTITION BY RANGE (ts)` (migration 0003): one
partition per day, collectors_rawsample_pYYYYMMDD, created ahead by a daily task, at migrate time
and on demand for the days a batch needs (a backfill); a DEFAULT partition catches rows of a day
that has none yet, and creating that day's partition moves them over. The primary key is
(id, ts) in the database (a partitioned table's unique keys must hold the partition key);
Django still treats `id` as the primary key. SQLite keeps one plain table.

Retention detaches and drops a day past RAW_SAMPLE_RETENTION_DAYS in constant time (no row
deletes, no vacuum debt), but never a day whose samples an hour not yet rolled up still needs.
"""

import logging
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction

logger = logging.getLogger(__name__)

TABLE = "collectors_rawsample"
DEFAULT_PARTITION = f"{TABLE}_default"
_PREFIX = f"{TABLE}_p"
# Days whose partition this process has seen exist (ingest checks only days not in here).
_known_days: set[date] = set()


def is_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = %s AND n.nspname = current_schema()",
            [TABLE],
        )
        row = cursor.fetchone()
    return bool(row) and row[0] == "p"


def partition_name(day: date) -> str:
    return f"{_PREFIX}{day:%Y%m%d}"


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def day_partitions() -> dict[date, str]:
    """{day: partition name} of the day partitions that exist."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    days = {}
    for name in names:
        if name.startswith(_PREFIX):
            try:
                days[datetime.strptime(name[len(_PREFIX) :], "%Y%m%d").date()] = name
            except ValueError:
                continue
    return days


def ensure_partitions(days) -> list[date]:
    """Create the partitions of these UTC days that are missing; returns the days created.

    Rows of such a day already in the DEFAULT partition move to the new one (in the same
    transaction). Safe to call concurrently: a partition another process just created is left.
    """
    if connection.vendor != "postgresql":
        return []
    wanted = sorted(set(days) - _known_days)
    if not wanted:
        return []
    existing = day_partitions()
    created = []
    for day in wanted:
        if day not in existing:
            if _create_partition(day):
                created.append(day)
        _known_days.add(day)
    return created


def ensure_partitions_between(first: date, last: date) -> list[date]:
    return ensure_partitions(first + timedelta(days=n) for n in range((last - first).days + 1))


def ensure_partitions_for(timestamps) -> list[date]:
    """Partitions for the days of these sample end times (ingest calls it before inserting)."""
    if connection.vendor != "postgresql":
        return []
    days = {ts.astimezone(UTC).date() for ts in timestamps}
    if days <= _known_days:
        return []
    return ensure_partitions(days)


def _create_partition(day: date) -> bool:
    start, end = _day_start(day), _day_start(day + timedelta(days=1))
    name = partition_name(day)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # The default partition's rows of this day must leave it before the day's partition
            # may exist; the lock keeps ingest from adding more meanwhile (short: it is tiny).
            cursor.execute(f"LOCK TABLE {DEFAULT_PARTITION} IN SHARE ROW EXCLUSIVE MODE")
            cursor.execute(
                f"SELECT 1 FROM {DEFAULT_PARTITION} WHERE ts >= %s AND ts < %s LIMIT 1",
                [start, end],
            )
            strays = cursor.fetchone() is not None
            if strays:
                cursor.execute(
                    f"CREATE TEMP TABLE greenai_moving_samples ON COMMIT DROP AS "
                    f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} "
                    f"WHERE ts >= %s AND ts < %s RETURNING *) SELECT * FROM moved",
                    [start, end],
                )
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {TABLE} "
                f"FOR VALUES FROM (%s) TO (%s)",
                [start, end],
            )
            if strays:
                cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM greenai_moving_samples")
    except Exception:
        # Another process created it between our check and our CREATE: that is what we wanted.
        if day in day_partitions():
            return False
        raise
    logger.info("raw-sample partition %s created", name)
    return True


def forget_known_days() -> None:
    """Drop this process's memory of existing partitions (after partitions were dropped)."""
    _known_days.clear()


def drop_days_before(cutoff: datetime, *, keep) -> tuple[list[date], list[date], int]:
    """Detach and drop every day partition that ends at or before `cutoff`, except those for
    which keep(day) is true (checked with the day's partition locked, so no sample of that day
    arrives between the check and the drop). Returns (dropped days, kept days, the planner's
    estimate of the rows dropped)."""
    dropped, kept, rows = [], [], 0
    for day, name in sorted(day_partitions().items()):
        if _day_start(day + timedelta(days=1)) > cutoff:
            continue
        with transaction.atomic(), connection.cursor() as cursor:
            # Deferred foreign-key checks of rows written earlier in the same transaction must
            # run before their table can go.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE")
            if keep(day):
                kept.append(day)
                continue
            estimate = estimated_rows([name])
            cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {name}")
            cursor.execute(f"DROP TABLE {name}")
        dropped.append(day)
        rows += estimate
        _known_days.discard(day)
    return dropped, kept, rows


def estimated_rows(names: list[str]) -> int:
    """The planner's row estimate of these tables (no scan)."""
    if not names:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(greatest(reltuples, 0)), 0) FROM pg_class WHERE relname = ANY(%s)",
            [names],
        )
        return int(cursor.fetchone()[0])
