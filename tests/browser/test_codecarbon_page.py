"""The project page's CodeCarbon panel in Debian's Chromium: map an experiment, upload a file,
see the reported energy and the overlap with the agent (screenshot in tests/artifacts/)."""

import pytest

from assessments.models import CodeCarbonExperiment, UserProfile
from tests.assessments.dashboards import page_factories as pf
from tests.browser.conftest import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
EXPERIMENT = "9b2c6a1e-2f0e-4c7e-9d58-3e1f6b0a7c11"
# 10:30-11:30 falls in two hours the agent measured; 13:00-14:00 in one it did not.
CSV = (
    "timestamp,run_id,experiment_id,duration,cpu_energy,gpu_energy,ram_energy,energy_consumed,"
    "country_iso_code,tracking_mode\n"
    f"2026-10-05T11:30:00,run-a,{EXPERIMENT},3600,0.02,0.3,0.01,0.33,FRA,machine\n"
    f"2026-10-05T14:00:00,run-b,{EXPERIMENT},3600,0.02,0.2,0.01,0.23,FRA,machine\n"
)


@pytest.fixture
def world(transactional_db, plain_static):
    world = pf.make_world()
    pf.make_user("erin", UserProfile.Role.ENGINEER, [world.nlp])
    return world


def test_engineer_maps_an_experiment_uploads_a_file_and_sees_reported_energy(
    world, new_page, tmp_path
):
    page = new_page(viewport={"width": 1280, "height": 900})
    log_in(page, "erin", "pw-erin")
    page.goto("/projects/llm-finetune/?start=2026-10-01&end=2026-11-01")

    panel = page.locator("#codecarbon")
    panel.locator("input[name=experiment_id]").fill(EXPERIMENT)
    panel.locator("select[name=phase]").select_option("fine_tuning")
    panel.get_by_role("button", name="Map to llm-finetune").click()
    page.wait_for_url("**/projects/llm-finetune/**")
    assert CodeCarbonExperiment.objects.filter(experiment_id=EXPERIMENT).exists()

    csv_path = tmp_path / "emissions.csv"
    csv_path.write_text(CSV)
    page.goto("/projects/llm-finetune/?start=2026-10-01&end=2026-11-01")
    panel = page.locator("#codecarbon")
    panel.locator("input[name=file]").set_input_files(str(csv_path))
    panel.get_by_role("button", name="Import").click()
    page.wait_for_load_state()
    page.goto("/projects/llm-finetune/?start=2026-10-01&end=2026-11-01#codecarbon")

    text = page.locator("#codecarbon").inner_text()
    assert f'experiment_id="{EXPERIMENT}"' in text
    reported = page.locator("[data-table=codecarbon-reported]").inner_text()
    assert "Reported by CodeCarbon (counted)\t0.2300 kWh" in reported
    assert "Fine-tuning\t–\t2" in text
    assert "Overlap with the agent (not counted)\t0.3300 kWh" in reported
    assert "reported by CodeCarbon" in page.locator("[data-kpi=energy]").inner_text()
    page.locator("#codecarbon").scroll_into_view_if_needed()
    screenshot(page, "codecarbon-project-page")
