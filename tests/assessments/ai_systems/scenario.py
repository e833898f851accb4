"""The hand-computed AI system of the tests (factors of rollup_factories: PUE 1.5, 400 g/kWh,
0.20 EUR/kWh, 2 kgCO2e embodied per device-hour; one GPU).

- Version 1.0 of "assistant" was produced by base-train (2026-08-01 to 08-05): one hour at
  1000 W: 1 kWh IT, 1.5 kWh facility, 0.6 kg operational + 2 kg embodied = 2.6 kgCO2e.
- Version 2.0, distilled from 1.0, produced by llm-train over ten days (2026-09-01 to 09-11):
  two hours at 1000 W: 2 kWh IT, 3 kWh facility, 1.2 + 4 = 5.2 kgCO2e, 0.60 EUR. An hour of
  llm-train after its window (09-15) is not the version's.
- 2.0 is served by chat from 2026-09-12 (open), model_name "assistant-2", planned 100,000
  requests. An hour on 09-20 at 1000 W with 10,000 requests (before the period); on 10-10 an
  hour at 2000 W with 30,000 requests, 2 M input and 6 M output tokens; on 11-10 an hour at
  1000 W with 20,000 requests, 1 M input and 4 M output tokens.

Over October and November: serving 3 kWh IT, 4.5 kWh facility, 1.8 + 4 = 5.8 kgCO2e, 0.90 EUR;
50,000 requests, 10 M output tokens; 60,000 requests to date. Amortised one-off per request
= 5.2 / max(100,000, 60,000) = 5.2e-5 kg; 0.3 kWh per 1 M output tokens; 0.116 kg per 1,000
requests serving; lifecycle 0.116 + 0.052 = 0.168 kg per 1,000 requests.

Ranges (bound_the_pue, measurements taken as exact): the site's PUE 1.2 to 1.8 (1.5) moves the
facility energy, operational carbon and cost of every hour by 0.8 and 1.2; IT energy and
embodied carbon stay exact. One-off: facility 2.4-3.6 kWh, operational 0.96-1.44, total
4.96-5.44 kgCO2e, cost 0.48-0.72. Serving: facility 3.6-5.4 kWh, operational 1.44-2.16, total
5.44-6.16 kgCO2e, cost 0.72-1.08. Per 1,000 requests serving 5.44 / 50 = 0.1088 to 6.16 / 50
= 0.1232; amortised one-off per request 4.96e-5 to 5.44e-5; lifecycle 0.1088 + 0.0496 = 0.1584
to 0.1232 + 0.0544 = 0.1776; per 1 M output tokens 0.3 exactly (IT energy).
"""

from datetime import UTC, date, datetime, timedelta

from assessments.footprint import scope_ranges
from assessments.footprint.rollup import rollup_dirty_hours
from assessments.models import Site, WorkRecord
from assessments.organisation.reference_data import RelativeBounds
from tests.assessments.ai_systems.factories import project, system, version, window
from tests.assessments.footprint.rollup_factories import (
    add_samples,
    make_device,
    make_host,
    make_site,
)

HOUR = timedelta(hours=1)
EXPECTED = {
    "one_off": {"energy_kwh": 2.0, "facility_energy_kwh": 3.0, "total_kgco2e": 5.2, "cost": 0.6},
    "serving": {"energy_kwh": 3.0, "facility_energy_kwh": 4.5, "total_kgco2e": 5.8, "cost": 0.9},
    "requests": 50_000,
    "input_tokens": 3_000_000,
    "output_tokens": 10_000_000,
    "requests_to_date": 60_000,
    "amortised_per_request": 5.2 / 100_000,
    "energy_kwh_per_1m_output_tokens": 0.3,
    "kgco2e_per_1k_requests": 0.116,
    "lifecycle_kgco2e_per_1k_requests": 0.168,
    "lineage": "2.0 distilled from 1.0: one-off 2.6 kgCO2e, shown, not added",
}
# (low, high) with the PUE bounded (bound_the_pue); figures not named here are exact.
EXPECTED_RANGES = {
    "one_off": {
        "energy_kwh": (2.0, 2.0),
        "facility_energy_kwh": (2.4, 3.6),
        "operational_kgco2e": (0.96, 1.44),
        "embodied_kgco2e": (4.0, 4.0),
        "total_kgco2e": (4.96, 5.44),
        "cost": (0.48, 0.72),
    },
    "serving": {
        "energy_kwh": (3.0, 3.0),
        "facility_energy_kwh": (3.6, 5.4),
        "operational_kgco2e": (1.44, 2.16),
        "embodied_kgco2e": (4.0, 4.0),
        "total_kgco2e": (5.44, 6.16),
        "cost": (0.72, 1.08),
    },
    "amortised_one_off_kgco2e_per_request": (4.96e-5, 5.44e-5),
    "energy_kwh_per_1m_output_tokens": (0.3, 0.3),
    "kgco2e_per_1k_requests": (0.1088, 0.1232),
    "lifecycle_kgco2e_per_1k_requests": (0.1584, 0.1776),
}
PERIOD = {"start": date(2026, 10, 1), "end": date(2026, 12, 1)}
PERIOD_QUERY = {"start": "2026-10-01", "end": "2026-12-01"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def run_hour(gpu, project_slug: str, start: str, watts: float):
    add_samples(
        gpu,
        end=at(start) + HOUR,
        count=6,
        every_s=600.0,
        power_w=watts,
        tags=[{"project": project_slug, "share": 1.0}],
    )


def measured(project_slug, start: str, model_name: str, **units):
    for kind, count in units.items():
        WorkRecord.objects.create(
            project=project(project_slug),
            kind=kind,
            source="measured",
            model_name=model_name,
            job="pod:serving/vllm-0",
            period_start=at(start),
            period_end=at(start) + HOUR,
            units=count,
        )


def gpu():
    return make_device(make_host(make_site()), first_seen_at=at("2026-07-01T00:00"))


def build_assistant():
    device = gpu()
    project("base-train", phase="training", work_kind="other")
    project("llm-train", phase="training", work_kind="other")
    project("chat")
    run_hour(device, "base-train", "2026-08-02T10:00", 1000.0)
    run_hour(device, "llm-train", "2026-09-02T10:00", 1000.0)
    run_hour(device, "llm-train", "2026-09-05T10:00", 1000.0)
    run_hour(device, "llm-train", "2026-09-15T10:00", 1000.0)
    run_hour(device, "chat", "2026-09-20T10:00", 1000.0)
    run_hour(device, "chat", "2026-10-10T10:00", 2000.0)
    run_hour(device, "chat", "2026-11-10T10:00", 1000.0)
    rollup_dirty_hours()
    measured("chat", "2026-09-20T10:00", "assistant-2", requests=10_000)
    measured(
        "chat",
        "2026-10-10T10:00",
        "assistant-2",
        requests=30_000,
        input_tokens=2_000_000,
        output_tokens=6_000_000,
    )
    measured(
        "chat",
        "2026-11-10T10:00",
        "assistant-2",
        requests=20_000,
        input_tokens=1_000_000,
        output_tokens=4_000_000,
    )
    owner = system()
    first = version(owner, "1.0", produced_by=[window("base-train", "2026-08-01", "2026-08-05")])
    second = version(
        owner,
        "2.0",
        parent=first,
        relation="distilled",
        model_name="assistant-2",
        planned_requests=100_000,
        produced_by=[window("llm-train", "2026-09-01", "2026-09-11")],
        served_by=[window("chat", "2026-09-12")],
    )
    return owner, first, second


def bound_the_pue():
    """The site's PUE between 1.2 and 1.8 (its value 1.5)."""
    Site.objects.update(pue_min=1.2, pue_max=1.8)


def take_meters_as_exact(monkeypatch):
    """Measured energy without bounds (the shipped NVML bounds are +-5 %), so that the PUE is
    the only bounded input of EXPECTED_RANGES."""
    exact = RelativeBounds(0, 0, "test")
    kinds = ("nvml_gpu", "rapl_cpu", "codecarbon", "simulated")
    monkeypatch.setattr(scope_ranges, "measurement_bounds", lambda: dict.fromkeys(kinds, exact))


def build_shared_project():
    """Versions "a" and "b" both served by chat-multi from 2026-11-01. On 11-10 an hour at
    1000 W (2.6 kgCO2e) while a produced 3 M output tokens and b 1 M: a 75 %, b 25 %. On 11-11
    an hour at 1000 W while only b produced tokens (2 M): b all of it. So a: 0.75 kWh IT and
    1.95 kgCO2e; b: 1.25 kWh IT and 3.25 kgCO2e."""
    device = gpu()
    project("chat-multi")
    run_hour(device, "chat-multi", "2026-11-10T10:00", 1000.0)
    run_hour(device, "chat-multi", "2026-11-11T10:00", 1000.0)
    rollup_dirty_hours()
    measured("chat-multi", "2026-11-10T10:00", "a", requests=300, output_tokens=3_000_000)
    measured("chat-multi", "2026-11-10T10:00", "b", requests=100, output_tokens=1_000_000)
    measured("chat-multi", "2026-11-11T10:00", "b", requests=200, output_tokens=2_000_000)
    owner = system("multi")
    a = version(owner, "a", model_name="a", served_by=[window("chat-multi", "2026-11-01")])
    b = version(owner, "b", model_name="b", served_by=[window("chat-multi", "2026-11-01")])
    return a, b
