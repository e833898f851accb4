"""Break-even of a new version, on plain numbers checked by hand."""

from datetime import date

import pytest

from assessments.decisions.break_even import (
    Outcome,
    break_even,
    requests_per_day,
    saving_per_request,
)

approx = pytest.approx
AS_OF = date(2026, 12, 1)


def test_a_distillation_pays_back_in_money_and_in_carbon_as_by_hand():
    # Money: 40 h x 50 EUR + 0 other + 0.60 EUR of producing energy = 2,000.60 EUR; the parent
    # served at 0.05 EUR per 1,000 requests, the new version at 0.018: 3.2e-5 EUR per request.
    # 2,000.60 / 3.2e-5 = 62,518,750 requests; 60,000 served; 1,000,000 a day ->
    # 62.45875 days -> 63 days after 2026-12-01 = 2027-02-02.
    money = break_even(
        one_off=2_000.60,
        saving_per_request=saving_per_request(0.05 / 1_000, 0.018 / 1_000),
        requests_served=60_000,
        requests_per_day=1_000_000,
        as_of=AS_OF,
    )
    assert money.saving_per_request == approx(3.2e-5)
    assert money.requests_to_break_even == approx(62_518_750)
    assert money.days_left == approx(62.45875)
    assert money.date == date(2027, 2, 2)
    assert money.outcome == Outcome.PENDING
    # Carbon: 5.2 kgCO2e to produce; 0.3 -> 0.116 kg per 1,000 requests: 1.84e-4 kg each.
    # 5.2 / 1.84e-4 = 28,260.87 requests < 60,000 served: already paid back.
    carbon = break_even(
        one_off=5.2,
        saving_per_request=saving_per_request(0.3 / 1_000, 0.116 / 1_000),
        requests_served=60_000,
        requests_per_day=1_000_000,
        as_of=AS_OF,
    )
    assert carbon.requests_to_break_even == approx(28_260.869565)
    assert carbon.outcome == Outcome.PAID_BACK
    assert carbon.date == AS_OF and carbon.days_left == 0


def test_part_of_a_day_counts_as_a_whole_day():
    result = break_even(
        one_off=10.0, saving_per_request=0.01, requests_served=0, requests_per_day=400, as_of=AS_OF
    )
    # 1,000 requests at 400 a day: 2.5 days -> paid back by the end of the third day.
    assert result.requests_to_break_even == approx(1_000)
    assert result.days_left == approx(2.5)
    assert result.date == date(2026, 12, 4)


@pytest.mark.parametrize("saving", [0.0, -0.002, None])
def test_no_saving_or_a_negative_one_never_pays_back(saving):
    result = break_even(
        one_off=100.0,
        saving_per_request=saving,
        requests_served=5,
        requests_per_day=10,
        as_of=AS_OF,
    )
    assert result.outcome == Outcome.NEVER
    assert result.requests_to_break_even is None and result.date is None
    assert result.days_left is None


def test_zero_volume_gives_the_requests_but_no_date():
    result = break_even(
        one_off=100.0, saving_per_request=0.5, requests_served=0, requests_per_day=0, as_of=AS_OF
    )
    assert result.outcome == Outcome.NO_VOLUME
    assert result.requests_to_break_even == approx(200)
    assert result.date is None and result.days_left is None


def test_a_date_past_the_calendar_is_not_named():
    result = break_even(
        one_off=1e9, saving_per_request=1e-9, requests_served=0, requests_per_day=1, as_of=AS_OF
    )
    assert result.outcome == Outcome.BEYOND_CALENDAR
    assert result.date is None and result.requests_to_break_even == approx(1e18)


def test_a_saving_unknown_on_either_side_is_none():
    assert saving_per_request(None, 0.1) is None
    assert saving_per_request(0.1, None) is None
    assert saving_per_request(0.3, 0.1) == approx(0.2)


def test_volume_is_the_last_30_days_or_the_days_served_when_fewer():
    assert requests_per_day(3_000, days_served=45) == approx(100)
    assert requests_per_day(3_000, days_served=10) == approx(300)
    assert requests_per_day(3_000, days_served=0) == 0
    assert requests_per_day(0, days_served=30) == 0
