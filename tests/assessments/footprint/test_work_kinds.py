"""Work of several kinds, measured work winning over posted work, and the per-request and
per-token figures, with hand-computed numbers.

Scenario (factors of rollup_factories: PUE 1.5, 400 g/kWh, 2 kgCO2e per device-hour): on
2026-11-02 from 10:00 a GPU ran one hour at 1000 W (1 kWh IT), wholly for "chat" (team NLP,
declared kind: requests). The engine's counters measured 10:00-11:00: 4,000 requests and
2,000,000 output tokens. Someone also posted 6,000 requests for 10:00-13:00 (three hours).
"""

import json
from datetime import date

import pytest
from django.contrib.auth.models import User

from assessments.footprint import footprint_math as fm
from assessments.footprint.rollup import rollup_dirty_hours
from assessments.footprint.selectors import footprint
from assessments.models import Project, UserProfile, WorkRecord
from assessments.organisation.services import api_token_create, work_record_create
from assessments.organisation.work_kinds import kind_from_unit_name
from tests.assessments.footprint.rollup_factories import (
    HOUR,
    T0,
    add_samples,
    make_device,
    make_host,
    make_project,
    make_site,
)

DAY = {"start": "2026-11-02", "end": "2026-11-03"}


def measured(project, kind, units, start, end, job="pod:serving/vllm-0"):
    return WorkRecord.objects.create(
        project=project,
        kind=kind,
        source="measured",
        model_name="assistant",
        job=job,
        period_start=start,
        period_end=end,
        units=units,
    )


@pytest.fixture
def chat(db):
    site = make_site()
    gpu = make_device(make_host(site))
    project = make_project("chat", team_name="NLP", phase="inference")
    Project.objects.filter(pk=project.pk).update(work_kind="requests", work_unit="requests")
    project.refresh_from_db()
    add_samples(
        gpu,
        end=T0 + HOUR,
        count=360,
        every_s=10.0,
        power_w=1000.0,
        tags=[{"project": "chat", "share": 1.0}],
    )
    rollup_dirty_hours()
    # Ten-minute intervals, as many short ones would be.
    for i in range(6):
        start = T0 + i * HOUR / 6
        measured(project, "requests", 4000 / 6, start, start + HOUR / 6)
        measured(project, "output_tokens", 2_000_000 / 6, start, start + HOUR / 6)
    work_record_create(project=project, units=6000, start=T0, end=T0 + 3 * HOUR, kind="requests")
    return project


# --- pure arithmetic -------------------------------------------------------------------------


def test_posted_work_inside_measured_hours_is_overlap():
    # 6,000 over 3 hours, the first measured: 2,000 overlap, 4,000 count.
    counted, overlap = fm.posted_outside_measured(6000, T0, T0 + 3 * HOUR, T0, T0 + 24 * HOUR, [T0])
    assert (counted, overlap) == pytest.approx((4000, 2000))
    # The period cuts the record first: 10:30-12:00 holds 3,000; 10:30-11:00 of it measured.
    counted, overlap = fm.posted_outside_measured(
        6000, T0, T0 + 3 * HOUR, T0 + HOUR / 2, T0 + 2 * HOUR, [T0]
    )
    assert (counted, overlap) == pytest.approx((2000, 1000))
    # An instant inside a measured hour is all overlap; outside, all counted.
    assert fm.posted_outside_measured(5, T0, T0, T0, T0 + HOUR, [T0]) == (0.0, 5.0)
    assert fm.posted_outside_measured(5, T0 + HOUR, T0 + HOUR, T0, T0 + 2 * HOUR, [T0]) == (
        5.0,
        0.0,
    )


def test_per_thousand_requests_and_per_million_tokens():
    figures = fm.per_thousand_and_million(2.0, 0.5, 4000, 2_000_000)
    assert figures == pytest.approx(
        {
            "kwh_per_1k_requests": 0.5,
            "kgco2e_per_1k_requests": 0.125,
            "kwh_per_1m_output_tokens": 1.0,
            "kgco2e_per_1m_output_tokens": 0.25,
        }
    )
    assert fm.per_thousand_and_million(2.0, 0.5, 0, 0)["kwh_per_1k_requests"] is None


def test_kind_work_source():
    assert fm.KindWork(measured=1).source == "measured"
    assert fm.KindWork(posted=1, overlap=3).source == "posted"
    assert fm.KindWork(measured=1, posted=1).source == "measured+posted"
    assert fm.KindWork(overlap=1).source is None


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("requests", "requests"),
        ("inferences", "requests"),
        ("API calls", "requests"),
        ("tokens", "output_tokens"),
        ("output tokens", "output_tokens"),
        ("prompt tokens", "input_tokens"),
        ("input_tokens", "input_tokens"),
        ("images", "other"),
        ("", "other"),
    ],
)
def test_kind_of_a_unit_name(name, kind):
    assert kind_from_unit_name(name) == kind


# --- selectors and API -------------------------------------------------------------------------


def test_measured_work_wins_over_posted_for_the_hours_it_covers(chat):
    data = footprint(start=date(2026, 11, 2), end=date(2026, 11, 3), project="chat")
    # Requests: 4,000 measured + 4,000 posted for 11:00-13:00; 2,000 posted for 10:00-11:00
    # are the overlap, never added.
    requests = dict(data["work_by_kind"]["requests"])
    assert requests.pop("source") == "measured+posted"
    assert requests == pytest.approx({"measured": 4000, "posted": 4000, "overlap": 2000})
    assert data["work_units_by_kind"] == pytest.approx(
        {"requests": 8000, "output_tokens": 2_000_000}
    )
    # The project declares requests: tokens never join its work units.
    assert data["work_units"] == pytest.approx(8000)
    # 1 kWh IT, 1.5 kWh facility x 400 g = 0.6 kg, + 2 kg embodied = 2.6 kgCO2e.
    assert data["sci"] == pytest.approx(2.6 / 8000)
    serving = dict(data["serving"])
    assert serving.pop("requests_source") == "measured+posted"
    assert serving.pop("output_tokens_source") == "measured"
    assert serving == pytest.approx(
        {
            "requests": 8000,
            "input_tokens": 0,
            "output_tokens": 2_000_000,
            "kwh_per_1k_requests": 1 / 8,
            "kgco2e_per_1k_requests": 2.6 / 8,
            "kwh_per_1m_output_tokens": 0.5,
            "kgco2e_per_1m_output_tokens": 1.3,
        }
    )


def test_a_project_counting_tokens_gets_its_sci_per_token(chat):
    Project.objects.filter(pk=chat.pk).update(work_kind="output_tokens")
    data = footprint(start=date(2026, 11, 2), end=date(2026, 11, 3), project="chat")
    assert data["work_units"] == pytest.approx(2_000_000)
    assert data["sci"] == pytest.approx(2.6 / 2_000_000)


def test_kinds_are_never_summed_across_the_organisation(chat):
    other = make_project("captions", team_name="CV", phase="inference")
    work_record_create(project=other, units=100, start=T0, end=T0 + HOUR)  # kind "other"
    data = footprint(start=date(2026, 11, 2), end=date(2026, 11, 3))
    assert data["work_units_by_kind"] == pytest.approx(
        {"requests": 8000, "output_tokens": 2_000_000, "other": 100}
    )
    assert data["sci"] is None  # requests and another unit: no organisation-wide SCI


def api_user(role="admin"):
    account = User.objects.create_user(f"{role}-kinds")
    UserProfile.objects.create(user=account, role=role)
    return account


def test_footprint_api_shows_kinds_overlap_and_per_token_figures(client, chat):
    _, token = api_token_create(user=api_user())
    answer = client.get(
        "/api/v1/projects/chat/footprint", DAY, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["work_kind"] == "requests"
    assert body["work_units"] == pytest.approx(8000)
    assert body["work_units_by_kind"]["output_tokens"] == pytest.approx(2_000_000)
    assert body["work_by_kind"]["requests"]["overlap"] == pytest.approx(2000)
    assert body["serving"]["kwh_per_1m_output_tokens"] == pytest.approx(0.5)
    assert body["serving"]["output_tokens_source"] == "measured"


def test_posted_work_takes_an_optional_kind(client, chat):
    _, token = api_token_create(user=api_user(), scope="work")
    url = "/api/v1/projects/chat/work"
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    body = {"units": 5, "start": "2026-11-02T14:00:00Z", "end": "2026-11-02T15:00:00Z"}
    answer = client.post(url, json.dumps(body), content_type="application/json", **headers)
    assert answer.status_code == 201, answer.content
    assert answer.json()["kind"] == "requests"  # the project's declared kind
    body["kind"] = "input_tokens"
    answer = client.post(url, json.dumps(body), content_type="application/json", **headers)
    assert answer.status_code == 201
    assert WorkRecord.objects.get(pk=answer.json()["id"]).kind == "input_tokens"
    body["kind"] = "tokens"
    answer = client.post(url, json.dumps(body), content_type="application/json", **headers)
    assert answer.status_code == 400
    assert "kind" in answer.json()["error"]
    assert WorkRecord.objects.filter(source="posted").count() == 3


def test_project_page_shows_the_overlap_and_the_per_token_figures(client, chat):
    client.force_login(api_user())
    page = client.get("/projects/chat/", DAY)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-note="overlap"' in html
    assert 'data-kpi="per-1m-output-tokens"' in html
    table = html[html.index('data-table="work-by-kind"') :]
    table = table[: table.index("</table>")]
    assert "2,000" in table  # the overlap
    assert "8,000" in table  # requests counted
    assert "measured+posted" in table


def test_units_per_day_count_the_declared_kind_with_measured_winning(chat):
    from assessments.footprint.work import declared_units_by_day

    # A day's worth of posted requests from noon to noon: 1,200 on each day, no measured hours.
    work_record_create(project=chat, units=2400, start=T0 + 2 * HOUR, end=T0 + 26 * HOUR)
    days = declared_units_by_day(project=chat, start=date(2026, 11, 2), end=date(2026, 11, 4))
    assert days == pytest.approx({date(2026, 11, 2): 8000 + 1200, date(2026, 11, 3): 1200})
    assert sum(days.values()) == pytest.approx(
        footprint(start=date(2026, 11, 2), end=date(2026, 11, 4), project="chat")["work_units"]
    )


def test_the_project_form_declares_the_kind_and_keeps_it_when_left_out(chat):
    from assessments.models import Team
    from assessments.organisation.forms import ProjectForm

    teams = Team.objects.all()
    data = {"name": "Chat", "slug": "chat", "team": chat.team.pk, "phase": "inference"}
    form = ProjectForm({**data, "work_kind": "output_tokens"}, instance=chat, teams=teams)
    assert form.is_valid(), form.errors
    assert form.save().work_kind == "output_tokens"
    form = ProjectForm(data, instance=chat, teams=teams)
    assert form.is_valid(), form.errors
    assert form.save().work_kind == "output_tokens"
    form = ProjectForm({**data, "work_kind": "tokens"}, instance=chat, teams=teams)
    assert not form.is_valid() and "work_kind" in form.errors
