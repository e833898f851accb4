"""In-service time kept by the rollup (assessments.footprint.in_service): the embodied carbon of
in-service hours nothing measured, read from device windows and per-day rows, follows every
change that moves it (inventory saves, late and back-filled samples, today's partial day) and
equals the per-device computation it replaced on a case checked by hand."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from assessments.footprint import footprint_math as fm
from assessments.footprint import selectors
from assessments.footprint.in_service import in_service_figures
from assessments.footprint.rollup import rollup_dirty_hours
from assessments.footprint.selectors import footprint, unmeasured_embodied
from assessments.models import DailyInServiceFact, DeviceInService, InServiceStale
from tests.assessments.footprint.rollup_factories import (
    add_samples,
    make_device,
    make_gpu_model,
    make_host,
    make_site,
)

pytestmark = pytest.mark.django_db

NOV1, NOV2, NOV3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
PERIOD = (NOV1, NOV3)  # 48 hours
# Test GPU 9000: 26,280 kgCO2e over 3 years = 1 kg/h; the host: 35,040 kgCO2e over 4 years
# = 1 kg/h shared by its two GPUs: 1.5 kgCO2e per GPU-hour.
RATE = 1.5


def at(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.fixture
def case():
    """Host h (bought 1 November) with GPUs a and b; a measured 08:00-10:00 on 2 November."""
    lab, annex = make_site(), make_site(name="annex", zone="OTHER-ZONE")
    host = make_host(lab, purchased=NOV1)
    a, b = make_device(host, index=0), make_device(host, index=1)
    add_samples(a, end=at(NOV2, 10), count=120, every_s=60.0, power_w=300.0)
    rollup_dirty_hours()
    assert not InServiceStale.objects.exists()
    return {"host": host, "a": a, "b": b, "lab": lab, "annex": annex}


def per_device(start: date, end: date, site=None) -> float:
    """The computation this replaced: every device's in-service hours, per period."""
    period_start, period_end = selectors.as_utc_datetime(start), selectors.as_utc_datetime(end)
    devices = selectors._devices_in_service(period_start, site)
    return selectors._unmeasured_embodied(devices, period_start, period_end)


def figures(start=NOV1, end=NOV3, site=None) -> float:
    [value] = in_service_figures([(start, end)], site=site)
    return value.unmeasured_embodied_kgco2e


def test_hand_checked_case_equals_the_per_device_computation(case):
    # 2 GPUs x 48 h in service, 2 h measured: 94 h x 1.5 kg/h.
    assert figures() == pytest.approx(94 * RATE)
    assert unmeasured_embodied([PERIOD]) == [pytest.approx(94 * RATE)]
    assert per_device(*PERIOD) == pytest.approx(94 * RATE)
    # The stored rows: one for the measured day of host h; every device's window.
    [row] = DailyInServiceFact.objects.all()
    assert (row.day, row.reported_devices, row.measured_seconds) == (NOV2, 1, 7200.0)
    assert row.unmeasured_hours == pytest.approx(22.0)
    assert DeviceInService.objects.count() == 2
    # The API: embodied = measured hours' embodied + the un-measured; coverage over the device
    # that reported (48 h in service, 2 h measured).
    result = footprint(start=NOV1, end=NOV3)
    assert result["embodied_kgco2e"] == pytest.approx(96 * RATE)
    assert result["coverage"] == pytest.approx(2 / 48)
    assert result["unallocated_embodied_kgco2e"] == pytest.approx(96 * RATE)
    assert figures(site=case["annex"]) == 0.0
    assert figures(site=case["lab"]) == pytest.approx(94 * RATE)


def read_now_and_after_rollup(expected: float, site=None, per_device_agrees=True):
    """An inventory edit shows at once (the host is worked out live), and the rows the next
    rollup run rebuilds give the same figure.

    per_device_agrees False: where the per-day rules differ from the per-period computation
    they replaced (docs/methodology.md, "In service, no measurement"): hours measured outside
    the service window offset nothing, and a day without facts is priced at today's rate
    rather than at the rate of the device's last fact in the period.
    """
    assert InServiceStale.objects.exists()
    assert figures(site=site) == pytest.approx(expected)
    if per_device_agrees:
        assert per_device(*PERIOD, site=site) == pytest.approx(expected)
    rollup_dirty_hours()
    assert not InServiceStale.objects.exists()
    assert figures(site=site) == pytest.approx(expected)


def test_purchase_date_moved(case):
    host = case["host"]
    host.purchased = NOV2
    host.save()
    read_now_and_after_rollup((48 - 2) * RATE)
    assert set(DeviceInService.objects.values_list("since", flat=True)) == {at(NOV2)}


def test_decommissioned(case):
    host = case["host"]
    host.decommissioned = NOV2
    host.save()
    # 1 November only, where nothing was measured; the 2 hours of 2 November are outside
    # the window and offset nothing (per period they took 2 hours off 1 November's).
    read_now_and_after_rollup(48 * RATE, per_device_agrees=False)
    assert per_device(*PERIOD) == pytest.approx(46 * RATE)


def test_site_changed(case):
    host = case["host"]
    host.site = case["annex"]
    host.save()
    read_now_and_after_rollup(94 * RATE, site=case["annex"])
    assert figures(site=case["lab"]) == 0.0


def test_embodied_factors_and_lifetimes(case):
    host = case["host"]
    host.lifetime_years = 2.0  # the host's share doubles: 1 + 1 = 2 kg/h a GPU
    host.save()
    # b (not measured at all) at today's rate 2.0; a's 22 un-measured hours of 2 November at
    # the rate stored with its facts (1.5), its 24 of 1 November at today's rate.
    read_now_and_after_rollup(48 * 2.0 + 22 * RATE + 24 * 2.0, per_device_agrees=False)
    # Per period, a's 46 un-measured hours all took the rate of its last fact.
    assert per_device(*PERIOD) == pytest.approx(48 * 2.0 + 46 * RATE)


def test_hardware_model_saved(case):
    model = make_gpu_model()
    model.lifetime_years = 6.0  # the GPU's own part halves: 0.5 + 0.5 = 1 kg/h
    model.save()
    assert InServiceStale.objects.filter(host_id__isnull=True).exists()
    read_now_and_after_rollup(48 * 1.0 + 22 * RATE + 24 * 1.0, per_device_agrees=False)


def test_device_added_or_removed(case):
    make_device(case["host"], index=2)  # three GPUs share the host: 1 + 1/3 kg/h each
    rate = 1 + 1 / 3
    read_now_and_after_rollup(48 * rate * 2 + 22 * RATE + 24 * rate, per_device_agrees=False)
    case["b"].delete()
    read_now_and_after_rollup(48 * RATE + 22 * RATE + 24 * RATE)


def test_device_moved_to_another_host(case):
    """Both hosts are rebuilt: the device is counted once, on its new host and site."""
    b = case["b"]
    b.host = make_host(case["annex"], purchased=NOV1)
    b.save()
    # Alone on their hosts, each GPU carries the whole host share: 1 + 1 = 2 kg/h.
    read_now_and_after_rollup(48 * 2.0 + 22 * RATE + 24 * 2.0, per_device_agrees=False)
    assert figures(site=case["annex"]) == pytest.approx(48 * 2.0)


def test_late_samples_for_a_past_day(case):
    before = figures()
    add_samples(case["b"], end=at(NOV1, 6), count=180, every_s=60.0, power_w=250.0)
    rollup_dirty_hours()
    assert not InServiceStale.objects.exists()  # the windows did not move: rows only
    assert figures() == pytest.approx(before - 3 * RATE)
    assert figures() == pytest.approx(per_device(*PERIOD))
    assert DailyInServiceFact.objects.filter(day=NOV1).get().unmeasured_hours == pytest.approx(21)


def test_back_filled_history_moves_the_window_of_a_device_without_purchase_date(case):
    """A device in service since its first sighting: samples from before it (history pushed
    after registration) move its window, so the host is rebuilt."""
    host = make_host(case["lab"])
    seen = at(NOV2, 12)
    c = make_device(host, first_seen_at=seen)
    rollup_dirty_hours()  # the inventory marks are rebuilt
    one_gpu_rate = 1.0 + 1.0  # alone on its host: the whole host share
    assert figures() == pytest.approx(94 * RATE + 12 * one_gpu_rate)
    add_samples(c, end=at(NOV2, 1), count=60, every_s=60.0, power_w=200.0)  # 00:00-01:00
    rollup_dirty_hours()
    assert DeviceInService.objects.get(device=c).since == at(NOV2)
    # In service from midnight: 24 h, 1 measured.
    assert figures() == pytest.approx(94 * RATE + 23 * one_gpu_rate)
    assert figures() == pytest.approx(per_device(*PERIOD))


def test_todays_partial_day_is_extended_to_now_and_recomputed(case, monkeypatch):
    """Today's row counts up to the rollup run; a read an hour later adds the hour (the
    windows reach now and the row's slope), and the next run's row agrees."""
    today = date(2026, 11, 5)
    now = [at(today, 10)]
    monkeypatch.setattr(timezone, "now", lambda: now[0])
    add_samples(case["a"], end=at(today, 9), count=60, every_s=60.0, power_w=300.0)
    rollup_dirty_hours()
    period = (NOV1, today + timedelta(days=1))
    hours_in_service = 2 * (4 * 24 + 10)
    assert figures(*period) == pytest.approx((hours_in_service - 3) * RATE)
    assert figures(*period) == pytest.approx(per_device(*period))

    now[0] = at(
        today,
        13,
    ) + timedelta(minutes=30)
    later = (hours_in_service + 2 * 3.5 - 3) * RATE
    assert figures(*period) == pytest.approx(later)
    assert figures(*period) == pytest.approx(per_device(*period))
    assert figures(today, today + timedelta(days=1)) == pytest.approx((2 * 13.5 - 1) * RATE)
    # A new sample of today, rolled up: the row is recomputed to the new now.
    add_samples(
        case["b"],
        end=at(
            today,
            13,
        )
        + timedelta(minutes=30),
        count=30,
        every_s=60.0,
        power_w=300.0,
    )
    rollup_dirty_hours()
    row = DailyInServiceFact.objects.get(day=today)
    assert row.counted_until == now[0] and row.reported_devices == 2
    assert figures(*period) == pytest.approx(later - 0.5 * RATE)
    assert figures(*period) == pytest.approx(per_device(*period))
    # Tomorrow: today's row is extended to midnight, the new day has only windows.
    now[0] = at(today + timedelta(days=1), 6)
    assert figures(*period) == pytest.approx((2 * (5 * 24) - 3 - 0.5) * RATE)
    assert figures(*period) == pytest.approx(per_device(*period))


def test_everything_stale_is_worked_out_live(case):
    """After the migration (every host marked) reads are right before the first rollup."""
    from assessments.footprint.in_service import in_service_mark_stale

    DailyInServiceFact.objects.all().delete()
    DeviceInService.objects.all().delete()
    in_service_mark_stale(None)
    assert figures() == pytest.approx(94 * RATE)
    assert footprint(start=NOV1, end=NOV3)["coverage"] == pytest.approx(2 / 48)
    rollup_dirty_hours()
    assert DeviceInService.objects.count() == 2
    assert figures() == pytest.approx(94 * RATE)


def test_measured_device_day_arithmetic():
    day = at(NOV2)
    # In service all day, 2 h measured at a stored 1.5, current rate 2: 22 h x 1.5.
    figures_ = fm.measured_device_day(at(NOV1), None, day, at(NOV3), 2.0, 1.5, 2.0)
    assert figures_ == (24.0, 22.0, 33.0, 48.0, False, 0.0)
    # Counted to 10:00, still in service: the correction grows by 1.5 - 2 an hour.
    partial = fm.measured_device_day(at(NOV1), None, day, at(NOV2, 10), 2.0, 1.5, 2.0)
    assert partial == (10.0, 8.0, 12.0, 20.0, True, -0.5)
    # Measured outside the window (before the purchase) never offsets another day.
    before = fm.measured_device_day(at(NOV3), None, day, at(NOV3), 5.0, None, 2.0)
    assert before == (0.0, 0.0, 0.0, 0.0, False, 0.0)
    assert fm.service_window(None, at(NOV2, 12), at(NOV2, 1), None) == (at(NOV2, 1), None)
    assert fm.service_window(at(NOV1), at(NOV2), at(NOV1, 1), at(NOV3)) == (at(NOV1), at(NOV3))
    assert fm.service_end(at(NOV3), None, at(NOV2)) == at(NOV2)  # bought later: empty
    assert fm.service_end(at(NOV1), at(NOV3), at(NOV2, 5)) == at(NOV2, 5)  # not past now
