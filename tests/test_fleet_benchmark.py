"""The fleet benchmark's load speaks the ingest contract, and its verdicts follow the figures."""

import importlib.util
import json
import time
from pathlib import Path

from collectors.schemas import IngestPayload

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "fleet.py"
_spec = importlib.util.spec_from_file_location("fleet_benchmark", _PATH)
fleet = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fleet)


def _host_batch(ts: float) -> dict:
    host = fleet.make_fleet(20, 8, ["gac_token"])[1]
    return host.batch([gpu.sample(ts) for gpu in host.gpus])


def test_generated_batch_passes_the_strict_ingest_schema():
    batch = _host_batch(time.time() - 3000)

    parsed = IngestPayload.model_validate_json(json.dumps(batch))

    assert len(parsed.devices) == len(parsed.samples) == 8
    for sample in parsed.samples:
        assert sample.duration_s == fleet.SAMPLE_SECONDS
        assert 0 < sample.power_w <= fleet.POWER_LIMIT_W
        assert abs(sample.energy_j - sample.power_w * sample.duration_s) < 1
        assert sum(tag.share for tag in sample.tags) <= 1


def test_fleet_tags_name_the_benchmark_projects_and_shares_hosts_between_two():
    hosts = fleet.make_fleet(64, 8, ["gac_token"])
    projects = {tag["project"] for host in hosts for gpu in host.gpus for tag in gpu.job_tags}
    shared = [host for host in hosts if len(host.gpus[0].job_tags) == 2]

    assert projects <= set(fleet.PROJECTS)
    assert shared and len(shared) < len(hosts)


def test_hosts_share_a_collector_per_fifty_within_the_default_rate_limit():
    tokens = [f"gac_{n}" for n in range(3)]
    hosts = fleet.make_fleet(101 * 8, 8, tokens)

    per_token = {token: sum(host.token == token for host in hosts) for token in tokens}

    assert per_token == {"gac_0": 50, "gac_1": 50, "gac_2": 1}
    # One push every 10 s per host: 300 requests a minute per token, under the default 600.
    assert 60 / fleet.PUSH_EVERY * max(per_token.values()) <= 600


def test_task_log_reads_rollup_ticks_and_finished_tasks_only(tmp_path):
    log = tmp_path / "worker0.log"
    log.write_text(
        "[2026-11-29 18:40:54,698: INFO/Beat] Scheduler: Sending due task "
        "every-minute-rollup-dirty-hours (assessments.tasks.rollup_dirty_hours)\n"
        "[2026-11-29 18:40:56,285: INFO/ForkPoolWorker-2] Task "
        "assessments.tasks.rollup_dirty_hours[4be3ab15-2dd4] succeeded in 1.50003s: "
        "{'skipped': False, 'hours': 176}\n"
        "[2026-11-29 18:41:00,000: INFO/ForkPoolWorker-2] Task "
        "assessments.tasks.refresh_recommendations[77] succeeded in 9.2s: None\n"
        "[2026-11-29 18:41:56,285: INFO/ForkPoolWorker-2] Task "
        "assessments.tasks.rollup_dirty_hours[5c] succeeded in 0.01s: {'skipped': True}\n"
        "[2026-11-29 18:42:00,000: INFO/ForkPoolWorker-2] Task assessments.tasks.rollup_dirty_"
    )
    reader = fleet.TaskLog([log])

    ticks, done = reader.read()

    assert ticks == 1
    assert [(task, outcome, seconds) for task, outcome, seconds, _ in done] == [
        ("assessments.tasks.rollup_dirty_hours", "succeeded", 1.50003),
        ("assessments.tasks.rollup_dirty_hours", "succeeded", 0.01),
    ]
    assert "'skipped': True" in done[1][3]
    # The unfinished last line is read once it is complete.
    with open(log, "a") as handle:
        handle.write("hours[6d] succeeded in 2.5s: {'skipped': False}\n")
    assert reader.read() == (
        0,
        [("assessments.tasks.rollup_dirty_hours", "succeeded", 2.5, "{'skipped': False}")],
    )


def _minute(**figures) -> dict:
    row = {
        "p99_ms": 100.0,
        "accepted_per_s": 800.0,
        "errors": {},
        "rollups": 1,
        "skipped": 0,
        "rollup_s": 5.0,
        "lag_s": 30.0,
        "mark_lag_s": 10.0,
        "metrics_lag_s": None,
        "spool": 3,
        "dropped": 0,
    }
    return {**row, **figures}


def _judged(rows: list[dict], marks_overwritten: bool = True) -> fleet.Phase:
    phase = fleet.Phase(workers=1, gpus=800, gpus_per_host=8, minutes=len(rows))
    phase.marks_overwritten = marks_overwritten
    phase.rows = rows
    fleet.summarise(phase, rows=48_000, size=14_400_000, span_s=600)
    return phase


def test_phase_that_keeps_up_is_reported_so_with_its_storage_figures():
    phase = _judged([_minute(), _minute(), _minute(spool=5)])

    assert phase.kept_up, phase.failures
    assert phase.summary["rows_per_gpu_hour"] == 360
    assert phase.summary["bytes_per_row"] == 300
    assert phase.summary["bytes_per_gpu_day"] == 300 * 360 * 24


def test_lag_of_two_minutes_is_falling_behind():
    phase = _judged([_minute(), _minute(lag_s=125.0)])

    assert not phase.kept_up
    assert "rollup lag reached 125 s" in phase.failures[0]


def test_facts_lag_is_not_judged_where_marks_are_append_only():
    # A device whose batches arrive late leaves its fact old; the oldest mark is the lag there.
    phase = _judged([_minute(), _minute(lag_s=300.0)], marks_overwritten=False)

    assert phase.kept_up, phase.failures
    assert phase.summary["max_lag_s"] == 300


def test_an_old_dirty_mark_is_falling_behind_even_when_the_facts_look_fresh():
    phase = _judged([_minute(), _minute(mark_lag_s=130.0)])

    assert not phase.kept_up
    assert phase.failures == ["oldest dirty mark reached 130 s"]


def test_growing_spools_or_dropped_batches_are_falling_behind():
    grown = _judged([_minute(spool=3), _minute(spool=40)])
    dropped = _judged([_minute(), _minute(dropped=2)])

    assert not grown.kept_up and "spools grew (3 -> 40" in grown.failures[0]
    assert not dropped.kept_up and "dropped 2 batches" in dropped.failures[0]


def test_ingest_errors_and_a_rollup_that_never_finished_are_falling_behind():
    phase = _judged([_minute(errors={503: 4}, rollups=0, rollup_s=float("nan"))])

    assert not phase.kept_up
    assert any("ingest errors {503: 4}" in failure for failure in phase.failures)
    assert any("no rollup finished" in failure for failure in phase.failures)
