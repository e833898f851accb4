"""Services and selectors of assessments.decisions on facts written directly."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError

from assessments.decisions import selectors, services
from assessments.models import GridIntensityHour, GridZone, Optimisation, Recommendation
from assessments.tasks import refresh_recommendations
from tests.assessments.decisions.decisions_factories import (
    at,
    make_device,
    make_organisation,
    make_project,
    make_site,
    make_team,
    record_units,
    write_daily_usage,
    write_hour,
)

pytestmark = pytest.mark.django_db

APPLIED = date(2026, 10, 15)
NOW = at(date(2026, 11, 4), 12)


@pytest.fixture
def halving_project():
    """14 days at 0.15 kWh per unit, the change day, then 14 days at 0.075 kWh per unit."""
    make_organisation(rate=80.0, carbon_price=100.0)
    project = make_project("chat")
    device = make_device()
    write_daily_usage(device, project, APPLIED - timedelta(days=14), 14, it_kwh=10.0, units=100)
    write_daily_usage(device, project, APPLIED + timedelta(days=1), 14, it_kwh=5.0, units=100)
    return project


def applied_quantisation(project, **fields):
    values = dict(
        technique="quantisation",
        applied_on=APPLIED,
        status=Optimisation.Status.APPLIED,
        engineering_hours=10,
        other_costs=200,
    )
    values.update(fields)
    return services.optimisation_create(project=project, **values)


def test_measured_return_of_a_halving_matches_the_hand_computation(halving_project):
    optimisation = applied_quantisation(halving_project)

    result = selectors.optimisation_measure(optimisation=optimisation, now=NOW)

    measured = result.measured
    assert measured.conclusive, measured.warnings
    # Per unit before: 15 kWh facility, 6.01 kg, 3.00 EUR per 100 units; after: half (+0.01 kg).
    assert measured.baseline.facility_energy_kwh_per_unit == pytest.approx(0.15)
    assert measured.evaluation.facility_energy_kwh_per_unit == pytest.approx(0.075)
    # Units of the last 30 days (Oct 5 - Nov 3): 10 baseline days + 14 evaluation days.
    assert measured.monthly_units == pytest.approx(2400)
    assert result.monthly_facility_energy_kwh == pytest.approx(180.0)
    assert result.monthly_kgco2e == pytest.approx(72.0)
    assert result.monthly_cost == pytest.approx(36.0)
    assert result.investment == pytest.approx(1000.0)  # 10 h x 80 + 200
    assert result.payback_months == pytest.approx(1000 / 36)
    assert result.net_return_3y == pytest.approx(36 * 36 - 1000)
    assert measured.carbon_value_per_month == pytest.approx(7.2)
    assert result.estimate is None
    # Cumulative savings: 1.50 EUR a day over the 14 evaluation days, then nothing more.
    assert result.cumulative[13][1] == pytest.approx(21.0)
    assert result.cumulative[-1][1] == pytest.approx(21.0)


def test_a_project_with_too_few_days_is_measured_with_a_warning():
    make_organisation()
    project = make_project("thin")
    device = make_device()
    write_daily_usage(device, project, APPLIED - timedelta(days=14), 14, it_kwh=10.0, units=100)
    write_daily_usage(device, project, APPLIED + timedelta(days=1), 3, it_kwh=5.0, units=100)
    optimisation = applied_quantisation(project)

    result = selectors.optimisation_measure(optimisation=optimisation, now=NOW)

    assert not result.measured.conclusive
    assert any("only 3 days" in warning for warning in result.measured.warnings)
    assert services.optimisations_verify(now=NOW) == 0


def test_optimisation_with_its_own_hourly_rate_overrides_the_organisations(halving_project):
    optimisation = applied_quantisation(halving_project, hourly_rate=100.0)

    result = selectors.optimisation_measure(optimisation=optimisation, now=NOW)

    assert result.investment == pytest.approx(10 * 100 + 200)


def test_planned_optimisation_gets_a_what_if_estimate_with_its_source():
    make_organisation()
    project = make_project("planned")
    device = make_device()
    # Last 30 days: 10 days x 15 kWh facility = 150 kWh, 30 EUR.
    write_daily_usage(device, project, date(2026, 10, 20), 10, it_kwh=10.0, units=100)
    optimisation = services.optimisation_create(
        project=project, technique="quantisation", engineering_hours=5
    )

    result = selectors.optimisation_measure(optimisation=optimisation, now=NOW)

    assert result.measured is None
    estimate = result.estimate
    assert estimate.monthly_facility_energy_kwh.low == pytest.approx(15.0)  # 10%
    assert estimate.monthly_facility_energy_kwh.high == pytest.approx(60.0)  # 40%
    assert estimate.monthly_cost.high == pytest.approx(12.0)
    assert "Jacob" in estimate.saving.source
    assert estimate.payback_months.low == pytest.approx(400 / 12)


def test_applied_optimisation_needs_its_date_and_bad_numbers_are_refused():
    make_organisation()
    project = make_project("bad")

    with pytest.raises(ValidationError) as error:
        services.optimisation_create(
            project=project, technique="pruning", status="applied", engineering_hours=-3
        )

    assert "applied_on" in error.value.message_dict
    assert "engineering_hours" in error.value.message_dict
    assert not Optimisation.objects.exists()


def test_verification_marks_a_conclusive_measurement_and_totals_its_savings(halving_project):
    applied_quantisation(halving_project)

    assert services.optimisations_verify(now=NOW) == 1
    total = selectors.verified_savings_total(now=NOW)

    assert total.count == 1
    assert total.facility_energy_kwh == pytest.approx(180.0)
    assert total.cost == pytest.approx(36.0)
    assert total.kgco2e == pytest.approx(72.0)


def test_work_records_spanning_days_are_spread_pro_rata():
    make_organisation()
    project = make_project("spread")
    record_units(project, date(2026, 10, 1), 300, days=3)

    units = selectors.project_daily_units(project.pk, date(2026, 10, 2), date(2026, 10, 10))

    assert units == {date(2026, 10, 2): pytest.approx(100), date(2026, 10, 3): pytest.approx(100)}


# --- Recommendations ---------------------------------------------------------------------------

END = at(date(2026, 11, 10))


def write_idle_hours(device, first_hour, count, *, site=None):
    for h in range(count):
        write_hour(device, first_hour + timedelta(hours=h), it_kwh=0.05, util=1.0, site=site)


@pytest.fixture
def idle_device():
    make_organisation()
    device = make_device("node-9")
    write_idle_hours(device, END - timedelta(hours=20), 20)
    return device


def test_refresh_creates_an_idle_gpu_recommendation_with_its_saving(idle_device):
    summary = services.recommendations_refresh(now=END)

    [recommendation] = Recommendation.objects.all()
    assert summary.created == 1
    assert recommendation.kind == "idle_gpu"
    assert recommendation.device == idle_device
    assert recommendation.status == "open"
    # 20 h x 0.05 kWh x PUE 1.5 = 1.5 kWh over the 30-day period, i.e. per month.
    assert recommendation.monthly_facility_energy_kwh == pytest.approx(1.5)
    assert recommendation.monthly_cost == pytest.approx(0.3)
    assert recommendation.monthly_kgco2e == pytest.approx(1.5 * 0.4 + 20 * 0.01)
    assert recommendation.evidence["idle_gpu_hours"] == 20
    assert recommendation.period_end == END


def test_dismissed_recommendation_stays_dismissed_until_the_evidence_changes(idle_device):
    services.recommendations_refresh(now=END)
    recommendation = Recommendation.objects.get()
    services.recommendation_dismiss(
        recommendation=recommendation, user=None, reason="Spare GPU kept for failover."
    )

    # The same data a day later: the dismissal holds.
    summary = services.recommendations_refresh(now=END + timedelta(hours=1))
    recommendation.refresh_from_db()
    assert summary.kept_dismissed == 1
    assert recommendation.status == "dismissed"

    # Twice the idle time: the saving changed materially, so it comes back.
    write_idle_hours(idle_device, END, 20)
    summary = services.recommendations_refresh(now=END + timedelta(hours=20))
    recommendation.refresh_from_db()
    assert summary.reopened == 1
    assert recommendation.status == "open"
    assert recommendation.monthly_facility_energy_kwh == pytest.approx(3.0)
    assert recommendation.evidence["previously_dismissed_because"] == (
        "Spare GPU kept for failover."
    )


def test_dismissing_needs_a_reason_and_changes_nothing_without_one(idle_device):
    services.recommendations_refresh(now=END)
    recommendation = Recommendation.objects.get()

    with pytest.raises(ValidationError):
        services.recommendation_dismiss(recommendation=recommendation, user=None, reason="  ")

    recommendation.refresh_from_db()
    assert recommendation.status == "open"


def test_accepting_creates_a_planned_optimisation_that_later_refreshes_leave_alone(idle_device):
    services.recommendations_refresh(now=END)
    recommendation = Recommendation.objects.get()
    project = make_project("infra", phase="inference")

    with pytest.raises(ValidationError):
        services.recommendation_accept(recommendation=recommendation, user=None)
    optimisation = services.recommendation_accept(
        recommendation=recommendation, user=None, project=project
    )

    recommendation.refresh_from_db()
    assert recommendation.status == "accepted"
    assert recommendation.optimisation == optimisation
    assert optimisation.status == "planned"
    assert optimisation.project == project
    services.recommendations_refresh(now=END + timedelta(hours=1))
    recommendation.refresh_from_db()
    assert recommendation.status == "accepted"
    with pytest.raises(ValidationError):
        services.recommendation_dismiss(recommendation=recommendation, user=None, reason="x")


def test_open_recommendation_the_data_no_longer_supports_is_removed(idle_device):
    services.recommendations_refresh(now=END)

    summary = services.recommendations_refresh(now=END + timedelta(days=40))

    assert summary.removed == 1
    assert not Recommendation.objects.exists()


def test_refresh_task_runs_the_service(idle_device):
    result = refresh_recommendations.run(now=END.isoformat())

    assert result["created"] == 1
    assert Recommendation.objects.filter(kind="idle_gpu").exists()


@pytest.fixture
def busy_organisation():
    """Two days of a small organisation on which every rule finds something."""
    make_organisation()
    team = make_team("NLP")
    paris = make_site("paris", zone="FRA", gco2e=400, pue=1.5, price=0.2)
    make_site("stockholm", zone="SWE", gco2e=40, pue=1.1, price=0.25)
    zone = GridZone.objects.get(code="FRA")
    start = END - timedelta(days=2)
    for h in range(48):
        hour = start + timedelta(hours=h)
        value = 100.0 if hour.hour < 6 else 500.0
        GridIntensityHour.objects.create(zone=zone, hour=hour, gco2e_per_kwh=value, source="test")
    pretrain = make_project("pretrain", team=team, phase="training")
    prep = make_project("prep", team=team, phase="data_preparation")
    chat = make_project("chat", team=team, phase="inference")
    trainer = make_device("node-1", 0, site=paris)
    preparer = make_device("node-1", 1, site=paris)
    servers = [make_device("node-2", 0, site=paris), make_device("node-2", 1, site=paris)]
    idle = make_device("node-3", 0, site=paris)
    sleepy = make_device("node-4", 0, site=paris)
    for h in range(48):
        hour = start + timedelta(hours=h)
        write_hour(trainer, hour, it_kwh=0.36, util=95, project=pretrain, site=paris)
        if 9 <= hour.hour < 13:
            write_hour(preparer, hour, it_kwh=0.1, util=60, project=prep, site=paris)
        for server in servers:
            write_hour(server, hour, it_kwh=0.1, util=20, project=chat, site=paris)
        write_hour(idle, hour, it_kwh=0.05, util=1, site=paris)
        write_hour(sleepy, hour, it_kwh=0.002, util=50, site=paris)
    record_units(chat, start.date(), 10_000, days=2)
    return {"pretrain": pretrain, "prep": prep, "chat": chat}


def test_every_rule_finds_its_case_in_the_facts(busy_organisation):
    services.recommendations_refresh(now=END)

    kinds = set(Recommendation.objects.values_list("kind", flat=True))
    assert kinds == {kind.value for kind in Recommendation.Kind}
    power_cap = Recommendation.objects.get(kind="power_cap")
    assert power_cap.project == busy_organisation["pretrain"]
    # 48 h x 0.54 kWh facility x 15% over a 30-day period.
    assert power_cap.monthly_facility_energy_kwh == pytest.approx(48 * 0.54 * 0.15)
    timing = Recommendation.objects.get(kind="carbon_aware_timing")
    assert timing.project == busy_organisation["prep"]
    # Each day 4 h x 0.15 kWh at 500 g could run at 100 g: 0.24 kg a day.
    assert timing.monthly_kgco2e == pytest.approx(0.48)
    candidate = Recommendation.objects.get(kind="optimisation_candidate")
    assert candidate.project == busy_organisation["chat"]
    assert candidate.evidence["units"] == 10_000
    assert Recommendation.objects.get(kind="hardware_lifetime").target == "node-4"


def test_top_recommendations_are_the_open_ones_with_the_largest_carbon_saving(
    busy_organisation,
):
    services.recommendations_refresh(now=END)
    biggest = Recommendation.objects.order_by("-monthly_kgco2e").first()
    services.recommendation_dismiss(recommendation=biggest, user=None, reason="Not now.")

    top = selectors.top_recommendations(3)

    assert len(top) == 3
    assert biggest not in top
    assert [r.monthly_kgco2e for r in top] == sorted((r.monthly_kgco2e for r in top), reverse=True)


def test_demo_seeding_records_a_measured_and_an_accepted_optimisation_once():
    from assessments.demo import decisions as decisions_demo

    make_organisation()
    chat = make_project("chat-inference")
    pretrain = make_project("llm-pretrain", phase="training")
    server, trainer = make_device("node-1", 0), make_device("node-2", 0)
    write_daily_usage(server, chat, APPLIED - timedelta(days=14), 14, it_kwh=10.0, units=100)
    write_daily_usage(server, chat, APPLIED + timedelta(days=1), 14, it_kwh=6.0, units=100)
    for h in range(30):
        write_hour(trainer, NOW - timedelta(hours=30 - h), it_kwh=0.38, project=pretrain)

    for _ in range(2):  # seeding again adds nothing
        decisions_demo.seed(
            project_slug="chat-inference", applied_at=at(APPLIED, 10), now=NOW, out=None
        )

    measured = Optimisation.objects.get(project=chat)
    assert measured.status == "verified"
    assert measured.latency_p50_ms_after < measured.latency_p50_ms_before
    planned = Optimisation.objects.get(project=pretrain)
    assert planned.status == "planned"
    assert planned.technique == "power_cap"
    assert Recommendation.objects.get(kind="power_cap").status == "accepted"
    estimate = selectors.optimisation_measure(optimisation=planned, now=NOW).estimate
    assert estimate.monthly_facility_energy_kwh.high > 0
