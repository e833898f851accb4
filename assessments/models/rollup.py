"""Shards of the rollup: devices are split by device_id % ROLLUP_SHARDS, one row per shard.

A rollup batch claims its shard's row (SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL), so two
runs never work on the same device at once while runs of other shards go on in parallel. The row
also keeps the figures of the shard's last run, which /metrics and /health read.
"""

from django.db import models


class RollupShard(models.Model):
    shard = models.PositiveIntegerField(primary_key=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_seconds = models.FloatField(default=0)
    last_marks = models.PositiveIntegerField(default=0, help_text="Marks processed.")
    last_hours = models.PositiveIntegerField(default=0, help_text="Device-hours written.")
    last_rows = models.PositiveBigIntegerField(default=0, help_text="Raw samples read.")
    runs = models.PositiveBigIntegerField(default=0)

    def __str__(self):
        return f"rollup shard {self.shard}"
