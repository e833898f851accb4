"""The chart module builds figures from plain selector output (no ORM, no request)."""

from datetime import date

import plotly.graph_objects as go
import pytest

from assessments.dashboards import charts

SERIES = [
    {
        "period": date(2026, 10, 5),
        "energy_it_kwh": 1.2,
        "energy_facility_kwh": 1.56,
        "operational_kgco2e": 0.087,
        "embodied_kgco2e": 0.08,
        "total_kgco2e": 0.167,
        "cost": 0.312,
    },
    {
        "period": date(2026, 10, 6),
        "energy_it_kwh": 2.0,
        "energy_facility_kwh": 2.6,
        "operational_kgco2e": 0.15,
        "embodied_kgco2e": 0.08,
        "total_kgco2e": 0.23,
        "cost": 0.52,
    },
]


def test_energy_trend_plots_it_and_facility_energy_in_kwh():
    fig = charts.energy_trend_figure(SERIES)
    assert isinstance(fig, go.Figure)
    it, facility = fig.data
    assert list(it.x) == ["2026-10-05", "2026-10-06"]
    assert list(it.y) == [1.2, 2.0] and list(facility.y) == [1.56, 2.6]
    assert fig.layout.yaxis.title.text == "kWh"


def test_a_single_day_is_drawn_as_a_bar_not_a_hairline():
    fig = charts.energy_trend_figure(SERIES[:1], start=date(2026, 10, 1), end=date(2026, 11, 1))
    assert fig.data[0].width == pytest.approx(0.8 * 86_400_000)
    assert list(fig.layout.xaxis.range) == ["2026-09-30T12:00:00", "2026-10-31T12:00:00"]


def test_carbon_trend_stacks_operational_and_embodied():
    fig = charts.carbon_trend_figure(SERIES)
    assert fig.layout.barmode == "stack"
    assert [trace.name for trace in fig.data] == ["Operational", "Embodied (amortised)"]
    assert fig.layout.yaxis.title.text == "kgCO2e"


def test_cost_trend_names_the_currency():
    fig = charts.cost_trend_figure(SERIES, currency="EUR")
    assert fig.layout.yaxis.title.text == "EUR"
    assert list(fig.data[0].y) == [0.312, 0.52]


def test_breakdown_puts_the_largest_on_top():
    rows = [
        {"label": "NLP", "total_kgco2e": 5.0, "operational_kgco2e": 4.0, "embodied_kgco2e": 1.0},
        {"label": "Vision", "total_kgco2e": 9.0, "operational_kgco2e": 6.0, "embodied_kgco2e": 3.0},
    ]
    fig = charts.carbon_split_figure(rows, title="By team")
    # Horizontal bars draw from the bottom: the largest comes last.
    assert list(fig.data[0].y) == ["NLP", "Vision"]
    assert list(fig.data[0].x) == [4.0, 6.0] and list(fig.data[1].x) == [1.0, 3.0]
    assert fig.layout.title.text == "By team (kgCO2e)"
    single = charts.breakdown_figure(rows, title="Total", unit="kgCO2e")
    assert list(single.data[0].x) == [5.0, 9.0]


def test_per_unit_figure_converts_to_wh_and_g_and_skips_days_without_units():
    series = [
        {"period": date(2026, 10, 5), "kwh_per_unit": 0.002, "kgco2e_per_unit": 0.0001},
        {"period": date(2026, 10, 6), "kwh_per_unit": None, "kgco2e_per_unit": None},
    ]
    fig = charts.per_unit_figure(series, work_unit="inferences")
    energy, carbon = fig.data
    assert list(energy.y) == [pytest.approx(2.0)] and list(carbon.y) == [pytest.approx(0.1)]
    assert "per inferences" in fig.layout.title.text
    assert fig.layout.yaxis2.title.text == "gCO2e per inferences"


def test_hardware_figures_use_each_hosts_numbers():
    hosts = [
        {
            "label": "gpu-node-01",
            "energy_it_kwh": 10.0,
            "idle_energy_it_kwh": 2.5,
            "operational_kgco2e": 1.0,
            "embodied_kgco2e": 0.4,
            "age_years": 2.0,
            "lifetime_years": 4.0,
        }
    ]
    working, idle = charts.idle_energy_figure(hosts).data
    assert list(working.y) == [7.5] and list(idle.y) == [2.5]
    age, lifetime = charts.age_vs_lifetime_figure(hosts).data
    assert list(age.y) == [2.0] and list(lifetime.y) == [4.0]
    operational, embodied = charts.embodied_vs_operational_figure(hosts).data
    assert list(operational.y) == [1.0] and list(embodied.y) == [0.4]


def test_utilisation_figure_shows_share_of_idle_hours():
    devices = [{"label": "n/gpu0", "hours": 10, "util_mean_pct": 40.0, "idle_hours": 5}]
    util, idle = charts.utilisation_figure(devices).data
    assert list(util.x) == [40.0] and list(idle.x) == [50.0]
    assert list(util.y) == ["n/gpu0"]


def test_empty_figure_says_there_is_no_data():
    fig = charts.energy_trend_figure([])
    assert fig.layout.annotations[0].text == charts.NO_DATA
    assert not charts.carbon_trend_figure(SERIES).layout.annotations


def test_figure_json_is_plain_lists_for_plotly_js():
    payload = charts.figure_json(charts.energy_trend_figure(SERIES))
    assert payload["data"][0]["y"] == [1.2, 2.0]  # not a base64 typed array
    assert payload["data"][0]["type"] == "bar"


# --- User-chosen names are shown, never interpreted -----------------------------------------------

LINK_NAME = '<a href="http://x">p</a>'


def _no_markup(fig: go.Figure) -> str:
    text = fig.to_json()
    assert "<a href" not in text and "<a " not in text
    return text


def test_a_project_name_with_a_link_is_escaped_in_bar_labels():
    rows = [{"label": LINK_NAME, "total_kgco2e": 1.0}]
    fig = charts.breakdown_figure(rows, title="Carbon by project")
    _no_markup(fig)
    assert list(fig.data[0].y) == ['&lt;a href="http://x"&gt;p&lt;/a&gt;']


def test_names_in_stacked_bars_legends_and_titles_are_escaped():
    rows = [
        {
            "label": LINK_NAME,
            "total_kgco2e": 2.0,
            "operational_kgco2e": 1.0,
            "embodied_kgco2e": 1.0,
        }
    ]
    _no_markup(charts.carbon_split_figure(rows, title=f"Devices of {LINK_NAME}"))
    per_unit = [dict(SERIES[0], kwh_per_unit=0.1, kgco2e_per_unit=0.01)]
    fig = charts.per_unit_figure(per_unit, work_unit=LINK_NAME)
    _no_markup(fig)
    assert fig.data[0].name.startswith("Energy per &lt;a href")


def test_an_ampersand_in_a_name_still_reads_as_one():
    fig = charts.breakdown_figure([{"label": "R&D", "total_kgco2e": 1.0}], title="T")
    assert list(fig.data[0].y) == ["R&amp;D"]  # plotly shows the entity as "&"


def test_roi_chart_escapes_optimisation_labels():
    from assessments.decisions.charts import roi_cumulative_figure

    series = [
        {
            "label": LINK_NAME,
            "points": [(date(2026, 10, 1), 1.0)],
            "projection": [],
            "applied_on": date(2026, 10, 1),
            "investment": 5.0,
        }
    ]
    _no_markup(roi_cumulative_figure(series, currency="EUR"))


@pytest.mark.django_db
def test_the_chart_json_of_a_project_named_with_a_link_has_no_link(client):
    from assessments.models import UserProfile
    from tests.assessments.dashboards import page_factories as pf

    world = pf.make_world()
    world.project.name = LINK_NAME
    world.project.save()
    client.force_login(pf.make_user("viewer", UserProfile.Role.VIEWER))
    answer = client.get("/charts/top-projects.json", pf.FILTERS)
    assert answer.status_code == 200
    assert "<a href" not in answer.content.decode()
    assert "&lt;a href" in answer.content.decode()


def _version_row(label, energy_kwh_per_1m, quality):
    return {
        "label": label,
        "energy_kwh_per_1m_output_tokens": energy_kwh_per_1m,
        "quality_metric": "MMLU accuracy",
        "quality_value": quality,
    }


def test_energy_against_quality_leaves_room_for_the_outermost_versions_names():
    fig = charts.energy_quality_figure(
        [_version_row("assistant 2.0", 0.3, 0.71), _version_row("assistant 2.1", 0.25, 0.69)]
    )
    # Spans 0.05 kWh and 0.02: a quarter (0.0125) and a fifth (0.004) of them on each side.
    assert list(fig.layout.xaxis.range) == pytest.approx([0.2375, 0.3125])
    assert list(fig.layout.yaxis.range) == pytest.approx([0.686, 0.714])


def test_energy_against_quality_of_one_version_keeps_plotlys_own_range():
    fig = charts.energy_quality_figure([_version_row("assistant 2.0", 0.3, 0.71)])
    assert fig.layout.xaxis.range is None and fig.layout.yaxis.range is None
    assert charts.energy_quality_figure([]).layout.xaxis.range is None
