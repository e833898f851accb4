"""The AI systems pages in Debian's Chromium: an engineer of the owning team reaches the model
page from the navigation and reads the lineage and lifecycle figures (value and range) that
version_footprint computes, then the versions side by side: the energy-versus-quality scatter
drawn with a marker per version, and the CSV.

The data is scenario.py's hand-computed assistant (PUE bounded 1.2 to 1.8, meters exact) with
a third version beside it: 2.1, quantised from 2.0, served by chat-small from 2026-10-01 with
one hour on 10-20 at 500 W, 10,000 requests and 2 M output tokens, so 0.5 kWh IT / 2 M = 0.25
kWh per 1 M output tokens.

Screenshots land in tests/artifacts/ (git-ignored): ai-system-model.png, ai-system-versions.png.
"""

import csv

import pytest

from assessments.ai_systems.selectors import version_footprint
from assessments.footprint.rollup import rollup_dirty_hours
from assessments.models import UserProfile
from assessments.templatetags.greenai import format_with_range
from collectors.models import Device
from tests.assessments.ai_systems.factories import project, version, window
from tests.assessments.ai_systems.scenario import (
    EXPECTED,
    EXPECTED_RANGES,
    PERIOD,
    PERIOD_QUERY,
    bound_the_pue,
    build_assistant,
    measured,
    run_hour,
    take_meters_as_exact,
)
from tests.assessments.dashboards.page_factories import make_user
from tests.browser.conftest import log_in, screenshot, wait_for_charts

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
QUERY = f"start={PERIOD_QUERY['start']}&end={PERIOD_QUERY['end']}"
# The figures of a version's list, each with the digits the page gives it.
FIGURES = {
    "energy_kwh_per_1m_output_tokens": ("kWh", 4),
    "kgco2e_per_1k_requests": ("kgCO2e", 4),
    "amortised": ("kgCO2e", 6),
    "lifecycle_kgco2e_per_1k_requests": ("kgCO2e", 4),
}


@pytest.fixture
def assistant(transactional_db, plain_static, monkeypatch):
    owner, first, second = build_assistant()
    bound_the_pue()
    take_meters_as_exact(monkeypatch)
    second.quality_metric, second.quality_value = "MMLU accuracy", 0.71
    second.latency_p50_ms, second.latency_p95_ms = 120.0, 480.0
    second.save()
    project("chat-small")
    run_hour(Device.objects.get(), "chat-small", "2026-10-20T10:00", 500.0)
    rollup_dirty_hours()
    measured(
        "chat-small", "2026-10-20T10:00", "assistant-2q", requests=10_000, output_tokens=2_000_000
    )
    third = version(
        owner,
        "2.1",
        parent=second,
        relation="quantised",
        model_name="assistant-2q",
        planned_requests=50_000,
        quality_metric="MMLU accuracy",
        quality_value=0.69,
        latency_p50_ms=80.0,
        latency_p95_ms=300.0,
        served_by=[window("chat-small", "2026-10-01")],
    )
    make_user("erin", UserProfile.Role.ENGINEER, [owner.team])
    return owner, first, second, third


def shown(footprint, key: str) -> str:
    """A figure as the page must write it: version_footprint's value and range."""
    attribute = "amortised_one_off_kgco2e_per_request" if key == "amortised" else key
    unit, digits = FIGURES[key]
    return format_with_range(
        getattr(footprint, attribute), footprint.ranges[attribute], digits, unit
    )


def test_the_model_page_and_its_versions_side_by_side(assistant, new_page):
    _, _, second, third = assistant
    served = version_footprint(second, **PERIOD)
    quantised = version_footprint(third, **PERIOD)
    # The hand computation stands behind version_footprint here.
    assert served.lifecycle_kgco2e_per_1k_requests == pytest.approx(
        EXPECTED["lifecycle_kgco2e_per_1k_requests"]
    )
    assert quantised.energy_kwh_per_1m_output_tokens == pytest.approx(0.25)

    page = new_page(viewport={"width": 1366, "height": 900})
    log_in(page, "erin", "pw-erin")
    page.goto(f"/?{QUERY}")
    page.click("nav.main >> text=AI systems")
    page.wait_for_url(f"**/ai-systems/?{QUERY}")
    page.click("main a:has-text('Assistant')")
    page.wait_for_url(f"**/ai-systems/assistant/?{QUERY}")
    assert page.locator("h1").inner_text() == "Assistant"

    block = page.locator("[data-version='2.0']")
    assert block.locator(".lineage").all_inner_texts() == [EXPECTED["lineage"]]
    assert page.locator("[data-version='2.1'] .lineage").all_inner_texts() == [
        "2.1 quantised from 2.0: one-off 5.2 kgCO2e, shown, not added",
        EXPECTED["lineage"],
    ]
    for key in FIGURES:
        text = block.locator(f"[data-figure={key}]").inner_text()
        assert text.startswith(shown(served, key)), (key, text)
    # 0.168 kgCO2e (0.1584–0.1776) per 1,000 requests, as scenario.py computes by hand.
    low, high = EXPECTED_RANGES["lifecycle_kgco2e_per_1k_requests"]
    assert (
        block.locator("[data-figure=lifecycle_kgco2e_per_1k_requests]")
        .inner_text()
        .startswith(f"0.1680 kgCO2e ({low:.4f}–{high:.4f})")
    )
    assert block.locator("[data-figure=requests]").inner_text() == "50,000"
    total = block.locator("[data-part=one_off] td:nth-child(6)").inner_text()
    assert total == format_with_range(
        served.one_off.total_kgco2e, served.one_off.all_ranges["total_kgco2e"], 3, "kgCO2e"
    )
    assert total == "5.200 kgCO2e (4.960–5.440)"
    serving = block.locator("[data-part=serving] td:nth-child(6)").inner_text()
    assert serving == "5.800 kgCO2e (5.440–6.160)"
    screenshot(page, "ai-system-model")

    page.click("text=Versions side by side")
    page.wait_for_url(f"**/ai-systems/assistant/compare/?{QUERY}")
    (chart,) = wait_for_charts(page)
    assert chart == {"name": "energy-quality", "state": "ready", "plotted": True, "points": 2}
    markers = page.locator("[data-chart=energy-quality] .scatterlayer .point")
    assert markers.count() == 2
    labels = page.locator("[data-chart=energy-quality] .scatterlayer .textpoint")
    assert sorted(labels.all_text_contents()) == ["assistant 2.0", "assistant 2.1"]
    # The markers stand apart: 0.25 and 0.3 kWh per 1 M output tokens, 0.69 and 0.71.
    boxes = [markers.nth(index).bounding_box() for index in range(2)]
    assert all(box and box["width"] > 0 for box in boxes)
    assert abs(boxes[0]["x"] - boxes[1]["x"]) > 20 and abs(boxes[0]["y"] - boxes[1]["y"]) > 20
    # Each version's name stands whole inside the plot area: plotly clips text at its edges.
    area = page.locator("[data-chart=energy-quality] .nsewdrag").bounding_box()
    for index in range(labels.count()):
        box = labels.nth(index).bounding_box()
        assert area["x"] <= box["x"] and box["x"] + box["width"] <= area["x"] + area["width"]
        assert area["y"] <= box["y"] and box["y"] + box["height"] <= area["y"] + area["height"]
    screenshot(page, "ai-system-versions")

    with page.expect_download() as download_info:
        page.click("#table-versions a.csv-link")
    download = download_info.value
    assert download.suggested_filename == "assistant_versions_2026-10-01_2026-12-01.csv"
    with open(download.path(), encoding="utf-8", newline="") as exported:
        rows = {row["Version"]: row for row in csv.DictReader(exported)}
    assert list(rows) == ["1.0", "2.0", "2.1"]
    for label, footprint in (("2.0", served), ("2.1", quantised)):
        row = rows[label]
        assert float(row["IT energy per 1 M output tokens (kWh)"]) == pytest.approx(
            footprint.energy_kwh_per_1m_output_tokens
        )
        assert float(row["Carbon per 1,000 requests, lifecycle (kgCO2e)"]) == pytest.approx(
            footprint.lifecycle_kgco2e_per_1k_requests
        )
        assert float(row["Serving cost in the period (EUR)"]) == pytest.approx(
            footprint.serving.cost
        )
    assert float(rows["2.0"]["Carbon per 1,000 requests, serving (kgCO2e)"]) == pytest.approx(
        EXPECTED["kgco2e_per_1k_requests"]
    )
    assert float(rows["2.1"]["IT energy per 1 M output tokens (kWh)"]) == pytest.approx(0.25)
