"""The real `codecarbon` package's tracker pointed at a live GreenAI (docs/codecarbon.md).

OfflineEmissionsTracker with country_iso_code is used so the tracker makes no call outside the
test: the online EmissionsTracker asks geojs.io and ipinfo.io for the location and probes the
cloud metadata address 169.254.169.254. Without RAPL or NVML the tracker estimates CPU power
from the CPU's TDP (or a per-thread default) and RAM power, which is enough to send energy.
"""

import ast
import logging
import re
import time
import uuid

import pytest
import requests
from django.core.management import call_command
from django.db.models import Sum

from assessments.codecarbon.services import experiment_register
from assessments.models import CodeCarbonEmission, CodeCarbonRun, HourlyCodeCarbonFact
from collectors.services import collector_create
from tests.assessments.footprint.rollup_factories import make_project

codecarbon = pytest.importorskip("codecarbon")

_SENT = re.compile(r"Successful upload emission (\{.*\}) to ")


class ClientLog(logging.Handler):
    """What CodeCarbon's own logger says: the emissions it uploaded and the errors it met."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.sent: list[dict] = []
        self.errors: list[str] = []

    def emit(self, record):
        message = record.getMessage()
        match = _SENT.search(message)
        if match:
            self.sent.append(ast.literal_eval(match.group(1)))
        elif record.levelno >= logging.ERROR:
            self.errors.append(message)


@pytest.fixture
def client_log():
    handler = ClientLog()
    logger = logging.getLogger("codecarbon")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def run_tracker(url, token, experiment_id, output_dir, seconds=4.5):
    # The client gives up after 2 s; the first request of a fresh live server loads every
    # URL module, which on a busy test machine can take longer than that.
    requests.get(f"{url}/api/codecarbon/experiments/{uuid.uuid4()}", timeout=30)
    tracker = codecarbon.OfflineEmissionsTracker(
        country_iso_code="FRA",
        api_endpoint=f"{url}/api/codecarbon",
        api_key=token,
        experiment_id=str(experiment_id),
        save_to_api=True,
        save_to_file=True,
        output_dir=str(output_dir),
        measure_power_secs=1,
        api_call_interval=2,
        tracking_mode="machine",
        log_level="debug",
        allow_multiple_runs=True,
    )
    tracker.start()
    time.sleep(seconds)
    tracker.stop()
    return tracker


def stored_kwh(**filters) -> float:
    return CodeCarbonEmission.objects.filter(**filters).aggregate(e=Sum("energy_kwh"))["e"] or 0.0


@pytest.fixture
def mapped(db):
    project = make_project(slug="llm-finetune", team_name="NLP")
    experiment, _ = experiment_register(project=project, experiment_id=uuid.uuid4())
    _, token = collector_create(name="nlp-codecarbon", team=project.team)
    return project, experiment, token


@pytest.mark.django_db(transaction=True)
def test_real_tracker_energy_lands_on_the_mapped_project(live_server, mapped, client_log, tmp_path):
    project, experiment, token = mapped
    tracker = run_tracker(live_server.url, token, experiment.experiment_id, tmp_path)

    assert client_log.errors == []
    assert len(client_log.sent) >= 2
    sent_kwh = sum(payload["energy_consumed"] for payload in client_log.sent)
    assert sent_kwh > 0
    run = CodeCarbonRun.objects.get(project=project, source="api")
    assert run.tracking_mode == "machine"
    assert run.codecarbon_version == codecarbon.__version__
    assert stored_kwh(run=run) == pytest.approx(sent_kwh, rel=1e-3)
    facts_kwh = HourlyCodeCarbonFact.objects.filter(project=project).aggregate(
        e=Sum("energy_it_kwh")
    )["e"]
    assert facts_kwh == pytest.approx(sent_kwh, rel=1e-3)

    # The client's own file holds the run's totals, including the last interval, which the
    # API output does not send when it is shorter than 1 s.
    csv_path = tmp_path / "emissions.csv"
    offline = make_project(slug="offline-copy", team_name="NLP")
    call_command("import_codecarbon", str(csv_path), project=offline.slug)
    file_kwh = tracker.final_emissions_data.energy_consumed
    assert stored_kwh(run__project=offline) == pytest.approx(file_kwh, rel=1e-3)
    unsent_kwh = file_kwh - sent_kwh
    # Nothing unsent leaves the two float sums a rounding apart (-6.8e-21 kWh was seen).
    assert -1e-9 * file_kwh <= unsent_kwh < file_kwh / 3

    call_command("import_codecarbon", str(csv_path), project=offline.slug)
    assert stored_kwh(run__project=offline) == pytest.approx(file_kwh, rel=1e-3)
    assert CodeCarbonEmission.objects.filter(run__project=offline).count() == 1


@pytest.mark.django_db(transaction=True)
def test_wrong_key_is_refused_and_stores_nothing(live_server, mapped, client_log, tmp_path):
    _, experiment, _ = mapped
    run_tracker(live_server.url, "gac_00000000_not-a-token", experiment.experiment_id, tmp_path, 2)

    assert any("401" in error for error in client_log.errors)
    assert any("Unknown collector token" in error for error in client_log.errors)
    assert client_log.sent == []
    assert not CodeCarbonRun.objects.exists()
    assert not CodeCarbonEmission.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_unknown_experiment_is_refused_and_stores_nothing(
    live_server, mapped, client_log, tmp_path
):
    _, _, token = mapped
    run_tracker(live_server.url, token, uuid.uuid4(), tmp_path, 2)

    assert any("404" in error and "not registered" in error for error in client_log.errors)
    assert not CodeCarbonRun.objects.exists()
    assert not CodeCarbonEmission.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_key_of_another_team_cannot_write_to_the_project(live_server, mapped, client_log, tmp_path):
    from assessments.models import Team

    _, experiment, _ = mapped
    other, _ = Team.objects.get_or_create(name="Vision", defaults={"slug": "vision"})
    _, other_token = collector_create(name="vision-codecarbon", team=other)
    run_tracker(live_server.url, other_token, experiment.experiment_id, tmp_path, 2)

    assert any("403" in error for error in client_log.errors)
    assert not CodeCarbonEmission.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_resent_emission_is_stored_once(live_server, mapped, client_log):
    from codecarbon.core.api_client import ApiClient

    project, experiment, token = mapped
    conf = {"tracking_mode": "machine", "codecarbon_version": codecarbon.__version__}
    client = ApiClient(
        endpoint_url=f"{live_server.url}/api/codecarbon",
        experiment_id=str(experiment.experiment_id),
        api_key=token,
        conf=conf,
    )
    assert client.run_id
    interval = {
        "duration": 10.0,
        "emissions": 1e-5,
        "emissions_rate": 1e-6,
        "cpu_power": 30.0,
        "gpu_power": 250.0,
        "ram_power": 10.0,
        "cpu_energy": 30 * 10 / 3.6e6,
        "gpu_energy": 250 * 10 / 3.6e6,
        "ram_energy": 10 * 10 / 3.6e6,
        "energy_consumed": 290 * 10 / 3.6e6,
    }
    assert client.add_emission(interval) is True
    payload = client_log.sent[0]
    # The same body again, as a client retrying after a lost answer would send it.
    answer = requests.post(
        f"{live_server.url}/api/codecarbon/emissions",
        json=payload,
        headers={"x-api-token": token},
        timeout=5,
    )
    assert answer.status_code == 201
    assert answer.json()["duplicate"] is True
    assert CodeCarbonEmission.objects.count() == 1
    assert stored_kwh(run__project=project) == pytest.approx(290 * 10 / 3.6e6)
