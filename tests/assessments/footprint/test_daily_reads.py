"""Footprint reads over whole days come from the daily aggregates; they equal the hourly reads.

The organisation's figures over whole UTC days (totals, unallocated, coverage and the embodied
carbon of un-measured in-service time) and the factors used are read from DailyDeviceFact,
DailyProjectFact and DailySiteFactors, so they cost devices + days rather than device-hours.
Here both paths answer the same questions on the same facts.
"""

from datetime import date, timedelta

import pytest

from assessments.footprint import selectors
from assessments.footprint.rollup import rollup_dirty_hours
from assessments.footprint.selectors import footprint, footprint_factors
from tests.assessments.footprint.rollup_factories import (
    T0,
    add_samples,
    make_allocation,
    make_device,
    make_host,
    make_project,
    make_site,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet():
    lab, annex = make_site(), make_site(name="annex", zone="OTHER-ZONE", pue=1.2, price=0.1)
    llm = make_project("llm")
    bought = make_host(lab, purchased=date(2026, 10, 1))
    found = make_host(lab)  # no purchase date: in service from its first sighting or fact
    far = make_host(annex)
    gpus = [
        make_device(bought, index=0),
        make_device(bought, index=1),
        make_device(found, index=0, first_seen_at=T0 + timedelta(days=1)),
        make_device(far, index=0),
    ]
    make_device(far, index=1)  # idle all along: only un-measured embodied carbon
    make_allocation(llm, found, start=T0 - timedelta(days=2))
    for day in range(2):
        start = T0 + timedelta(days=day)
        add_samples(
            gpus[0],
            end=start + timedelta(hours=3),
            count=300,
            every_s=36.0,
            power_w=400.0,
            tags=[{"project": "llm", "share": 0.5}],
            util_pct=70,
        )
        add_samples(
            gpus[1],
            end=start + timedelta(hours=1, minutes=30),
            count=45,
            every_s=60.0,
            power_w=200.0,
            util_pct=3,
        )
        add_samples(gpus[3], end=start + timedelta(hours=5), count=100, every_s=97.5, power_w=650.0)
    add_samples(gpus[2], end=T0 - timedelta(hours=3), count=60, every_s=60.0, power_w=300.0)
    rollup_dirty_hours()
    return lab


def hourly(monkeypatch, call):
    monkeypatch.setattr(selectors, "_whole_days", lambda *_: False)
    try:
        return call()
    finally:
        monkeypatch.undo()


def assert_same(daily: dict, hourly: dict):
    assert set(daily) == set(hourly)
    for key, value in hourly.items():
        if isinstance(value, float):
            assert daily[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        elif key == "ranges":
            # Daily device facts (whole days) and hourly facts give the same lows and highs.
            for name, bounds in value.items():
                if bounds is None:
                    assert daily[key][name] is None, name
                    continue
                for side in ("low", "high"):
                    assert daily[key][name][side] == pytest.approx(bounds[side], rel=1e-9), name
        elif key == "range_drivers":
            assert [d["input"] for d in daily[key]] == [d["input"] for d in value]
            for got, want in zip(daily[key], value, strict=True):
                assert got["share"] == pytest.approx(want["share"], rel=1e-9), want["input"]
        else:
            assert daily[key] == value, key


@pytest.mark.parametrize("site", [None, "lab", "annex"])
def test_organisation_figures_over_whole_days_equal_the_hourly_ones(fleet, monkeypatch, site):
    start, end = T0.date() - timedelta(days=1), T0.date() + timedelta(days=3)
    assert selectors._whole_days(selectors.as_utc_datetime(start), selectors.as_utc_datetime(end))
    daily = footprint(start=start, end=end, site=site)
    assert daily["unallocated_embodied_kgco2e"] > 0 and daily["coverage"] > 0
    assert_same(daily, hourly(monkeypatch, lambda: footprint(start=start, end=end, site=site)))


def test_factors_over_whole_days_equal_the_hourly_ones(fleet, monkeypatch):
    start, end = T0.date(), T0.date() + timedelta(days=2)
    for site in (None, "annex"):
        daily = footprint_factors(start=start, end=end, site=site)
        assert daily["sites"]
        assert daily == hourly(
            monkeypatch, lambda site=site: footprint_factors(start=start, end=end, site=site)
        )


def test_factors_follow_late_data_and_a_full_refresh(fleet, monkeypatch):
    """The site-days of factors are rebuilt when a day's devices change (a late batch at
    another site, through the rollup) and when whole days are refreshed."""
    from django.apps import apps

    from assessments.footprint.daily_facts import daily_facts_refresh
    from assessments.models import DailySiteFactors

    start, end = T0.date(), T0.date() + timedelta(days=2)
    before = footprint_factors(start=start, end=end)
    late = make_device(make_host(make_site(name="late", zone="LATE-ZONE", pue=1.9, price=0.3)))
    add_samples(late, end=T0 + timedelta(hours=8), count=30, every_s=60.0, power_w=500.0)
    rollup_dirty_hours()
    after = footprint_factors(start=start, end=end)
    assert [s["site"] for s in after["sites"]] == [*[s["site"] for s in before["sites"]], "late"]
    assert after == hourly(monkeypatch, lambda: footprint_factors(start=start, end=end))

    DailySiteFactors.objects.all().delete()
    daily_facts_refresh(start=selectors.as_utc_datetime(start), end=selectors.as_utc_datetime(end))
    assert footprint_factors(start=start, end=end) == after

    # The migration that added the table fills it from the device-days already kept.
    fill = __import__("assessments.migrations.0008_daily_site_factors", fromlist=["fill"]).fill
    DailySiteFactors.objects.all().delete()
    fill(apps, None)
    assert footprint_factors(start=start, end=end) == after
