"""Alert rules on crafted facts: each kind fires above its threshold, not just below it, and
resolves; a value hovering at the threshold makes one episode (docs/watch.md)."""

from datetime import date, timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from assessments.footprint.daily_facts import daily_facts_refresh
from assessments.models import (
    AlertEpisode,
    AlertRule,
    Budget,
    HourlyProjectFact,
    Recommendation,
    WorkRecord,
)
from assessments.watch import alert_math
from assessments.watch.services import alerts_evaluate
from collectors.models import Collector, DirtyHour
from tests.assessments.watch.alert_factories import NOW, day, fact, make_org, rule

pytestmark = pytest.mark.django_db
Kind = AlertRule.Kind


@pytest.fixture
def org():
    return make_org()


def evaluate(now=NOW) -> list[tuple[str, str]]:
    return [(c.event, c.episode.rule.kind) for c in alerts_evaluate(now=now)]


def episodes(kind) -> list[AlertEpisode]:
    return list(AlertEpisode.objects.filter(rule__kind=kind).order_by("pk"))


# --- Pure lifecycle ------------------------------------------------------------------------------


def test_transition_fires_above_and_resolves_only_ten_percent_below():
    assert alert_math.transition(open_episode=False, value=100.01, threshold=100) == "fire"
    assert alert_math.transition(open_episode=False, value=100, threshold=100) is None
    assert alert_math.transition(open_episode=True, value=95, threshold=100) is None
    assert alert_math.transition(open_episode=True, value=90, threshold=100) == "resolve"
    assert alert_math.transition(open_episode=True, value=None, threshold=100) == "resolve"
    assert alert_math.transition(open_episode=False, value=None, threshold=100) is None


def test_the_database_allows_one_open_episode_per_rule(org):
    r = rule(Kind.ROLLUP_LAG, threshold=15)
    AlertEpisode.objects.create(rule=r, started_at=NOW, value=20, threshold=15, summary="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        AlertEpisode.objects.create(rule=r, started_at=NOW, value=21, threshold=15, summary="b")
    AlertEpisode.objects.filter(rule=r).update(resolved_at=NOW)
    AlertEpisode.objects.create(rule=r, started_at=NOW, value=22, threshold=15, summary="c")


# --- Budgets -------------------------------------------------------------------------------------


def test_budget_exceeded_fires_resolves_and_not_just_below(org):
    budget = Budget.objects.create(project=org.project, metric="kwh_it", period="month", limit=10)
    rule(Kind.BUDGET_EXCEEDED, threshold=100, project=org.project)
    fact(org.gpu0, day(10) + timedelta(hours=3), project=org.project, energy_it_kwh=9.99)
    assert evaluate() == []  # 99.9 % of the budget
    fact(org.gpu0, day(9) + timedelta(hours=3), project=org.project, energy_it_kwh=0.02)
    assert evaluate() == [("firing", Kind.BUDGET_EXCEEDED)]  # 100.1 %
    (episode,) = episodes(Kind.BUDGET_EXCEEDED)
    assert episode.value == pytest.approx(100.1)
    assert "llm" in episode.summary and "10.0" in episode.summary
    budget.limit = 20
    budget.save()
    assert evaluate() == [("resolved", Kind.BUDGET_EXCEEDED)]
    episode.refresh_from_db()
    assert episode.resolved_at == NOW and episode.last_value == pytest.approx(50.05)


def test_a_value_hovering_at_the_threshold_makes_one_episode(org):
    budget = Budget.objects.create(project=org.project, metric="kwh_it", period="month", limit=10)
    rule(Kind.BUDGET_EXCEEDED, threshold=100, project=org.project)
    fact(org.gpu0, day(10), project=org.project, energy_it_kwh=10.0)
    events = []
    # Used 10 kWh against a limit moving around it: 100.5 %, 99 %, 101 %, 95 %, 100.3 %.
    for limit in (9.95, 10.1, 9.9, 10.5, 9.97):
        budget.limit = limit
        budget.save()
        events += evaluate()
    assert events == [("firing", Kind.BUDGET_EXCEEDED)]
    assert len(episodes(Kind.BUDGET_EXCEEDED)) == 1
    assert episodes(Kind.BUDGET_EXCEEDED)[0].last_value == pytest.approx(100 * 10 / 9.97)


def test_budget_forecast_fires_resolves_and_not_just_below(org):
    # 1 kWh on each of the 7 days before 20 November: used 7, run-rate 1 a day, 10.5 days left.
    for offset in range(1, 8):
        fact(org.gpu0, day(offset) + timedelta(hours=2), project=org.project, energy_it_kwh=1.0)
    budget = Budget.objects.create(project=org.project, metric="kwh_it", period="month", limit=17.6)
    rule(Kind.BUDGET_FORECAST, threshold=100, project=org.project)
    assert evaluate() == []  # forecast 17.5 = 99.4 % of 17.6
    budget.limit = 17.4
    budget.save()
    assert evaluate() == [("firing", Kind.BUDGET_FORECAST)]
    assert episodes(Kind.BUDGET_FORECAST)[0].value == pytest.approx(100 * 17.5 / 17.4)
    budget.limit = 20
    budget.save()
    assert evaluate() == [("resolved", Kind.BUDGET_FORECAST)]


# --- SCI regression ------------------------------------------------------------------------------


def _sci_days(org, recent_kg: list[float], *, baseline_kg: float = 1.0, units: float = 100):
    """17 days before NOW's day: 14 of baseline_kg per `units`, then the 3 recent days."""
    for offset in range(17, 0, -1):
        kg = baseline_kg if offset > 3 else recent_kg[3 - offset]
        start = day(offset)
        fact(org.gpu0, start + timedelta(hours=5), project=org.project, kgco2e=kg)
        WorkRecord.objects.create(
            project=org.project,
            period_start=start,
            period_end=start + timedelta(days=1),
            units=units,
        )


def test_sci_regression_fires_naming_the_day_it_began_and_resolves(org):
    rule(Kind.SCI_REGRESSION, threshold=20, project=org.project, min_units=50)
    # Recent SCI (1 + 1.6 + 1.6) / 300 = 0.014 against 0.01: +40 %, from the second recent day.
    _sci_days(org, [1.0, 1.6, 1.6])
    assert evaluate() == [("firing", Kind.SCI_REGRESSION)]
    (episode,) = episodes(Kind.SCI_REGRESSION)
    assert episode.value == pytest.approx(40)
    assert episode.began_on == date(2026, 11, 18)
    assert "18 Nov 2026" in episode.summary
    # The recent days back at the baseline: resolved.
    HourlyProjectFact.objects.filter(hour__gte=day(3)).update(operational_kgco2e=1.0)
    daily_facts_refresh(start=day(3), end=day(0))
    assert evaluate() == [("resolved", Kind.SCI_REGRESSION)]


def test_sci_regression_just_below_the_threshold_does_not_fire(org):
    rule(Kind.SCI_REGRESSION, threshold=20, project=org.project)
    _sci_days(org, [1.19, 1.19, 1.19])  # +19 %
    assert evaluate() == []


def test_sci_regression_needs_the_minimum_volume_of_work(org):
    rule(Kind.SCI_REGRESSION, threshold=20, project=org.project, min_units=400)
    _sci_days(org, [2.0, 2.0, 2.0])  # +100 %, but 300 units in the recent days
    assert evaluate() == []


# --- Idle allocated GPUs -------------------------------------------------------------------------


def _idle_hours(org, count: int):
    """`count` consecutive idle hours (1 % utilisation) of gpu0, allocated to the project,
    ending at NOW; gpu1 idles the same hours unallocated (not the scope's)."""
    for back in range(count, 0, -1):
        hour = NOW - timedelta(hours=back)
        fact(org.gpu0, hour, project=org.project, energy_it_kwh=0.1, util=1)
        fact(org.gpu1, hour, project=None, energy_it_kwh=0.1, util=1)


def test_idle_allocated_gpus_fires_above_its_hours_and_not_at_them(org):
    rule(Kind.IDLE_ALLOCATED_GPUS, threshold=8, team=org.team)
    _idle_hours(org, 8)
    assert evaluate() == []  # 8 idle GPU-hours: at the threshold
    fact(org.gpu0, NOW - timedelta(hours=9), project=org.project, energy_it_kwh=0.1, util=1)
    assert evaluate() == [("firing", Kind.IDLE_ALLOCATED_GPUS)]
    (episode,) = episodes(Kind.IDLE_ALLOCATED_GPUS)
    assert episode.value == 9
    assert "9 idle GPU-hours" in episode.summary and "kgCO2e" in episode.summary
    # A day later the last 24 hours hold no idle hour.
    assert evaluate(NOW + timedelta(days=1)) == [("resolved", Kind.IDLE_ALLOCATED_GPUS)]


# --- Host silent ---------------------------------------------------------------------------------


def test_host_silent_fires_after_its_minutes_and_resolves_when_it_reports(org):
    rule(Kind.HOST_SILENT, threshold=30)
    Collector.objects.update(last_seen_at=NOW)
    org.host.last_seen_at = NOW - timedelta(minutes=30)
    org.host.save()
    assert evaluate() == []  # 30 minutes: at the threshold
    org.host.last_seen_at = NOW - timedelta(minutes=31)
    org.host.save()
    assert evaluate() == [("firing", Kind.HOST_SILENT)]
    assert "gpu-node-01" in episodes(Kind.HOST_SILENT)[0].summary
    org.host.last_seen_at = NOW - timedelta(minutes=1)
    org.host.save()
    assert evaluate() == [("resolved", Kind.HOST_SILENT)]


def test_host_silent_counts_a_silent_collector_of_the_team(org):
    rule(Kind.HOST_SILENT, threshold=30, team=org.team)
    org.host.last_seen_at = NOW
    org.host.save()
    Collector.objects.update(last_seen_at=NOW - timedelta(hours=2))
    assert evaluate() == [("firing", Kind.HOST_SILENT)]
    assert "collector nlp-agents" in episodes(Kind.HOST_SILENT)[0].summary


# --- Rollup lag ----------------------------------------------------------------------------------


def test_rollup_lag_fires_after_its_minutes_and_resolves(org):
    rule(Kind.ROLLUP_LAG, threshold=15)
    now = timezone.now()  # the lag is measured from the marks' real age
    mark = DirtyHour.objects.create(
        device=org.gpu0, hour=NOW, marked_at=now - timedelta(minutes=14, seconds=30)
    )
    assert evaluate(now) == []
    DirtyHour.objects.filter(pk=mark.pk).update(marked_at=now - timedelta(minutes=16))
    assert evaluate(now) == [("firing", Kind.ROLLUP_LAG)]
    DirtyHour.objects.all().delete()
    assert evaluate(now) == [("resolved", Kind.ROLLUP_LAG)]


# --- Recommendation saving -----------------------------------------------------------------------


def _recommendation(org, kg: float) -> Recommendation:
    return Recommendation.objects.create(
        kind="idle_gpu",
        fingerprint=f"idle:{kg}",
        target="gpu-node-01",
        project=org.project,
        title="gpu-node-01: idle GPU-hours",
        action="Release them.",
        period_start=NOW - timedelta(days=30),
        period_end=NOW,
        monthly_kgco2e=kg,
        confidence="high",
    )


def test_recommendation_saving_fires_above_its_threshold_and_resolves(org):
    rule(Kind.RECOMMENDATION_SAVING, threshold=100, team=org.team)
    _recommendation(org, 100)
    assert evaluate() == []
    big = _recommendation(org, 150)
    assert evaluate() == [("firing", Kind.RECOMMENDATION_SAVING)]
    assert "150.0 kgCO2e" in episodes(Kind.RECOMMENDATION_SAVING)[0].summary
    Recommendation.objects.filter(pk=big.pk).update(status=Recommendation.Status.DISMISSED)
    # 100 left: not 10 % below the threshold, so still firing.
    assert evaluate() == []
    Recommendation.objects.update(status=Recommendation.Status.DISMISSED)
    assert evaluate() == [("resolved", Kind.RECOMMENDATION_SAVING)]


def test_every_kind_has_a_reader_and_a_threshold():
    from assessments.models.watch import ALERT_THRESHOLDS
    from assessments.watch.alert_readings import READERS

    assert set(READERS) == set(ALERT_THRESHOLDS) == set(Kind.values)


def test_disabled_rules_are_not_evaluated(org):
    rule(Kind.HOST_SILENT, threshold=30, enabled=False)
    org.host.last_seen_at = NOW - timedelta(hours=5)
    org.host.save()
    assert evaluate() == []


def test_host_silent_for_a_project_watches_the_hosts_it_is_allocated(org):
    from assessments.models import Allocation

    rule(Kind.HOST_SILENT, threshold=30, project=org.project)
    org.host.last_seen_at = NOW - timedelta(hours=2)
    org.host.save()
    assert evaluate() == []  # no allocation yet: nothing of the project's is silent
    Allocation.objects.create(project=org.project, host=org.host, start=NOW - timedelta(days=1))
    assert evaluate() == [("firing", Kind.HOST_SILENT)]
