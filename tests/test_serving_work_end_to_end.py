"""Serving work end to end: a real Prometheus scrapes a dcgm-exporter-format target (four GPUs)
and three vLLM-format engines; the real agent reads both through Prometheus and posts to the app
under gunicorn; ingest attributes the work with the inventory's rules, the rollup the energy.

Two serving pods of chat-serving (one engine restarts halfway), a vLLM pod of another team's
project, and a GPU of an unrelated namespace. The agent is killed with SIGKILL and restarted.
The project's requests and tokens must equal the counters' increase over the time its records
cover (read back from Prometheus' raw points), its records must tile that time (nothing lost,
nothing counted twice), and its energy per 1 M output tokens must be the GPU energy of its pods
divided by their output tokens.
"""

import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.contrib.auth.models import User

from assessments.footprint.rollup import rollup_dirty_hours
from assessments.models import HourlyDeviceFact, HourlyProjectFact, UserProfile, WorkRecord
from assessments.organisation.inventory.load import inventory_load
from assessments.organisation.services import api_token_create
from collectors.models import RawSample
from collectors.services import collector_create
from tests.agent.agent_process import AgentProcess, assert_intervals_tile, prometheus_agent
from tests.agent.dcgm_exporter_fixture import DcgmExporterFixture, ExportedGpu
from tests.agent.prometheus_server import MISSING, PROMETHEUS, PrometheusServer
from tests.agent.vllm_engine_fixture import VllmEngineFixture
from tests.processes import WebServer

pytestmark = [
    pytest.mark.skipif(PROMETHEUS is None, reason=MISSING),
    pytest.mark.django_db(transaction=True),
]

ENERGY = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"
JOULES_PER_KWH = 3.6e6
COUNTERS = {
    "requests": "vllm:request_success_total",
    "input_tokens": "vllm:prompt_tokens_total",
    "output_tokens": "vllm:generation_tokens_total",
}

INVENTORY = """
teams:
  - {name: NLP}
  - {name: CV}
projects:
  - {slug: chat-serving, name: Chat serving, team: NLP, phase: inference,
     work_unit: requests, work_kind: requests}
  - {slug: caption-serving, name: Captions, team: CV, phase: inference, work_kind: requests}
attribution_rules:
  - {match: {namespace: serving}, project: chat-serving, phase: inference}
  - {match: {namespace: vision-serve}, project: caption-serving}
"""

# pod -> (namespace, model, requests per s, prompt tokens and output tokens per request)
ENGINES = {
    "vllm-0": ("serving", "assistant", 20.0, 50, 200),
    "vllm-1": ("serving", "assistant", 12.0, 80, 150),
    "captioner-0": ("vision-serve", "captioner", 8.0, 10, 30),
}


def dcgm_exporter():
    return DcgmExporterFixture(
        [
            ExportedGpu("GPU-s0", 0, 350.0, pods=(("serving", "vllm-0", "engine"),)),
            ExportedGpu("GPU-s1", 1, 280.0, pods=(("serving", "vllm-1", "engine"),)),
            ExportedGpu("GPU-v0", 2, 150.0, pods=(("vision-serve", "captioner-0", "engine"),)),
            # A namespace no rule names: unallocated.
            ExportedGpu("GPU-x0", 3, 500.0, pods=(("batch", "cruncher", "main"),)),
        ],
        hostname="gpu-node-a",
    )


def engine_scrape_config(engines: dict[str, VllmEngineFixture]) -> dict:
    """Pods' engines as Kubernetes service discovery labels them: namespace and pod."""
    return {
        "job_name": "vllm",
        "static_configs": [
            {
                "targets": [f"127.0.0.1:{engine.port}"],
                "labels": {"namespace": ENGINES[pod][0], "pod": pod},
            }
            for pod, engine in engines.items()
        ],
    }


@pytest.fixture
def web(tmp_path):
    server = WebServer(tmp_path, workers=2).start()
    yield server
    server.stop()


def agent(tmp_path, web, token, prometheus, *, name):
    return prometheus_agent(tmp_path, web.url, token, prometheus.url, name=name)


def measured_until() -> float:
    """The earliest, over the serving pods and kinds, of the latest measured work end."""
    ends = {}
    for job, kind, end in WorkRecord.objects.filter(source="measured").values_list(
        "job", "kind", "period_end"
    ):
        ends[(job, kind)] = max(ends.get((job, kind), 0.0), end.timestamp())
    wanted = [(f"pod:{ENGINES[pod][0]}/{pod}", kind) for pod in ENGINES for kind in COUNTERS]
    return min(ends.get(key, 0.0) for key in wanted)


def energy_until() -> float:
    ends = {}
    for uuid, ts in RawSample.objects.values_list("device__uuid", "ts"):
        ends[uuid] = max(ends.get(uuid, 0.0), ts.timestamp())
    return min(ends.values()) if len(ends) == 4 else 0.0


def run_until(process: AgentProcess, until: float, timeout: float = 60.0) -> None:
    """Until this process has sent every pod's work and every GPU's energy up to `until`."""
    deadline = time.monotonic() + timeout
    while min(measured_until(), energy_until()) < until:
        if time.monotonic() > deadline or process.process.poll() is not None:
            raise AssertionError(
                f"work up to {measured_until()}, energy up to {energy_until()}, wanted {until}:"
                f"\n{process.log()}"
            )
        time.sleep(0.2)


def counter_increase(prometheus, metric: str, pod: str, start: float, end: float) -> float:
    """The counter's increase over [start, end] from Prometheus' raw points, summed over its
    series (finished_reason), a restart counting from the new value."""
    total = 0.0
    for series in prometheus.query(f'{metric}{{pod="{pod}"}}[10m]'):
        points = [(float(ts), float(value)) for ts, value in series["values"]]
        points = [(ts, value) for ts, value in points if start - 1e-3 <= ts <= end + 1e-3]
        for (_, before), (_, after) in zip(points, points[1:], strict=False):
            total += after - before if after >= before else after
    return total


def records_of(pod: str, kind: str) -> list[tuple[float, float, float]]:
    job = f"pod:{ENGINES[pod][0]}/{pod}"
    return sorted(
        (start.timestamp(), end.timestamp(), units)
        for start, end, units in WorkRecord.objects.filter(
            source="measured", job=job, kind=kind
        ).values_list("period_start", "period_end", "units")
    )


def footprint_api(web, slug: str) -> dict:
    account = User.objects.create_user(f"reader-{slug}")
    UserProfile.objects.create(user=account, role="viewer")
    _, token = api_token_create(user=account)
    today = datetime.now(UTC).date()
    answer = requests.get(
        f"{web.url}/api/v1/projects/{slug}/footprint",
        params={"start": (today - timedelta(days=1)).isoformat(), "end": today + timedelta(days=1)},
        headers={"Authorization": f"Bearer {token}"},
        timeout=20,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def device_energy_j(uuid: str) -> float:
    facts = HourlyDeviceFact.objects.filter(device__uuid=uuid)
    return sum(fact.energy_it_kwh for fact in facts) * JOULES_PER_KWH


def test_served_requests_and_tokens_reach_their_project_through_a_restart_and_an_agent_crash(
    tmp_path, web
):
    inventory_load(text=INVENTORY)
    _, token = collector_create(name="serving-collector")
    engines = {
        pod: VllmEngineFixture(
            model_name=model,
            requests_per_s=rate,
            prompt_tokens_per_request=prompt,
            output_tokens_per_request=output,
        )
        for pod, (_, model, rate, prompt, output) in ENGINES.items()
    }
    exporter = dcgm_exporter()
    with exporter, engines["vllm-0"], engines["vllm-1"], engines["captioner-0"]:
        with PrometheusServer(
            tmp_path,
            [f"127.0.0.1:{exporter.port}"],
            extra_scrape_configs=[engine_scrape_config(engines)],
        ) as prometheus:
            prometheus.wait_for_points(ENERGY, series=4, points=2, timeout=60)
            prometheus.wait_for_points(COUNTERS["output_tokens"], series=3, points=2, timeout=60)
            first = agent(tmp_path, web, token, prometheus, name="first").start()
            try:
                run_until(first, time.time() + 1.5)
                first.signal(signal.SIGKILL)
            finally:
                first.kill_if_running()
            # Down for a while (the restart recovers it from Prometheus); meanwhile an engine
            # restarts and its counters start again from zero.
            time.sleep(1.0)
            engines["vllm-1"].restart()
            restarted_at = time.time()
            second = agent(tmp_path, web, token, prometheus, name="second").start()
            try:
                run_until(second, restarted_at + 3.0)
                assert second.signal(signal.SIGTERM) == 0, second.log()
            finally:
                second.kill_if_running()
            assert "engine restarted" in second.log()

            expected = {}
            for pod in ENGINES:
                for kind, metric in COUNTERS.items():
                    records = records_of(pod, kind)
                    # Nothing lost, nothing counted twice: the records tile the time covered.
                    assert_intervals_tile(
                        [
                            {"device": pod, "ts": end, "duration_s": end - start}
                            for start, end, _ in records
                        ],
                        expected_devices=1,
                    )
                    start, end = records[0][0], records[-1][1]
                    increase = counter_increase(prometheus, metric, pod, start, end)
                    assert increase > 0, (pod, kind)
                    assert sum(units for *_, units in records) == pytest.approx(
                        increase, rel=1e-9
                    ), (pod, kind)
                    expected[(pod, kind)] = increase

    rollup_dirty_hours()
    energy = {uuid: device_energy_j(uuid) for uuid in ("GPU-s0", "GPU-s1", "GPU-v0", "GPU-x0")}
    assert all(energy.values())
    chat_energy_j = (
        sum(
            fact.energy_it_kwh
            for fact in HourlyProjectFact.objects.filter(project__slug="chat-serving")
        )
        * JOULES_PER_KWH
    )
    # The unrelated GPU's energy and the other team's pod stay out.
    assert chat_energy_j == pytest.approx(energy["GPU-s0"] + energy["GPU-s1"], rel=1e-6)

    chat = footprint_api(web, "chat-serving")
    for kind in COUNTERS:
        served = expected[("vllm-0", kind)] + expected[("vllm-1", kind)]
        assert chat["work_units_by_kind"][kind] == pytest.approx(served, rel=1e-9), kind
        assert chat["work_by_kind"][kind]["source"] == "measured"
    # The project declares requests: its work_units and SCI count requests only.
    assert chat["work_kind"] == "requests"
    assert chat["work_units"] == pytest.approx(chat["work_units_by_kind"]["requests"])
    assert chat["sci"] == pytest.approx(chat["total_kgco2e"] / chat["work_units"])
    output_tokens = expected[("vllm-0", "output_tokens")] + expected[("vllm-1", "output_tokens")]
    per_1m = (energy["GPU-s0"] + energy["GPU-s1"]) / JOULES_PER_KWH / output_tokens * 1e6
    serving = chat["serving"]
    assert serving["kwh_per_1m_output_tokens"] == pytest.approx(per_1m, rel=0.01)
    assert serving["output_tokens_source"] == "measured"
    requests_served = expected[("vllm-0", "requests")] + expected[("vllm-1", "requests")]
    assert serving["kgco2e_per_1k_requests"] == pytest.approx(
        chat["total_kgco2e"] / requests_served * 1000, rel=1e-6
    )

    captions = footprint_api(web, "caption-serving")
    assert captions["work_units_by_kind"]["requests"] == pytest.approx(
        expected[("captioner-0", "requests")], rel=1e-9
    )
