"""The prometheus: and dcgm: sources end to end: the agent as a real process reading a fake
dcgm-exporter (tests/agent/dcgm_exporter_fixture.py), directly or through a real Prometheus
server, and posting to the fake ingest server. GPUs draw a known constant power, so every
GPU's energy must be its power times the time its samples cover.
"""

import signal
import subprocess
import sys
import time

import pytest

from tests.agent.agent_process import AgentProcess, assert_intervals_tile, epoch
from tests.agent.dcgm_exporter_fixture import DcgmExporterFixture, ExportedGpu
from tests.agent.fake_server import FakeServer
from tests.agent.prometheus_server import MISSING, PROMETHEUS, PrometheusServer

ENERGY = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"

needs_prometheus = pytest.mark.skipif(PROMETHEUS is None, reason=MISSING)


def test_telemetry_sources_import_neither_django_nor_requests():
    code = (
        "import sys, collectors.agent.sources.prometheus, collectors.agent.sources.dcgm; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('django', 'requests')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture
def server():
    with FakeServer() as server:
        yield server


def agent(tmp_path, server_url, source, *args, name="agent"):
    return AgentProcess(
        tmp_path,
        "--server",
        server_url,
        "--token",
        "gac_test",
        "--spool-dir",
        str(tmp_path / "spool"),
        "--hostname",
        "collector-01",
        "--source",
        source,
        # Every read sent as it is: these tests follow single intervals through resets and
        # restarts (the 10 s samples are aggregate.py's, tested on their own).
        "--sample-seconds",
        "0.05",
        *args,
        name=name,
    )


def by_device(server) -> dict[str, list[dict]]:
    samples: dict[str, list[dict]] = {}
    for sample in server.ingest.stored_samples:
        samples.setdefault(sample["device"], []).append(sample)
    return samples


def wait_for_cover(server, process, uuids, seconds, timeout=30.0) -> None:
    """Until every GPU's stored samples cover at least `seconds`."""
    deadline = time.monotonic() + timeout
    while True:
        samples = by_device(server)
        covered = [sum(s["duration_s"] for s in samples.get(uuid, [])) for uuid in uuids]
        if min(covered) >= seconds:
            return
        if time.monotonic() > deadline or process.process.poll() is not None:
            raise AssertionError(f"covered {covered} s after {timeout} s:\n{process.log()}")
        time.sleep(0.1)


def energy_and_time(samples: list[dict]) -> tuple[float, float]:
    return sum(s["energy_j"] for s in samples), sum(s["duration_s"] for s in samples)


def assert_batches_are_per_host(server, hosts: dict[str, set[str]]) -> None:
    seen = set()
    for batch in server.ingest.stored_batches.values():
        hostname = batch["host"]["hostname"]
        assert hostname in hosts, hostname
        assert {d["uuid"] for d in batch["devices"]} <= hosts[hostname]
        assert {s["device"] for s in batch["samples"]} <= hosts[hostname]
        seen.add(hostname)
    assert seen == set(hosts)


def two_hosts():
    node_a = DcgmExporterFixture(
        [
            ExportedGpu(
                "GPU-a0", 0, 300.0, pods=(("nlp-research", "llama-ft-0", "trainer"),), util_pct=97
            ),
            ExportedGpu("GPU-a1", 1, 120.0, fb_used_mib=537),
        ],
        hostname="gpu-node-a",
    )
    node_b = DcgmExporterFixture(
        [
            ExportedGpu(
                "GPU-b0",
                0,
                450.0,
                model="NVIDIA A100-SXM4-80GB",
                pods=(("vision", "resnet-a", "worker"), ("vision", "resnet-b", "worker")),
            )
        ],
        hostname="gpu-node-b",
    )
    return node_a, node_b


def assert_agent_reports_the_counter_increase_prometheus_holds(
    server, prometheus, uuids=None
) -> None:
    """Exact: each GPU's energy is the increase of its counter between the first and the last
    point the agent used, as Prometheus stored them (for GPUs whose counter was not reset)."""
    for uuid, samples in by_device(server).items():
        if uuids is not None and uuid not in uuids:
            continue
        points = {  # a GPU shared by two pods has two series of the same counter
            round(float(ts), 3): float(value)
            for series in prometheus.query(f'{ENERGY}{{UUID="{uuid}"}}[5m]')
            for ts, value in series["values"]
        }
        start = min(round(epoch(s["ts"]) - s["duration_s"], 3) for s in samples)
        end = max(round(epoch(s["ts"]), 3) for s in samples)
        increase_j = (points[end] - points[start]) / 1000.0
        assert sum(s["energy_j"] for s in samples) == pytest.approx(increase_j, rel=1e-9)


def assert_two_hosts_measured(server) -> None:
    # The counters are read when the exporter answers, and stamped when the scrape began (or,
    # with the dcgm source, halfway through it): on a busy machine tens of milliseconds apart,
    # hence several seconds covered for 1%.
    samples = by_device(server)
    for uuid, power_w in (("GPU-a0", 300.0), ("GPU-a1", 120.0), ("GPU-b0", 450.0)):
        energy, covered = energy_and_time(samples[uuid])
        assert energy == pytest.approx(power_w * covered, rel=0.01), uuid
    assert_intervals_tile(server.ingest.stored_samples, 3)
    hosts = {"gpu-node-a": {"GPU-a0", "GPU-a1"}, "gpu-node-b": {"GPU-b0"}}
    assert_batches_are_per_host(server, hosts)
    assert all(
        s["job"]
        == [
            {
                "id": "nlp-research/llama-ft-0",
                "namespace": "nlp-research",
                "pod": "llama-ft-0",
                "container": "trainer",
                "share": 1.0,
            }
        ]
        for s in samples["GPU-a0"]
    )
    assert not any("job" in s for s in samples["GPU-a1"])
    assert all(
        [(job["id"], job["share"]) for job in s["job"]]
        == [("vision/resnet-a", 0.5), ("vision/resnet-b", 0.5)]
        for s in samples["GPU-b0"]
    )
    devices = {
        d["uuid"]: d for batch in server.ingest.stored_batches.values() for d in batch["devices"]
    }
    assert devices["GPU-b0"] == {
        "uuid": "GPU-b0",
        "kind": "gpu",
        "index": 0,
        "name": "NVIDIA A100-SXM4-80GB",
    }
    assert any(s.get("util_pct") == 97 for s in samples["GPU-a0"])
    assert any(s.get("mem_used_mib") == 537 for s in samples["GPU-a1"])


@needs_prometheus
def test_prometheus_source_measures_every_gpu_in_one_batch_per_host(tmp_path, server):
    node_a, node_b = two_hosts()
    with node_a, node_b:
        targets = [f"127.0.0.1:{node_a.port}", f"127.0.0.1:{node_b.port}"]
        with PrometheusServer(tmp_path, targets) as prometheus:
            prometheus.wait_for_points(ENERGY, series=4, points=2)
            process = agent(
                tmp_path,
                server.url,
                f"prometheus:{prometheus.url}",
                "--interval",
                "0.2",
                "--push-every",
                "1",
            ).start()
            try:
                wait_for_cover(server, process, ["GPU-a0", "GPU-a1", "GPU-b0"], 8.0)
                assert process.signal(signal.SIGTERM) == 0
            finally:
                process.kill_if_running()
            assert_agent_reports_the_counter_increase_prometheus_holds(server, prometheus)
    assert_two_hosts_measured(server)


def test_dcgm_source_measures_every_gpu_in_one_batch_per_host(tmp_path, server):
    node_a, node_b = two_hosts()
    with node_a, node_b:
        process = agent(
            tmp_path,
            server.url,
            f"dcgm:{node_a.url}",
            "--source",
            f"dcgm:http://127.0.0.1:{node_b.port}",  # /metrics implied
            "--interval",
            "0.2",
            "--push-every",
            "1",
        ).start()
        try:
            wait_for_cover(server, process, ["GPU-a0", "GPU-a1", "GPU-b0"], 5.0)
            assert process.signal(signal.SIGTERM) == 0
        finally:
            process.kill_if_running()
    assert_two_hosts_measured(server)


# How far past the kill the restarted agent must have sent samples before it is stopped.
SAMPLED_PAST_S = 3.0


def run_through_reset_and_kill(tmp_path, server, exporter, source: str, *args) -> tuple:
    """Run, reset GPU-r0's counter, kill -9 the agent, leave a gap, restart, stop cleanly."""
    first = agent(tmp_path, server.url, source, *args, name="first").start()
    try:
        wait_for_cover(server, first, ["GPU-r0", "GPU-r1"], 1.5)
        exporter.reset("GPU-r0")
        reset_at = time.time()
        wait_for_cover(server, first, ["GPU-r0", "GPU-r1"], 5.0)
        # The first agent itself reads past the reset before it is killed: on a loaded machine
        # Prometheus may scrape the reset counter only after 5 s are covered.
        first.wait_for_log("went down", timeout=90)
        first.signal(signal.SIGKILL)
    finally:
        first.kill_if_running()
    killed_at = time.time()
    # The agent stays down for 2 s on purpose (a gap of at least that length to recover); this
    # is the length of an outage, not a wait for something to happen.
    time.sleep(2.0)
    second = agent(tmp_path, server.url, source, *args, name="second").start()
    try:
        # Until both GPUs have a stored sample ending well past the gap. The condition, not the
        # clock, decides: a loaded machine may take long to start the agent or to scrape.
        deadline = time.monotonic() + 90
        while min(epoch(s["ts"]) for s in latest_samples(server)) <= killed_at + SAMPLED_PAST_S:
            assert time.monotonic() < deadline and second.process.poll() is None, second.log()
            time.sleep(0.1)
        assert second.signal(signal.SIGTERM) == 0
    finally:
        second.kill_if_running()
    return first, second, reset_at, killed_at


def latest_samples(server) -> list[dict]:
    samples = by_device(server)
    if set(samples) != {"GPU-r0", "GPU-r1"}:
        return [{"ts": 0}]
    return [max(group, key=lambda s: epoch(s["ts"])) for group in samples.values()]


def assert_exact_through_reset_and_kill(server, first, killed_at) -> None:
    samples = by_device(server)
    # No interval twice, none missing: the restart continued where the spool ended.
    assert_intervals_tile(server.ingest.stored_samples, 2)
    covered_r1 = energy_and_time(samples["GPU-r1"])[1]
    start = min(epoch(s["ts"]) - s["duration_s"] for s in samples["GPU-r1"])
    assert start < killed_at - 3
    assert max(epoch(s["ts"]) for s in samples["GPU-r1"]) > killed_at + SAMPLED_PAST_S
    energy_r1, _ = energy_and_time(samples["GPU-r1"])
    assert energy_r1 == pytest.approx(200.0 * covered_r1, rel=0.01)
    # The interval holding the reset counts the new counter value only: never negative, never
    # doubled, short by at most the part of that one interval before the reset.
    energy_r0, covered_r0 = energy_and_time(samples["GPU-r0"])
    assert all(s["energy_j"] >= 0 for s in samples["GPU-r0"])
    assert 300.0 * (covered_r0 - 1.5) <= energy_r0 <= 300.0 * covered_r0 * 1.01
    assert "went down" in first.log()


def reset_exporter():
    return DcgmExporterFixture(
        [
            ExportedGpu("GPU-r0", 0, 300.0, pods=(("nlp", "train-0", "main"),)),
            ExportedGpu("GPU-r1", 1, 200.0),
        ],
        hostname="gpu-node-r",
    )


@needs_prometheus
def test_prometheus_source_counts_through_a_counter_reset_and_a_kill_9_exactly_once(
    tmp_path, server
):
    with reset_exporter() as exporter:
        with PrometheusServer(tmp_path, [f"127.0.0.1:{exporter.port}"]) as prometheus:
            prometheus.wait_for_points(ENERGY, series=2, points=2)
            first, _second, _reset_at, killed_at = run_through_reset_and_kill(
                tmp_path,
                server,
                exporter,
                f"prometheus:{prometheus.url}",
                "--interval",
                "0.2",
                "--push-every",
                "0.5",
            )
            assert_agent_reports_the_counter_increase_prometheus_holds(
                server, prometheus, ["GPU-r1"]
            )
    assert_exact_through_reset_and_kill(server, first, killed_at)
    # Prometheus kept scraping while the agent was down: the recovered time keeps its pod.
    assert all(s["job"][0]["pod"] == "train-0" for s in by_device(server)["GPU-r0"])


def test_dcgm_source_counts_through_a_counter_reset_and_a_kill_9_exactly_once(tmp_path, server):
    with reset_exporter() as exporter:
        first, second, _reset_at, killed_at = run_through_reset_and_kill(
            tmp_path,
            server,
            exporter,
            f"dcgm:{exporter.url}",
            "--interval",
            "0.2",
            "--push-every",
            "0.5",
        )
    assert_exact_through_reset_and_kill(server, first, killed_at)
    # The first scrape after the restart closes the gap in one interval, without jobs: who
    # held the GPU while the agent was down is unknown.
    (gap,) = [s for s in by_device(server)["GPU-r0"] if s["duration_s"] > 1.9]
    assert "job" not in gap
    assert all(s["job"][0]["pod"] == "train-0" for s in by_device(server)["GPU-r0"] if s != gap)


def test_dcgm_source_once_sends_one_interval_per_gpu(tmp_path, server):
    with reset_exporter() as exporter:
        process = agent(tmp_path, server.url, f"dcgm:{exporter.url}", "--once", "--interval", "5")
        assert process.run() == 0, process.log()
    samples = by_device(server)
    for uuid, power_w in (("GPU-r0", 300.0), ("GPU-r1", 200.0)):
        (sample,) = samples[uuid]
        # A scrape's time is known to some tens of milliseconds on a loaded machine: over 5 s
        # that is within 2 %.
        assert sample["energy_j"] == pytest.approx(power_w * sample["duration_s"], rel=0.02)
        assert sample["duration_s"] == pytest.approx(5.0, abs=1.5)


def test_unreachable_exporter_stops_the_agent_at_start_with_the_cause(tmp_path, server):
    process = agent(tmp_path, server.url, "dcgm:http://127.0.0.1:9/metrics", "--once")
    assert process.run() == 1
    assert "dcgm-exporter at http://127.0.0.1:9/metrics cannot be read" in process.log()


@needs_prometheus
def test_prometheus_without_dcgm_series_is_reported_at_start(tmp_path, server):
    with PrometheusServer(tmp_path, []) as prometheus:
        process = agent(tmp_path, server.url, f"prometheus:{prometheus.url}", "--once")
        assert process.run() == 0, process.log()
    assert "holds no DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION" in process.log()
    assert server.ingest.stored_batches == {}
