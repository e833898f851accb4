"""Jobs end to end on a real database: ingest with job identities, attribution rules in the
rollup, energy per job and per user, the jobs API, pages and CSV.

Scenario (factors of tests/assessments/footprint/rollup_factories.py: PUE 1.5, 400 g/kWh,
0.20 EUR/kWh, 2 kgCO2e per device-hour): GPU-A runs pod nlp-prod/trainer for a whole hour at
1000 W (1 kWh); GPU-B runs a pod outside any rule; GPU-C runs Slurm job 42 of user ada,
account vision, half of its time, at 1000 W.
"""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import User

from assessments.footprint.rollup import rollup_dirty_hours
from assessments.models import AttributionRule, HourlyJobFact, HourlyProjectFact, UserProfile
from assessments.organisation.services import (
    api_token_create,
    attribution_rule_delete,
    attribution_rule_save,
)
from collectors.services import IngestValidationError, batch_ingest
from tests.assessments.footprint.rollup_factories import (
    make_device,
    make_host,
    make_project,
    make_site,
)
from tests.collectors.factories import T0, make_collector

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)
DAY = T0.date()
POD = {"namespace": "nlp-prod", "pod": "trainer", "container": "main"}
SLURM = {"id": "42", "user": "ada", "account": "vision", "partition": "gpu"}


def samples(uuid_, jobs, *, tags=None, count=360, power_w=1000.0):
    rows = []
    for n in range(count):
        ts = T0 + timedelta(seconds=10 * (n + 1))
        row = {"device": uuid_, "ts": ts.isoformat(), "duration_s": 10.0, "power_w": power_w}
        if jobs is not None:
            row["job"] = jobs
        if tags is not None:
            row["tags"] = tags
        rows.append(row)
    return rows


def push(collector, hostname, uuid_, sample_rows):
    return batch_ingest(
        collector=collector,
        payload={
            "batch_id": str(uuid.uuid4()),
            "host": {"hostname": hostname},
            "devices": [{"uuid": uuid_, "name": "Test GPU 9000"}],
            "samples": sample_rows,
        },
        now=T0 + 2 * HOUR,
    )


def gpu(site, hostname, uuid_):
    device = make_device(make_host(site, hostname=hostname))
    device.uuid = uuid_
    device.save(update_fields=["uuid"])
    return device


@pytest.fixture
def fleet():
    site = make_site()
    collector, _ = make_collector()
    for hostname, uuid_ in (("node-a", "GPU-A"), ("node-b", "GPU-B"), ("node-c", "GPU-C")):
        gpu(site, hostname, uuid_)
    llm = make_project("llm-pretrain", team_name="NLP")
    vision = make_project("vision-train", team_name="CV")
    attribution_rule_save(
        rule=AttributionRule(position=1, match={"namespace": "nlp-*"}, project=llm)
    )
    attribution_rule_save(
        rule=AttributionRule(position=2, match={"slurm_account": "vision"}, project=vision)
    )
    push(collector, "node-a", "GPU-A", samples("GPU-A", [{**POD, "share": 1.0}]))
    push(collector, "node-b", "GPU-B", samples("GPU-B", [{"namespace": "web", "pod": "api"}]))
    push(collector, "node-c", "GPU-C", samples("GPU-C", [{**SLURM, "share": 0.5}]))
    rollup_dirty_hours()
    return {"llm": llm, "vision": vision}


def project_kwh(slug):
    return sum(
        fact.energy_it_kwh for fact in HourlyProjectFact.objects.filter(project__slug=slug, hour=T0)
    )


def unallocated_kwh():
    return sum(
        fact.energy_it_kwh
        for fact in HourlyProjectFact.objects.filter(project__isnull=True, hour=T0)
    )


def test_rules_map_namespaces_and_slurm_accounts_to_projects(fleet):
    assert project_kwh("llm-pretrain") == pytest.approx(1.0)
    assert project_kwh("vision-train") == pytest.approx(0.5)  # half of GPU-C's time


def test_gpus_without_a_matching_job_are_unallocated(fleet):
    # GPU-B (pod outside any rule) and the other half of GPU-C.
    assert unallocated_kwh() == pytest.approx(1.5)


def test_energy_per_job_is_its_share_priced_like_its_device(fleet):
    pod = HourlyJobFact.objects.get(job_key="pod:nlp-prod/trainer")
    assert pod.project.slug == "llm-pretrain"
    assert pod.energy_it_kwh == pytest.approx(1.0)
    assert pod.energy_facility_kwh == pytest.approx(1.5)
    assert pod.operational_kgco2e == pytest.approx(0.6)
    assert pod.embodied_kgco2e == pytest.approx(2.0)
    assert pod.gpu_hours == pytest.approx(1.0)
    slurm = HourlyJobFact.objects.get(job_key="job:42")
    assert (slurm.user, slurm.account, slurm.project.slug) == ("ada", "vision", "vision-train")
    assert slurm.energy_it_kwh == pytest.approx(0.5)
    assert slurm.gpu_hours == pytest.approx(0.5)
    unmatched = HourlyJobFact.objects.get(job_key="pod:web/api")
    assert unmatched.project is None


def test_a_tag_naming_a_project_wins_over_the_rules(fleet):
    collector, _ = make_collector("other")
    gpu(None, "node-d", "GPU-D")
    push(
        collector,
        "node-d",
        "GPU-D",
        samples("GPU-D", [{**POD, "share": 1.0}], tags=[{"project": "vision-train", "share": 1}]),
    )
    rollup_dirty_hours()
    assert project_kwh("vision-train") == pytest.approx(1.5)
    job = HourlyJobFact.objects.get(job_key="pod:nlp-prod/trainer", device__uuid="GPU-D")
    assert job.project.slug == "vision-train"


def test_a_rule_change_re_attributes_the_hours_already_rolled_up(fleet):
    web = make_project("web-api", team_name="Web")
    attribution_rule_save(rule=AttributionRule(position=3, match={"namespace": "web"}, project=web))
    rollup_dirty_hours()
    assert project_kwh("web-api") == pytest.approx(1.0)
    assert unallocated_kwh() == pytest.approx(0.5)
    attribution_rule_delete(rule=AttributionRule.objects.get(position=1))
    rollup_dirty_hours()
    assert project_kwh("llm-pretrain") == 0
    assert unallocated_kwh() == pytest.approx(1.5)


def test_a_rule_with_an_unusable_match_is_refused():
    project = make_project("p")
    with pytest.raises(ValueError, match="unknown match key"):
        attribution_rule_save(
            rule=AttributionRule(position=9, match={"pods": "x"}, project=project)
        )
    assert not AttributionRule.objects.exists()


@pytest.mark.parametrize(
    "job, field",
    [
        ({"user": "ada"}, "samples[0].job[0]"),
        ({"pod": "p", "share": 1.5}, "samples[0].job[0].share"),
        ({"pod": "p", "node": "x"}, "samples[0].job[0].node"),
        ({"pod": "x" * 254}, "samples[0].job[0].pod"),
    ],
)
def test_bad_jobs_are_refused_naming_the_field(job, field):
    collector, _ = make_collector()
    with pytest.raises(IngestValidationError) as caught:
        push(collector, "node-x", "GPU-X", samples("GPU-X", [job], count=1))
    assert field in [d["field"] for d in caught.value.details]


def test_job_shares_over_one_are_refused():
    collector, _ = make_collector()
    jobs = [{"pod": "a", "share": 0.6}, {"pod": "b", "share": 0.6}]
    with pytest.raises(IngestValidationError) as caught:
        push(collector, "node-x", "GPU-X", samples("GPU-X", jobs, count=1))
    assert "job shares sum to 1.2" in str(caught.value.details)


# --- API, pages, CSV ---------------------------------------------------------------------------


def viewer():
    account, created = User.objects.get_or_create(username="viewer")
    if created:
        UserProfile.objects.create(user=account, role="viewer")
    return account


def get_jobs(client, **query):
    _, token = api_token_create(user=viewer())
    query = {"start": DAY.isoformat(), "end": (DAY + timedelta(days=1)).isoformat(), **query}
    return client.get("/api/v1/jobs", query, HTTP_AUTHORIZATION=f"Bearer {token}")


def test_the_jobs_api_lists_jobs_largest_first(client, fleet):
    answer = get_jobs(client)
    assert answer.status_code == 200
    jobs = answer.json()["jobs"]
    assert [job["job"] for job in jobs] == ["pod:nlp-prod/trainer", "pod:web/api", "job:42"]
    first = jobs[0]
    assert first["project"] == "llm-pretrain"
    assert first["energy_kwh"] == pytest.approx(1.0)
    assert first["total_kgco2e"] == pytest.approx(2.6)
    assert first["gpu_hours"] == pytest.approx(1.0)
    assert first["first_seen"].startswith("2026-11-20T10:00")
    assert first["last_seen"].startswith("2026-11-20T11:00")


def test_the_jobs_api_filters_by_project_and_user(client, fleet):
    assert [j["job"] for j in get_jobs(client, project="vision-train").json()["jobs"]] == ["job:42"]
    assert [j["job"] for j in get_jobs(client, user="ada").json()["jobs"]] == ["job:42"]
    assert get_jobs(client, user="nobody").json()["jobs"] == []


def test_the_jobs_api_refuses_bad_queries(client, fleet):
    assert get_jobs(client, project="nope").status_code == 404
    answer = get_jobs(client, start="")
    assert answer.status_code == 400
    assert answer.json()["details"][0]["field"] == "start"
    assert client.get("/api/v1/jobs?start=2026-11-20&end=2026-11-21").status_code == 401


def test_the_project_page_lists_its_jobs_and_exports_them(client, fleet):
    client.force_login(viewer())
    query = {"start": DAY.isoformat(), "end": (DAY + timedelta(days=1)).isoformat()}
    page = client.get("/projects/llm-pretrain/", query)
    assert page.status_code == 200
    assert "pod:nlp-prod/trainer" in page.content.decode()
    csv = client.get("/projects/llm-pretrain/export/project-jobs.csv", query)
    assert csv.status_code == 200
    lines = csv.content.decode().splitlines()
    assert lines[0].startswith("Job,User,Account,Namespace,IT energy (kWh)")
    assert lines[1].startswith("pod:nlp-prod/trainer,,,nlp-prod,1.0")


def test_the_team_page_shows_energy_by_user(client, fleet):
    client.force_login(viewer())
    query = {"start": DAY.isoformat(), "end": (DAY + timedelta(days=1)).isoformat()}
    page = client.get("/teams/cv/", query).content.decode()
    assert "By user" in page and "ada" in page
    csv = client.get("/export/users.csv", {**query, "team": "cv"}).content.decode().splitlines()
    assert csv[1].startswith("ada,1,0.5")
