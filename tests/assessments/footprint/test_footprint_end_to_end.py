"""Issue 3 "done when": inventory loaded with load_inventory, samples re-played by the real agent
into a real server (gunicorn), rolled up with `manage.py rollup`, and the footprint API returns
the numbers the formulas of docs/methodology.md give by hand, to 0.1 %.

Scenario, 2026-11-02 (UTC):
- site paris-dc1: grid zone FRA, PUE 1.3, 0.18 EUR/kWh; hourly grid series imported for
  10:00 only (50 gCO2e/kWh); other hours use FRA's annual value from the reference data.
- host gpu-node-01 (4600 kgCO2e, 4 years, purchased 2026-01-01) with two H100s
  (575.1 kgCO2e, 3 years): per GPU-hour 575.1/(3x8760) + 4600/(2x4x8760) kgCO2e.
- GPU 0: untagged, 400 W, 361 samples of 10 s ending 10:00:05 ... 11:00:05, so the first and
  the last straddle an hour (5 s each outside 10:00-11:00). Allocation of llm-finetune to GPU 0
  from 10:00 to 10:30: half of hour 10 is the project's, the rest unallocated.
- GPU 1: 300 W, 360 samples of 10 s ending 10:00:10 ... 11:00:00, tagged chatbot 60 %.
- chatbot records 1000 work units over the day.
"""

import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.contrib.auth.models import User
from django.core.management import call_command

from assessments.models import GridZone, Team, UserProfile
from assessments.organisation.services import api_token_create
from collectors.services import collector_create
from tests.processes import ROOT, WebServer, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 11, 2, 10, tzinfo=UTC)
PUE, PRICE, GRID_10H = 1.3, 0.18, 50.0
RATE = 575.1 / (3 * 8760) + 4600 / (2 * 4 * 8760)  # kgCO2e per GPU-hour
J_PER_KWH = 3.6e6

INVENTORY = """
organisation: {name: Example Corp, currency: EUR}
sites:
  - {name: paris-dc1, grid_zone: FRA, pue: 1.3, energy_price_per_kwh: 0.18}
hosts:
  - {hostname: gpu-node-01, site: paris-dc1, embodied_kgco2e: 4600, lifetime_years: 4,
     purchased: 2026-01-01}
gpu_models:
  - {name: "NVIDIA H100 80GB HBM3", embodied_kgco2e: 575.1, lifetime_years: 3}
teams:
  - {name: NLP}
projects:
  - {slug: llm-finetune, name: LLM fine-tuning, team: NLP, phase: training,
     work_unit: training samples}
  - {slug: chatbot, name: Chatbot, team: NLP, phase: inference, work_unit: answers}
allocations:
  - {project: llm-finetune, host: gpu-node-01, devices: [0], start: "2026-11-02T10:00:00Z",
     end: "2026-11-02T10:30:00Z"}
"""


def replay_lines():
    lines = []
    for k in range(361):
        ts = T0 + timedelta(seconds=5 + 10 * k)
        lines.append(
            {
                "device": "GPU-e2e-0",
                "name": "NVIDIA H100 80GB HBM3",
                "index": 0,
                "ts": ts.isoformat().replace("+00:00", "Z"),
                "duration_s": 10.0,
                "energy_j": 4000.0,
                "power_w": 400.0,
                "util_pct": 90,
            }
        )
    for k in range(1, 361):
        ts = T0 + timedelta(seconds=10 * k)
        lines.append(
            {
                "device": "GPU-e2e-1",
                "name": "NVIDIA H100 80GB HBM3",
                "index": 1,
                "ts": ts.isoformat().replace("+00:00", "Z"),
                "duration_s": 10.0,
                "energy_j": 3000.0,
                "power_w": 300.0,
                "tags": [{"project": "chatbot", "phase": "inference", "share": 0.6}],
            }
        )
    return lines


def expected_figures(annual: float) -> dict[str, dict[str, float]]:
    """docs/methodology.md by hand."""
    # GPU 0, hour 10: 3600 s x 400 W; hours 9 and 11: 5 s x 400 W each.
    gpu0_h10_kwh = 400 * 3600 / J_PER_KWH
    gpu0_edges_kwh = 2 * 400 * 5 / J_PER_KWH
    gpu1_kwh = 300 * 3600 / J_PER_KWH
    it_kwh = gpu0_h10_kwh + gpu0_edges_kwh + gpu1_kwh
    operational = (
        (gpu0_h10_kwh + gpu1_kwh) * PUE * GRID_10H + gpu0_edges_kwh * PUE * annual
    ) / 1000
    llm_kwh, llm_hours = gpu0_h10_kwh / 2, 0.5
    chat_kwh, chat_hours = 0.6 * gpu1_kwh, 0.6
    in_service_hours = 2 * 24  # both GPUs, whole day (host bought in January)
    measured_hours = (3600 + 10) / 3600 + 1.0
    embodied = in_service_hours * RATE
    llm = {
        "energy_kwh": llm_kwh,
        "facility_energy_kwh": llm_kwh * PUE,
        "operational_kgco2e": llm_kwh * PUE * GRID_10H / 1000,
        "embodied_kgco2e": llm_hours * RATE,
        "cost": llm_kwh * PUE * PRICE,
        "gpu_hours": llm_hours,
        "coverage": 3610 / 86400,  # GPU 0 measured 3610 s of its 24 h
    }
    chat_operational = chat_kwh * PUE * GRID_10H / 1000
    chatbot = {
        "energy_kwh": chat_kwh,
        "facility_energy_kwh": chat_kwh * PUE,
        "operational_kgco2e": chat_operational,
        "embodied_kgco2e": chat_hours * RATE,
        "total_kgco2e": chat_operational + chat_hours * RATE,
        "cost": chat_kwh * PUE * PRICE,
        "gpu_hours": chat_hours,
        "work_units": 1000,
        "sci": (chat_operational + chat_hours * RATE) / 1000,
    }
    organisation = {
        "energy_kwh": it_kwh,
        "facility_energy_kwh": it_kwh * PUE,
        "operational_kgco2e": operational,
        "embodied_kgco2e": embodied,
        "total_kgco2e": operational + embodied,
        "cost": it_kwh * PUE * PRICE,
        "gpu_hours": measured_hours,
        "coverage": (3610 + 3600) / (2 * 86400),
        "unallocated_energy_kwh": it_kwh - llm_kwh - chat_kwh,
        "unallocated_embodied_kgco2e": embodied - (llm_hours + chat_hours) * RATE,
    }
    return {"llm": llm, "chatbot": chatbot, "organisation": organisation}


def assert_close(data: dict, expected: dict, what: str):
    for key, value in expected.items():
        assert data[key] == pytest.approx(value, rel=1e-3), f"{what}.{key}"


def test_replayed_trace_through_agent_server_and_rollup_gives_hand_computed_footprint(tmp_path):
    call_command("load_reference_data", verbosity=0)
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(INVENTORY)
    call_command("load_inventory", str(inventory), verbosity=0)
    grid_csv = tmp_path / "fra.csv"
    grid_csv.write_text("timestamp,gco2e_per_kwh\n2026-11-02T10:00:00Z,50\n")
    call_command("import_grid_intensity", str(grid_csv), zone="FRA", stdout=io.StringIO())
    annual = GridZone.objects.get(code="FRA").gco2e_per_kwh

    _, collector_token = collector_create(name="e2e", allow_backfill=True)
    trace = tmp_path / "trace.jsonl"
    trace.write_text("\n".join(json.dumps(line) for line in replay_lines()) + "\n")

    engineer = User.objects.create_user("eng")
    profile = UserProfile.objects.create(user=engineer, role=UserProfile.Role.ENGINEER)
    profile.teams.set([Team.objects.get(name="NLP")])
    _, user_token = api_token_create(user=engineer, scope="work")  # it records work units
    auth = {"Authorization": f"Bearer {user_token}"}

    server = WebServer(tmp_path).start()
    try:
        agent = subprocess.run(
            [
                sys.executable,
                "-m",
                "collectors.agent",
                "--server",
                server.url,
                "--token",
                collector_token,
                "--source",
                f"replay:{trace}",
                "--spool-dir",
                str(tmp_path / "spool"),
                "--hostname",
                "gpu-node-01",
                "--metrics-port",
                "0",
            ],
            cwd=ROOT,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert agent.returncode == 0, agent.stderr[-3000:]

        call_command("rollup", stdout=io.StringIO())

        work = requests.post(
            f"{server.url}/api/v1/projects/chatbot/work",
            json={"units": 1000, "start": "2026-11-02T00:00:00Z", "end": "2026-11-03T00:00:00Z"},
            headers=auth,
            timeout=10,
        )
        assert work.status_code == 201, work.text

        period = {"start": "2026-11-02", "end": "2026-11-03"}
        expected = expected_figures(annual)
        llm = requests.get(
            f"{server.url}/api/v1/projects/llm-finetune/footprint", period, headers=auth, timeout=10
        )
        assert llm.status_code == 200, llm.text
        assert_close(llm.json(), expected["llm"], "llm-finetune")
        chatbot = requests.get(
            f"{server.url}/api/v1/projects/chatbot/footprint", period, headers=auth, timeout=10
        ).json()
        assert_close(chatbot, expected["chatbot"], "chatbot")
        organisation = requests.get(
            f"{server.url}/api/v1/footprint", period, headers=auth, timeout=10
        ).json()
        assert_close(organisation, expected["organisation"], "organisation")
        assert organisation["currency"] == "EUR"
        sources = " ".join(organisation["factors"]["grid_sources"])
        assert "fra.csv" in sources or "hourly" in sources.lower()
        team = requests.get(
            f"{server.url}/api/v1/teams/nlp/footprint", period, headers=auth, timeout=10
        ).json()
        assert team["energy_kwh"] == pytest.approx(
            expected["llm"]["energy_kwh"] + expected["chatbot"]["energy_kwh"], rel=1e-3
        )
    finally:
        server.stop()
