"""The agent as a real process against a small fake ingest server (tests/agent/fake_server.py)."""

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from collectors.agent.sources.sim import SimSource
from collectors.agent.sources.sim import energy_j as sim_energy_j
from tests.agent.agent_process import AgentProcess, assert_intervals_tile, epoch
from tests.agent.fake_server import FakeServer

# One sample per read, as before --sample-seconds existed: these tests are about pushing.
PER_READ = ("--source", "sim:1", "--sample-seconds", "1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def agent(tmp_path, server_url, *args, name="agent", **env):
    return AgentProcess(
        tmp_path,
        "--server",
        server_url,
        "--token",
        "gac_test",
        "--spool-dir",
        str(tmp_path / "spool"),
        "--hostname",
        "gpu-node-01",
        *args,
        name=name,
        **env,
    )


def wait_until(condition, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def spooled(tmp_path) -> list:
    return sorted((tmp_path / "spool" / "batches").glob("*.batch"))


def write_trace(path, count: int) -> list[str]:
    stamps = []
    with open(path, "w") as handle:
        for i in range(count):
            ts = 1_793_000_000 + i
            stamps.append(ts)
            record = {"device": f"GPU-replay-{i % 2}", "name": "NVIDIA A100-SXM4-40GB"}
            record.update({"index": i % 2, "ts": ts, "duration_s": 1.0, "energy_j": 200.0})
            handle.write(json.dumps(record) + "\n")
    return stamps


def assert_energy_is_the_sims(samples: list[dict], count: int) -> None:
    """Per device, the energy sent is what the simulated GPU drew from first to last sample."""
    sim = SimSource(count=count, hostname="gpu-node-01", interval_s=1.0)
    sim.open()
    for device, role in sim._devices:
        mine = sorted(
            (s for s in samples if s["device"] == device.uuid), key=lambda s: epoch(s["ts"])
        )
        start = epoch(mine[0]["ts"]) - mine[0]["duration_s"]
        expected = sim_energy_j(role, start, epoch(mine[-1]["ts"]))
        assert sum(s["energy_j"] for s in mine) == pytest.approx(expected, rel=1e-9, abs=1e-3)


@pytest.fixture
def server():
    with FakeServer() as server:
        yield server


def test_agent_never_imports_django():
    code = (
        "import sys, collectors.agent.__main__, collectors.agent.sources.nvml, "
        "collectors.agent.sources.rapl, collectors.agent.sources.sim, "
        "collectors.agent.sources.replay; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('django', 'requests')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sim_agent_pushes_gzip_batches_and_sigterm_spools_the_rest(tmp_path, server):
    args = ("--source", "sim:2", "--interval", "0.2", "--sample-seconds", "0.2")
    process = agent(tmp_path, server.url, *args, "--push-every", "0.6").start()
    try:
        wait_until(lambda: len(server.ingest.stored_batches) >= 2, what="two batches")
        assert process.signal(signal.SIGTERM) == 0
    finally:
        process.kill_if_running()
    request = server.ingest.received[0]
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["Authorization"] == "Bearer gac_test"
    assert request.payload["host"] == {"hostname": "gpu-node-01", "agent_version": "0.1.0"}
    # Whatever the SIGTERM left in the spool goes with the next run.
    assert (
        agent(
            tmp_path, server.url, "--source", "sim:2", "--once", "--interval", "0.2", name="once"
        ).run()
        == 0
    )
    assert spooled(tmp_path) == []
    assert_intervals_tile(server.ingest.stored_samples, expected_devices=2)


def test_server_errors_are_retried_with_the_same_batch_id(tmp_path, server):
    server.ingest.script = [(503, {}, "down"), (500, {}, "oops")]
    process = agent(tmp_path, server.url, *PER_READ, "--push-every", "1").start()
    try:
        wait_until(lambda: len(server.ingest.stored_batches) >= 1, what="a stored batch")
    finally:
        process.signal()
    first, second, third = server.ingest.received[:3]
    assert first.payload["batch_id"] == second.payload["batch_id"] == third.payload["batch_id"]
    assert "push failed (server_error 503)" in process.log()


def test_retry_after_is_honoured(tmp_path, server):
    server.ingest.script = [(429, {"Retry-After": "2"}, '{"error": "slow down"}')]
    process = agent(tmp_path, server.url, *PER_READ, "--push-every", "1").start()
    try:
        wait_until(lambda: len(server.ingest.received) >= 2, what="a retry")
    finally:
        process.signal()
    first, second = server.ingest.received[:2]
    assert second.at - first.at >= 2.0
    assert second.payload["batch_id"] == first.payload["batch_id"]


def test_poison_batch_is_set_aside_and_the_next_batch_still_goes(tmp_path, server):
    answer = '{"error": "invalid batch", "details": [{"field": "samples[0].power_w"}]}'
    server.ingest.script = [(400, {}, answer)]
    process = agent(tmp_path, server.url, *PER_READ, "--push-every", "1").start()
    try:
        wait_until(lambda: len(server.ingest.stored_batches) >= 1, what="the next batch")
    finally:
        process.signal()
    poisoned = server.ingest.received[0].payload["batch_id"]
    assert poisoned not in server.ingest.stored_batches
    (rejected,) = (tmp_path / "spool" / "rejected").glob("*.batch")
    assert poisoned in rejected.name
    record = json.loads(rejected.with_suffix(".answer.json").read_text())
    assert record["status"] == 400 and record["answer"] == answer
    assert "server refused batch" in process.log()


def test_once_keeps_the_batch_while_the_server_is_down_and_sends_it_next_time(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    down = agent(tmp_path, url, "--source", "sim:1", "--once", "--interval", "0.2", name="down")
    assert down.run() == 1
    assert "network" in down.log() and len(spooled(tmp_path)) == 1
    with FakeServer(port) as server:
        up = agent(tmp_path, url, "--source", "sim:1", "--once", "--interval", "0.2", name="up")
        assert up.run() == 0
    assert spooled(tmp_path) == []
    first, second = server.ingest.received
    assert epoch(first.payload["samples"][-1]["ts"]) < epoch(second.payload["samples"][0]["ts"])
    assert_intervals_tile(server.ingest.stored_samples, expected_devices=1)


def test_replay_exits_0_once_every_line_is_sent(tmp_path, server):
    trace = tmp_path / "trace.jsonl"
    stamps = write_trace(trace, 2500)
    assert agent(tmp_path, server.url, "--source", f"replay:{trace}").run() == 0
    assert len(server.ingest.stored_batches) == 3
    assert sorted(epoch(s["ts"]) for s in server.ingest.stored_samples) == stamps
    devices = server.ingest.received[0].payload["devices"]
    assert {d["name"] for d in devices} == {"NVIDIA A100-SXM4-40GB"}


def test_replay_killed_mid_way_resumes_without_sending_a_line_twice(tmp_path, server):
    trace = tmp_path / "trace.jsonl"
    stamps = write_trace(trace, 8000)
    server.ingest.delay_s = 0.3
    first = agent(tmp_path, server.url, "--source", f"replay:{trace}", name="first").start()
    try:
        wait_until(lambda: len(server.ingest.stored_batches) >= 2, what="two batches")
        first.signal(signal.SIGKILL)
    finally:
        first.kill_if_running()
    assert len(server.ingest.stored_batches) < 8
    server.ingest.delay_s = 0
    assert agent(tmp_path, server.url, "--source", f"replay:{trace}", name="second").run() == 0
    assert sorted(epoch(s["ts"]) for s in server.ingest.stored_samples) == stamps


def test_sigkilled_agent_restarts_with_no_gap_and_no_overlap(tmp_path, server):
    # Samples of 1 s from reads every 0.25 s: the partial sample a SIGKILL interrupts is
    # continued from the spooled state.
    args = (
        "--source",
        "sim:2",
        "--interval",
        "0.25",
        "--sample-seconds",
        "1",
        "--push-every",
        "0.5",
    )
    first = agent(tmp_path, server.url, *args, name="first").start()
    try:
        wait_until(lambda: len(server.ingest.stored_batches) >= 2, what="two batches")
        first.signal(signal.SIGKILL)
    finally:
        first.kill_if_running()
    time.sleep(1.0)  # the agent is down; the GPUs keep drawing power
    second = agent(tmp_path, server.url, *args, name="second").start()
    try:
        count = len(server.ingest.stored_batches)
        wait_until(lambda: len(server.ingest.stored_batches) >= count + 2, what="more batches")
    finally:
        second.signal()
    assert (
        agent(
            tmp_path, server.url, "--source", "sim:2", "--once", "--interval", "0.25", name="drain"
        ).run()
        == 0
    )
    samples = server.ingest.stored_samples
    assert_intervals_tile(samples, expected_devices=2)
    assert max(s["duration_s"] for s in samples) >= 1.0  # the gap-covering interval
    assert_energy_is_the_sims(samples, count=2)
    # Whole samples end on whole seconds; only the ones a stop or the restart cut are shorter.
    whole = [s for s in samples if abs(s["duration_s"] - 1.0) < 1e-6]
    assert len(whole) >= 2
    assert all(abs(epoch(s["ts"]) - round(epoch(s["ts"]))) < 1e-6 for s in whole)


def test_full_spool_drops_the_oldest_batches_and_says_so(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nobody listens: every push fails
    process = agent(
        tmp_path,
        url,
        "--source",
        "sim:8",
        "--interval",
        "0.1",
        "--sample-seconds",
        "0.1",
        "--push-every",
        "0.2",
        "--spool-max-mb",
        "0.01",
    ).start()
    try:
        process.wait_for_log("dropped the oldest batch")
    finally:
        process.signal()
    total = sum(path.stat().st_size for path in spooled(tmp_path))
    assert total <= 0.01 * 1024 * 1024 or len(spooled(tmp_path)) == 1


def test_metrics_endpoint_reports_devices_samples_spool_and_sources(tmp_path, server):
    port = free_port()
    process = agent(
        tmp_path,
        server.url,
        *("--source", "sim:2", "--sample-seconds", "1", "--push-every", "1"),
        *("--metrics-port", str(port)),
    ).start()
    try:
        wait_until(lambda: len(server.ingest.stored_batches) >= 1, what="a batch")
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    finally:
        process.signal()
    assert 'greenai_agent_device_power_watts{device="GPU-' in text
    assert "greenai_agent_device_energy_joules_total{" in text
    assert "greenai_agent_samples_taken_total" in text
    assert "greenai_agent_samples_sent_total" in text
    assert "greenai_agent_spool_batches" in text and "greenai_agent_spool_bytes" in text
    assert 'greenai_agent_source_last_success_timestamp_seconds{source="sim"}' in text
    assert 'greenai_agent_source_read_duration_seconds{source="sim"}' in text


def test_a_source_that_cannot_start_exits_1_with_the_reason(tmp_path, server):
    process = agent(
        tmp_path, server.url, "--source", "rapl", GREENAI_RAPL_ROOT=str(tmp_path / "no-powercap")
    )
    assert process.run() == 1
    assert "no RAPL" in process.log()


def test_bad_option_exits_2(tmp_path, server):
    process = agent(tmp_path, server.url, "--interval", "never")
    assert process.run() == 2
    assert "--interval must be a number" in process.log()


def test_a_redirect_is_not_followed_and_the_batch_stays_spooled(tmp_path, server):
    with FakeServer() as elsewhere:
        location = f"{elsewhere.url}/api/v1/ingest"
        server.ingest.script = [(302, {"Location": location}, "")]
        once = agent(tmp_path, server.url, *PER_READ, "--once", "--interval", "0.2")
        assert once.run() == 1
        assert elsewhere.hits == []
    assert len(spooled(tmp_path)) == 1
    assert f"redirecting to {location}" in once.log()
    assert "never follows redirects" in once.log()
    assert "plain http://" not in once.log()  # 127.0.0.1: nothing crosses the network
    # Once --server is right, the same batch goes.
    again = agent(tmp_path, server.url, *PER_READ, "--once", "--interval", "0.2", name="again")
    assert again.run() == 0
    assert spooled(tmp_path) == []
    assert once_batch_id(server, 0) == once_batch_id(server, 1)


def once_batch_id(server, position: int) -> str:
    return server.ingest.received[position].payload["batch_id"]


def test_a_200_that_is_not_the_acknowledgement_keeps_the_batch(tmp_path, server):
    server.ingest.script = [(200, {}, "<html>Please log in to the proxy</html>")]
    once = agent(tmp_path, server.url, *PER_READ, "--once", "--interval", "0.2")
    assert once.run() == 1
    assert len(spooled(tmp_path)) == 1
    assert "push failed (bad_answer 200)" in once.log()
    again = agent(tmp_path, server.url, *PER_READ, "--once", "--interval", "0.2", name="again")
    assert again.run() == 0
    assert once_batch_id(server, 0) in server.ingest.stored_batches


def test_plain_http_to_another_machine_is_warned_about_once_at_start(tmp_path):
    # 192.0.2.0/24 is TEST-NET-1: never routed, so nothing leaves this machine.
    process = agent(
        tmp_path, "http://192.0.2.10:8000", "--source", "sim:1", "--push-every", "600"
    ).start()
    try:
        process.wait_for_log("read every")
        process.wait_for_log("plain http://")
    finally:
        process.signal()
    assert process.log().count("plain http://") == 1
    assert "unencrypted" in process.log()


def test_the_token_can_come_from_a_file_and_a_bad_one_exits_2(tmp_path, server):
    token_file = tmp_path / "token"
    token_file.write_text("gac_from_file\n")
    base = ("--server", server.url, "--spool-dir", str(tmp_path / "spool"), *PER_READ)
    good = AgentProcess(tmp_path, *base, "--once", "--token-file", str(token_file), name="good")
    assert good.run() == 0, good.log()
    assert server.ingest.received[0].headers["Authorization"] == "Bearer gac_from_file"
    missing = AgentProcess(
        tmp_path, *base, name="missing", GREENAI_TOKEN_FILE=str(tmp_path / "nope")
    )
    assert missing.run() == 2
    assert "--token-file: cannot read" in missing.log()
    token_file.write_text("\n")
    empty = AgentProcess(tmp_path, *base, "--token-file", str(token_file), name="empty")
    assert empty.run() == 2
    assert "is empty" in empty.log()


def samples_taken(port: int) -> float:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    except OSError:
        return 0.0
    for line in text.decode().splitlines():
        if line.startswith("greenai_agent_samples_taken_total "):
            return float(line.split()[1])
    return 0.0


def started_with_samples(tmp_path, server_url, *, name="agent"):
    """An agent that pushes only when stopped (its push period is an hour), once it has read."""
    port = free_port()
    args = ("--source", "sim:2", "--interval", "0.2", "--sample-seconds", "0.2")
    process = agent(
        tmp_path, server_url, *args, "--push-every", "3600", "--metrics-port", str(port), name=name
    ).start()
    wait_until(lambda: samples_taken(port) >= 4, what="samples read")
    return process, port


def test_sigterm_pushes_the_last_batch_while_the_server_answers(tmp_path, server):
    process, port = started_with_samples(tmp_path, server.url)
    try:
        assert server.ingest.stored_batches == {}
        taken = samples_taken(port)
        assert process.signal(signal.SIGTERM) == 0, process.log()
    finally:
        process.kill_if_running()
    # The batch gathered until the stop reached the server before the agent exited.
    assert len(server.ingest.stored_batches) == 1
    assert spooled(tmp_path) == []
    samples = server.ingest.stored_samples
    assert_intervals_tile(samples, expected_devices=2)
    assert len(samples) >= taken
    assert "every batch was sent" in process.log()


def test_sigterm_spools_the_last_batch_while_the_server_is_down_and_the_next_start_sends_it(
    tmp_path,
):
    down = f"http://127.0.0.1:{free_port()}"  # nobody listens
    process, _ = started_with_samples(tmp_path, down, name="first")
    try:
        assert process.signal(signal.SIGTERM) == 0, process.log()
    finally:
        process.kill_if_running()
    assert len(spooled(tmp_path)) == 1
    assert "push failed (network" in process.log()
    assert "1 batches stay in" in process.log()
    with FakeServer() as server:
        again = agent(
            tmp_path, server.url, "--source", "sim:2", "--once", "--interval", "0.2", name="next"
        )
        assert again.run() == 0, again.log()
        assert spooled(tmp_path) == []
        # The stopped run's batch, then the --once run's own.
        assert len(server.ingest.stored_batches) == 2
        assert_intervals_tile(server.ingest.stored_samples, expected_devices=2)


def test_sigterm_gives_up_on_a_slow_server_within_the_stop_deadline(tmp_path, server):
    process, _ = started_with_samples(tmp_path, server.url)
    server.ingest.delay_s = 30  # answers long after the deadline
    try:
        stopped_at = time.monotonic()
        process.process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, process.log()
        took = time.monotonic() - stopped_at
    finally:
        process.kill_if_running()
        server.ingest.delay_s = 0
    # --stop-flush-seconds 10 by default: stopped well inside Kubernetes' 30 s grace period,
    # and the batch kept for the next start.
    assert took < 25, process.log()
    assert len(spooled(tmp_path)) == 1
