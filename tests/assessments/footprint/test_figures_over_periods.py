"""Several periods read at once (scope_figures_over, work_by_kind_over) say what each period
read alone says: the overview compares this month with last month and a year ago in one pass.
"""

from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta

import pytest

from assessments.footprint import footprint_math as fm
from assessments.footprint.scope_figures import Scope, scope_figures, scope_figures_over
from assessments.footprint.work import work_by_kind, work_by_kind_over
from assessments.models import MEASURE_FIELDS, WorkRecord
from tests.assessments.footprint.rollup_factories import HOUR, T0
from tests.assessments.footprint.test_work_kinds import chat, measured  # noqa: F401 (fixture)
from tests.assessments.test_figures_agree import reported, scenario  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def _by_record(records, start: datetime, end: datetime) -> dict:
    """The rule of docs/methodology.md ("Work units and their kinds"), record by record: the
    share of each record's interval in the period, posted units inside the hours the engine
    measured in the period being overlap."""
    rows = list(records)
    measured = [
        r for r in rows if r.source == "measured" and r.period_start < end and r.period_end > start
    ]
    hours: dict = {}
    for r in measured:
        hour = r.period_start.replace(minute=0, second=0, microsecond=0)
        hours.setdefault((r.project_id, r.kind), set()).add(hour)
    result: dict = {}
    for r in measured:
        work = result.setdefault((r.project_id, r.kind), [0.0, 0.0, 0.0])
        work[0] += fm.prorated_units(r.units, r.period_start, r.period_end, start, end)
    for r in rows:
        if r.source != "posted" or not (r.period_start < end and r.period_end >= start):
            continue
        counted, overlap = fm.posted_outside_measured(
            r.units, r.period_start, r.period_end, start, end, hours.get((r.project_id, r.kind), ())
        )
        work = result.setdefault((r.project_id, r.kind), [0.0, 0.0, 0.0])
        work[1] += counted
        work[2] += overlap
    return {key: fm.KindWork(*values) for key, values in result.items()}


def _same_work(found: dict, expected: dict) -> None:
    assert set(found) == set(expected)
    for key, work in expected.items():
        assert found[key].measured == pytest.approx(work.measured, rel=1e-12), key
        assert found[key].posted == pytest.approx(work.posted, rel=1e-12), key
        assert found[key].overlap == pytest.approx(work.overlap, rel=1e-12), key


def test_work_over_several_periods_counts_each_record_by_the_rule(chat):  # noqa: F811
    # Posted records inside a period, across its edges, at its first instant and at its end,
    # of a kind the engine measured and of one it did not.
    for start, end, units, kind in (
        (T0 - 2 * HOUR, T0 - HOUR, 500, "requests"),
        (T0 - 30 * 60 * timedelta(seconds=1), T0 + HOUR / 2, 300, "input_tokens"),
        (T0 + 5 * HOUR, T0 + 6 * HOUR, 700, "input_tokens"),
        (T0 + 4 * HOUR, T0 + 4 * HOUR, 90, "requests"),
        (T0 + 24 * HOUR, T0 + 24 * HOUR, 11, "input_tokens"),
    ):
        WorkRecord.objects.create(
            project=chat, kind=kind, period_start=start, period_end=end, units=units
        )
    # An hour the engine measured for its first ten minutes only, posted work across all of it.
    measured(chat, "requests", 100, T0 + 6 * HOUR, T0 + 6 * HOUR + HOUR / 6)
    WorkRecord.objects.create(
        project=chat,
        kind="requests",
        period_start=T0 + 6 * HOUR,
        period_end=T0 + 7 * HOUR,
        units=100,
    )
    on_the_hour = [
        (T0 - 3 * HOUR, T0 + 24 * HOUR),  # the whole day and more
        (T0 + HOUR, T0 + 2 * HOUR),  # measured work before it, posted work across it
        (T0 + 4 * HOUR, T0 + 5 * HOUR),  # an instant at its start, a record at its end
        (T0 + 24 * HOUR, T0 + 25 * HOUR),  # an instant at its start only
        (T0 - 10 * HOUR, T0 - 9 * HOUR),  # nothing
    ]
    # Cutting through the hour the engine measured: read one by one.
    off_the_hour = [
        *on_the_hour,
        (T0 + HOUR / 4, T0 + 2 * HOUR),
        (T0 - HOUR / 2, T0 + HOUR / 12),
        (T0 + 6 * HOUR + HOUR / 2, T0 + 7 * HOUR),  # after the measured minutes of that hour
    ]
    records = WorkRecord.objects.filter(project=chat)
    for periods in (on_the_hour, off_the_hour):
        found = work_by_kind_over(records, periods)
        assert len(found) == len(periods)
        for (start, end), work in zip(periods, found, strict=True):
            expected = _by_record(records, start, end)
            _same_work(work, expected)
            _same_work(work_by_kind(records, start, end), expected)
        assert found[4] == {}
        assert found[3][(chat.pk, "input_tokens")].posted == pytest.approx(11)
        assert found[1][(chat.pk, "requests")].overlap == 0  # no measured hour inside
    # Alone, the last period holds no measured work: the posted half-hour counts in full.
    assert found[-1][(chat.pk, "requests")] == fm.KindWork(posted=pytest.approx(50.0))


OCTOBER, NOVEMBER = date(2026, 10, 1), date(2026, 11, 1)
PERIODS = [
    (OCTOBER, NOVEMBER),
    (date(2026, 9, 15), OCTOBER),  # the month before
    (date(2026, 10, 5), date(2026, 10, 12)),  # inside October, CodeCarbon's hours included
    (datetime(2026, 10, 5, 3, tzinfo=UTC), datetime(2026, 10, 10, 13, tzinfo=UTC)),  # hours
]


def _scopes(reported) -> dict[str, Scope]:  # noqa: F811
    finetune, inference = reported["projects"]
    return {
        "organisation": Scope(),
        "team": Scope(team=reported["teams"][1]),
        "project": Scope(project=inference),
        "site": Scope(site=reported["site"]),
        "host": Scope(host=reported["host"]),
    }


@pytest.mark.parametrize("name", ["organisation", "team", "project", "site", "host"])
def test_several_periods_read_at_once_say_what_each_says_alone(reported, name):  # noqa: F811
    scope = _scopes(reported)[name]
    with_ranges = [True, False, True, True]
    together = scope_figures_over(scope=scope, periods=PERIODS, with_ranges=with_ranges)
    for (start, end), ranged, found in zip(PERIODS, with_ranges, together, strict=True):
        alone = asdict(scope_figures(scope=scope, start=start, end=end, with_ranges=ranged))
        for field, value in asdict(found).items():
            if isinstance(value, float):
                assert value == pytest.approx(alone[field], rel=1e-9, abs=1e-12), (start, field)
            else:
                assert value == alone[field], (start, field)
    assert together[0].energy_it_kwh > together[2].energy_it_kwh > 0
    assert not together[1].ranges and together[0].ranges and together[3].ranges


@pytest.mark.parametrize("name", ["organisation", "site", "project"])
def test_without_details_the_periods_say_the_same_but_coverage_and_unallocated(
    reported,  # noqa: F811
    name,
):
    """The month comparison shows neither coverage nor what no project used, and asks for
    neither: every other figure holds."""
    scope = _scopes(reported)[name]
    full = scope_figures_over(scope=scope, periods=PERIODS)
    lean = scope_figures_over(scope=scope, periods=PERIODS, with_details=False)
    assert any(figures.coverage for figures in full)
    fleet = name != "project"
    assert fleet == any(figures.unallocated_embodied_kgco2e for figures in full)
    details = dict.fromkeys(
        ("coverage", "unallocated_energy_kwh", "unallocated_embodied_kgco2e"), None
    )
    for with_them, without in zip(full, lean, strict=True):
        assert asdict(without) == asdict(with_them) | details


def test_a_period_that_ends_before_it_starts_is_refused_among_others(reported):  # noqa: F811
    with pytest.raises(ValueError, match="end must be after start"):
        scope_figures_over(scope=Scope(), periods=[PERIODS[0], (NOVEMBER, OCTOBER)])


def test_reads_with_nothing_to_read_one_by_one_skip_those_queries(
    reported,  # noqa: F811
    django_assert_num_queries,
):
    """Work with no record across a period's edge and no measured work, and CodeCarbon with no
    fact in the periods, cost one query each; a period with CodeCarbon facts still counts its
    runs, and its figures are those read with every query."""
    from assessments.codecarbon.selectors import codecarbon_footprints

    finetune, inference = reported["projects"]
    september = (datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 30, tzinfo=UTC))
    records = WorkRecord.objects.filter(project=inference)
    # The measured records' sums, the posted records' sums; declared kinds of none: no query.
    with django_assert_num_queries(2):
        assert work_by_kind_over(records, [september]) == [{}]
    with django_assert_num_queries(1):
        [nothing] = codecarbon_footprints([september], project=inference)
    assert nothing["summary"]["runs"] == 0 and nothing["counted"]["energy_it_kwh"] == 0
    october = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    with django_assert_num_queries(2):
        [found] = codecarbon_footprints([october], project=inference)
    assert found["summary"]["runs"] == 1
    assert found["counted"]["energy_it_kwh"] == pytest.approx(0.4)
    assert found["summary"]["overlap_energy_kwh"] == pytest.approx(0.2)


def _same_ranges(found: dict, expected: dict, where) -> None:
    assert set(found) == set(expected), where
    for name, bounds in expected.items():
        other = found[name]
        assert (other is None) == (bounds is None), (where, name)
        if bounds is not None:
            assert (other.low, other.high) == pytest.approx((bounds.low, bounds.high), rel=1e-9), (
                where,
                name,
            )


def test_a_page_sharing_its_reads_says_what_each_read_alone_says(reported):  # noqa: F811
    """The overview's month comparison, split tables and unallocated part with one PageReads:
    the in-service windows and the ranges' inputs read once, every figure as read apart."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from assessments.dashboards import selectors as dashboards
    from assessments.footprint.scope_figures import PageReads

    bys = ("project", "team", "phase", "site")

    def page(shared):
        with CaptureQueriesContext(connection) as queries:
            found = (
                dashboards.kpi_comparison(end=date(2026, 10, 20), shared=shared),
                dashboards.breakdown_rows(bys=bys, start=OCTOBER, end=NOVEMBER, shared=shared),
                dashboards.unallocated(start=OCTOBER, end=NOVEMBER, shared=shared),
            )
        return found, len(queries)

    (comparison, split, waste), shared_queries = page(PageReads())
    (comparison_apart, split_apart, waste_apart), apart_queries = page(None)
    assert shared_queries < apart_queries
    for key, expected in comparison_apart["figures"].items():
        found = comparison["figures"][key]
        for name in (*MEASURE_FIELDS, "total_kgco2e", "sci"):
            assert found[name] == pytest.approx(expected[name], rel=1e-9), (key, name)
        _same_ranges(found["ranges"], expected["ranges"], key)
    assert comparison["figures"]["current"]["ranges"]
    for by in bys:
        assert set(split[by]) == set(split_apart[by]), by
        for row_key, row in split_apart[by].items():
            _same_ranges(split[by][row_key]["ranges"], row["ranges"], (by, row_key))
    assert waste["total"] == pytest.approx(waste_apart["total"], rel=1e-9)
    assert waste["total"]["embodied_kgco2e"] > 0
