"""PostgreSQL only: raw samples move to a table partitioned by UTC day (collectors.partitions).

The columns, the unique (device, ts) key and the foreign keys stay as Django declares them; the
primary key becomes (id, ts), as PostgreSQL requires the partition key in every unique key of a
partitioned table (Django keeps `id` as the model's primary key). The index on ts is not
recreated: partitions already split the table by ts. Existing rows are copied over. SQLite
keeps its plain table.
"""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import migrations

COLUMNS = "id, device_id, ts, duration_s, energy_j, power_w, util_pct, mem_used_mib, tags, batch_id"


def partition(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    from collectors import partitions

    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE collectors_rawsample RENAME TO collectors_rawsample_plain")
        cursor.execute(
            "ALTER TABLE collectors_rawsample_plain DROP CONSTRAINT rawsample_unique_device_ts"
        )
        cursor.execute("DROP INDEX IF EXISTS rawsample_ts")
        cursor.execute("CREATE SEQUENCE collectors_rawsample_part_id_seq AS bigint")
        cursor.execute(
            """
            CREATE TABLE collectors_rawsample (
                id bigint NOT NULL DEFAULT nextval('collectors_rawsample_part_id_seq'),
                device_id bigint NOT NULL REFERENCES collectors_device (id)
                    DEFERRABLE INITIALLY DEFERRED,
                ts timestamp with time zone NOT NULL,
                duration_s double precision NOT NULL,
                energy_j double precision NOT NULL,
                power_w double precision NULL,
                util_pct double precision NULL,
                mem_used_mib double precision NULL,
                tags jsonb NULL,
                batch_id bigint NULL REFERENCES collectors_ingestbatch (id)
                    DEFERRABLE INITIALLY DEFERRED,
                PRIMARY KEY (id, ts),
                CONSTRAINT rawsample_unique_device_ts UNIQUE (device_id, ts)
            ) PARTITION BY RANGE (ts)
            """
        )
        cursor.execute(
            "ALTER SEQUENCE collectors_rawsample_part_id_seq OWNED BY collectors_rawsample.id"
        )
        cursor.execute("CREATE INDEX rawsample_batch ON collectors_rawsample (batch_id)")
        cursor.execute(
            f"CREATE TABLE {partitions.DEFAULT_PARTITION} PARTITION OF collectors_rawsample DEFAULT"
        )
        cursor.execute("SELECT min(ts), max(ts) FROM collectors_rawsample_plain")
        first, last = cursor.fetchone()
    today = datetime.now(UTC).date()
    start = today - timedelta(days=settings.RAW_SAMPLE_RETENTION_DAYS + 1)
    end = today + timedelta(days=settings.RAW_SAMPLE_PARTITIONS_AHEAD_DAYS)
    if first is not None:
        start = min(start, first.astimezone(UTC).date())
        end = max(end, last.astimezone(UTC).date())
    partitions.forget_known_days()
    partitions.ensure_partitions_between(start, end)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO collectors_rawsample ({COLUMNS}) "
            f"SELECT {COLUMNS} FROM collectors_rawsample_plain"
        )
        cursor.execute(
            "SELECT setval('collectors_rawsample_part_id_seq', "
            "coalesce((SELECT max(id) FROM collectors_rawsample_plain), 0) + 1, false)"
        )
        cursor.execute("DROP TABLE collectors_rawsample_plain")


class Migration(migrations.Migration):
    dependencies = [("collectors", "0002_append_only_rollup_marks")]

    # Irreversible on PostgreSQL by design (going back would rebuild an unbounded table).
    operations = [migrations.RunPython(partition, migrations.RunPython.noop)]
