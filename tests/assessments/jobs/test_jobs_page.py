"""The jobs page and its CSV: the jobs API's figures, filtered by project, team, user and
namespace; refused filters answer 400 naming the parameter.

The fleet (tests/assessments/jobs/test_jobs.py): pod nlp-prod/trainer (llm-pretrain, team NLP,
1 kWh IT, 2.6 kgCO2e), pod web/api (unallocated, 1 kWh), Slurm job 42 of ada (vision-train,
team CV, 0.5 kWh), all in the hour T0.
"""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse

from assessments.jobs.selectors import jobs_list
from tests.assessments.ai_systems.factories import system, version, window
from tests.assessments.jobs.test_jobs import DAY, fleet, get_jobs, viewer  # noqa: F401

pytestmark = pytest.mark.django_db
PERIOD = {"start": DAY.isoformat(), "end": (DAY + timedelta(days=1)).isoformat()}


def page(client, **query):
    client.force_login(viewer())
    return client.get(reverse("job_list"), {**PERIOD, **query})


def csv_rows(client, **query):
    client.force_login(viewer())
    answer = client.get(reverse("export_jobs_csv"), {**PERIOD, **query})
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(answer.content.decode())))


def test_the_jobs_page_lists_every_job_with_the_api_figures(client, fleet):  # noqa: F811
    answer = page(client)
    assert answer.status_code == 200
    html = answer.content.decode()
    for job in ("pod:nlp-prod/trainer", "pod:web/api", "job:42"):
        assert job in html
    assert 'href="/projects/llm-pretrain/"' in html
    assert reverse("export_jobs_csv") in html
    rows = csv_rows(client)
    api_jobs = get_jobs(client).json()["jobs"]
    assert [row["Job"] for row in rows] == [job["job"] for job in api_jobs]
    for row, job in zip(rows, api_jobs, strict=True):
        assert float(row["IT energy (kWh)"]) == pytest.approx(job["energy_kwh"])
        assert float(row["Total carbon (kgCO2e)"]) == pytest.approx(job["total_kgco2e"])
        assert float(row["Cost (EUR)"]) == pytest.approx(job["cost"])
        assert float(row["GPU time (h)"]) == pytest.approx(job["gpu_hours"])
        assert row["Project"] == (job["project"] or "unallocated")
    assert rows[0]["Total carbon (kgCO2e)"] == "2.6"


@pytest.fixture
def models(fleet):  # noqa: F811
    """assistant 1.0 was trained on llm-pretrain the day of the pod's hour; 2.0 until that hour
    (end exclusive); team CV's model "vision" is served by vision-train from that day on."""
    assistant = system("assistant")
    version(assistant, "1.0", produced_by=[window("llm-pretrain", "2026-11-20", "2026-11-21")])
    version(
        assistant, "2.0", produced_by=[window("llm-pretrain", "2026-11-19", "2026-11-20T10:00")]
    )
    vision = system("vision", team_name="CV")
    version(vision, "1", served_by=[window("vision-train", "2026-11-20", team_name="CV")])
    return fleet


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"model": "assistant", "version": "1.0"}, ["pod:nlp-prod/trainer"]),
        ({"model": "assistant", "version": "2.0"}, []),
        ({"model": "assistant"}, ["pod:nlp-prod/trainer"]),
        ({"model": "vision"}, ["job:42"]),
        ({"model": "vision", "user": "ada"}, ["job:42"]),
        ({"model": "vision", "namespace": "nlp-prod"}, []),
    ],
)
def test_jobs_filter_by_model_version_on_page_csv_and_api(client, models, query, expected):
    assert [row["Job"] for row in csv_rows(client, **query)] == expected
    html = page(client, **query).content.decode()
    for job in ("pod:nlp-prod/trainer", "pod:web/api", "job:42"):
        assert (job in html) == (job in expected)
    assert [job["job"] for job in get_jobs(client, **query).json()["jobs"]] == expected


@pytest.mark.parametrize(
    "query, parameter, api_status",
    [
        ({"version": "1.0"}, "version", 400),
        ({"model": "nope"}, "model", 404),
        ({"model": "assistant", "version": "9.9"}, "version", 404),
        ({"model": "assistant", "version": "v" * 51}, "version", 404),
    ],
)
def test_a_bad_model_or_version_is_refused_naming_it(client, models, query, parameter, api_status):
    answer = page(client, **query)
    assert answer.status_code == 400
    assert f"Query parameter '{parameter}'" in answer.content.decode()
    exported = client.get(reverse("export_jobs_csv"), {**PERIOD, **query})
    assert exported.status_code == 400
    assert f"Query parameter {parameter!r}" in exported.content.decode()
    api = get_jobs(client, **query)
    assert api.status_code == api_status
    assert api.json()["details"][0]["field"] == parameter


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"project": "vision-train"}, ["job:42"]),
        ({"user": "ada"}, ["job:42"]),
        ({"namespace": "nlp-prod"}, ["pod:nlp-prod/trainer"]),
        ({"namespace": "web"}, ["pod:web/api"]),
        ({"team": "nlp"}, ["pod:nlp-prod/trainer"]),
        ({"team": "nlp", "project": "vision-train"}, []),
        ({"user": "nobody"}, []),
    ],
)
def test_the_page_and_its_csv_filter_alike(client, fleet, query, expected):  # noqa: F811
    assert [row["Job"] for row in csv_rows(client, **query)] == expected
    html = page(client, **query).content.decode()
    for job in ("pod:nlp-prod/trainer", "pod:web/api", "job:42"):
        assert (job in html) == (job in expected)


def test_the_api_filters_by_namespace_as_the_page_does(client, fleet):  # noqa: F811
    jobs = get_jobs(client, namespace="nlp-prod").json()["jobs"]
    assert [job["job"] for job in jobs] == ["pod:nlp-prod/trainer"]
    assert jobs_list(start=DAY, end=DAY + timedelta(days=1), namespace="none") == []


@pytest.mark.parametrize(
    "query, parameter",
    [
        ({"project": "no-such-project"}, "project"),
        ({"project": "x" * 5000}, "project"),
        ({"team": "'; drop table x; --"}, "team"),
        ({"user": "u" * 101}, "user"),
        ({"namespace": "n" * 254}, "namespace"),
        ({"start": "2026-13-45"}, "start"),
        ({"start": "yesterday"}, "start"),
        ({"start": "9999-12-31", "end": ""}, "start/end"),
        ({"start": "", "end": "0001-01-01"}, "start/end"),
        ({"start": "2026-11-21", "end": "2026-11-20"}, "start/end"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "start/end"),
    ],
)
def test_refused_filters_answer_400_naming_the_parameter(client, fleet, query, parameter):  # noqa: F811
    answer = page(client, **query)
    assert answer.status_code == 400
    assert f"Query parameter '{parameter}'" in answer.content.decode()
    assert "pod:nlp-prod/trainer" not in answer.content.decode()
    exported = client.get(reverse("export_jobs_csv"), {**PERIOD, **query})
    assert exported.status_code == 400
    assert f"Query parameter {parameter!r}" in exported.content.decode()


def test_a_control_character_in_a_filter_is_refused(client, fleet):  # noqa: F811
    client.force_login(viewer())
    answer = client.get(reverse("job_list"), {**PERIOD, "user": "a\x00b"})
    assert answer.status_code == 400
    assert "&#x27;user&#x27; contains the control character" in answer.content.decode()


def test_the_jobs_page_asks_for_a_login_and_is_in_the_navigation(client, fleet):  # noqa: F811
    for name in ("job_list", "export_jobs_csv"):
        assert client.get(reverse(name)).status_code == 302
    client.force_login(viewer())
    overview = client.get(reverse("overview")).content.decode()
    assert f'href="{reverse("job_list")}' in overview
