"""Fleet telemetry end to end: a real Prometheus scrapes dcgm-exporter-format targets on two
hosts, the real agent reads it and posts to the app under gunicorn, the rollup attributes the
energy with the inventory's attribution rules, and the jobs API lists the pods.

GPUs draw a known constant power, so each GPU's energy must be its power times the time its
facts cover. The agent is killed with SIGKILL halfway and restarted: the stored intervals must
still follow each other with no gap and no overlap (nothing lost, nothing counted twice).
"""

import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.contrib.auth.models import User

from assessments.footprint.rollup import rollup_dirty_hours
from assessments.models import HourlyDeviceFact, HourlyJobFact, HourlyProjectFact, UserProfile
from assessments.organisation.inventory.load import inventory_load
from assessments.organisation.services import api_token_create
from collectors.models import RawSample
from collectors.services import collector_create
from tests.agent.agent_process import AgentProcess, assert_intervals_tile, prometheus_agent
from tests.agent.dcgm_exporter_fixture import DcgmExporterFixture, ExportedGpu
from tests.agent.prometheus_server import MISSING, PROMETHEUS, PrometheusServer
from tests.processes import WebServer

pytestmark = [
    pytest.mark.skipif(PROMETHEUS is None, reason=MISSING),
    pytest.mark.django_db(transaction=True),
]

ENERGY = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"
JOULES_PER_KWH = 3.6e6
POWER_W = {"GPU-a0": 300.0, "GPU-a1": 120.0, "GPU-b0": 450.0, "GPU-b1": 200.0}

INVENTORY = """
teams:
  - {name: NLP}
  - {name: CV}
projects:
  - {slug: llm-pretrain, name: LLM pre-training, team: NLP, phase: training}
  - {slug: vision-train, name: Vision training, team: CV, phase: training}
attribution_rules:
  - {match: {namespace: "nlp-*"}, project: llm-pretrain, phase: training}
  - {match: {namespace: vision}, project: vision-train}
"""


def exporters():
    """gpu-node-a: a pod of nlp-prod on GPU 0, no pod on GPU 1. gpu-node-b: two vision pods
    sharing GPU 0, a pod of a namespace no rule names on GPU 1."""
    node_a = DcgmExporterFixture(
        [
            ExportedGpu("GPU-a0", 0, POWER_W["GPU-a0"], pods=(("nlp-prod", "trainer-0", "main"),)),
            ExportedGpu("GPU-a1", 1, POWER_W["GPU-a1"]),
        ],
        hostname="gpu-node-a",
    )
    node_b = DcgmExporterFixture(
        [
            ExportedGpu(
                "GPU-b0",
                0,
                POWER_W["GPU-b0"],
                model="NVIDIA A100-SXM4-80GB",
                pods=(("vision", "resnet-a", "worker"), ("vision", "resnet-b", "worker")),
            ),
            ExportedGpu("GPU-b1", 1, POWER_W["GPU-b1"], pods=(("web", "api-0", "server"),)),
        ],
        hostname="gpu-node-b",
    )
    return node_a, node_b


@pytest.fixture
def web(tmp_path):
    server = WebServer(tmp_path, workers=2).start()
    yield server
    server.stop()


def agent(tmp_path, web, token, prometheus, *, name):
    return prometheus_agent(tmp_path, web.url, token, prometheus.url, name=name)


def covered_and_last_end() -> tuple[dict[str, float], float]:
    """Seconds each GPU's stored samples cover, and the earliest of the GPUs' latest sample ends."""
    covered = dict.fromkeys(POWER_W, 0.0)
    last_end = dict.fromkeys(POWER_W, 0.0)
    for uuid, ts, duration in RawSample.objects.values_list("device__uuid", "ts", "duration_s"):
        covered[uuid] += duration
        last_end[uuid] = max(last_end[uuid], ts.timestamp())
    return covered, min(last_end.values())


def run_until(process: AgentProcess, *, covered_s: float, until: float, timeout=30.0) -> None:
    """Until every GPU's samples cover covered_s and reach the time `until` (epoch seconds).

    The agent's first read on an empty spool may take in what Prometheus already holds, so the
    time covered alone does not show that this process has sent anything.
    """
    deadline = time.monotonic() + timeout
    while True:
        covered, last_end = covered_and_last_end()
        if min(covered.values()) >= covered_s and last_end >= until:
            return
        if time.monotonic() > deadline or process.process.poll() is not None:
            raise AssertionError(f"covered {covered} up to {last_end}:\n{process.log()}")
        time.sleep(0.2)


def stored_samples() -> list[dict]:
    return [
        {"device": uuid, "ts": ts.timestamp(), "duration_s": duration}
        for uuid, ts, duration in RawSample.objects.values_list("device__uuid", "ts", "duration_s")
    ]


def device_energy_and_seconds(uuid: str) -> tuple[float, float]:
    facts = HourlyDeviceFact.objects.filter(device__uuid=uuid)
    energy_j = sum(fact.energy_it_kwh for fact in facts) * JOULES_PER_KWH
    return energy_j, sum(fact.measured_seconds for fact in facts)


def project_energy_j(slug: str | None) -> float:
    facts = (
        HourlyProjectFact.objects.filter(project__isnull=True)
        if slug is None
        else HourlyProjectFact.objects.filter(project__slug=slug)
    )
    return sum(fact.energy_it_kwh for fact in facts) * JOULES_PER_KWH


def jobs_api(web) -> list[dict]:
    account = User.objects.create_user("reader")
    UserProfile.objects.create(user=account, role="viewer")
    _, token = api_token_create(user=account)
    today = datetime.now(UTC).date()
    answer = requests.get(
        f"{web.url}/api/v1/jobs",
        params={"start": (today - timedelta(days=1)).isoformat(), "end": today + timedelta(days=1)},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["jobs"]


def test_pods_on_prometheus_reach_their_projects_and_the_jobs_api_through_an_agent_crash(
    tmp_path, web
):
    inventory_load(text=INVENTORY)
    _, token = collector_create(name="fleet-collector")
    node_a, node_b = exporters()
    with node_a, node_b:
        targets = [f"127.0.0.1:{node_a.port}", f"127.0.0.1:{node_b.port}"]
        with PrometheusServer(tmp_path, targets) as prometheus:
            prometheus.wait_for_points(ENERGY, series=5, points=2)
            first = agent(tmp_path, web, token, prometheus, name="first").start()
            try:
                run_until(first, covered_s=2.0, until=time.time() + 1.0)
                first.signal(signal.SIGKILL)
            finally:
                first.kill_if_running()
            time.sleep(1.0)  # down: the restart recovers this gap from Prometheus
            restarted_at = time.time()
            second = agent(tmp_path, web, token, prometheus, name="second").start()
            try:
                run_until(second, covered_s=6.0, until=restarted_at + 2.0)
                assert second.signal(signal.SIGTERM) == 0, second.log()
            finally:
                second.kill_if_running()
    assert_intervals_tile(stored_samples(), expected_devices=4)

    rollup_dirty_hours()

    energy = {}
    for uuid, power_w in POWER_W.items():
        energy[uuid], seconds = device_energy_and_seconds(uuid)
        assert seconds >= 6.0, uuid
        assert energy[uuid] == pytest.approx(power_w * seconds, rel=0.01), uuid
    assert project_energy_j("llm-pretrain") == pytest.approx(energy["GPU-a0"], rel=1e-6)
    assert project_energy_j("vision-train") == pytest.approx(energy["GPU-b0"], rel=1e-6)
    # No pod on GPU-a1, and GPU-b1's namespace matches no rule: both are unallocated.
    assert project_energy_j(None) == pytest.approx(energy["GPU-a1"] + energy["GPU-b1"], rel=1e-6)
    assert set(
        HourlyProjectFact.objects.filter(project__slug="llm-pretrain").values_list(
            "phase", flat=True
        )
    ) == {"training"}
    assert not HourlyJobFact.objects.filter(device__uuid="GPU-a1").exists()

    listed = jobs_api(web)
    energies = [job["energy_kwh"] for job in listed]
    assert energies == sorted(energies, reverse=True)  # largest first
    jobs = {job["job"]: job for job in listed}
    assert set(jobs) == {  # the pods, and no job for GPU-a1
        "pod:nlp-prod/trainer-0",
        "pod:vision/resnet-a",
        "pod:vision/resnet-b",
        "pod:web/api-0",
    }
    expected = {
        "pod:nlp-prod/trainer-0": ("nlp-prod", "llm-pretrain", energy["GPU-a0"]),
        "pod:vision/resnet-a": ("vision", "vision-train", energy["GPU-b0"] / 2),
        "pod:vision/resnet-b": ("vision", "vision-train", energy["GPU-b0"] / 2),
        "pod:web/api-0": ("web", None, energy["GPU-b1"]),
    }
    for key, (namespace, project, energy_j) in expected.items():
        job = jobs[key]
        assert (job["namespace"], job["project"]) == (namespace, project), key
        assert job["energy_kwh"] * JOULES_PER_KWH == pytest.approx(energy_j, rel=1e-6), key
        assert job["devices"] == 1
