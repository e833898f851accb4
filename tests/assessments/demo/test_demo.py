"""The demo organisation: pure generation (assessments.demo.history) and seeding
(assessments.demo.seed)."""

import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Sum
from django.utils import timezone

from assessments.demo import history as demo
from assessments.demo import seed as demo_seed
from assessments.models import (
    Allocation,
    GridIntensityHour,
    GridZone,
    HourlyDeviceFact,
    HourlyProjectFact,
    Phase,
    Project,
    Site,
    Team,
    UserProfile,
    WorkRecord,
)
from collectors.models import Collector, Device, Host, IngestBatch, RawSample
from collectors.selectors import collector_for_token

DAY = timedelta(days=1)


def _recent_weekday_afternoon(weekday: int) -> datetime:
    """14:07 UTC on the most recent given weekday at least two days ago (a fixed 'now')."""
    moment = timezone.now().replace(hour=14, minute=7, second=0, microsecond=0) - 2 * DAY
    while moment.weekday() != weekday:
        moment -= DAY
    return moment


def _history(days: int, now: datetime, optimisation_at: datetime | None = None):
    start, end = demo.demo_window(now=now, days=days)
    # By default the optimisation lies after the window: nothing is quantised.
    return demo.DemoHistory(start=start, end=end, optimisation_at=optimisation_at or end + DAY)


def _samples_by_key(history) -> dict:
    return {
        (sample["device"], sample["ts"]): sample
        for payload in history.batches()
        for sample in payload["samples"]
    }


# --- Pure generation -----------------------------------------------------------------------


def test_history_ends_within_one_interval_of_now_and_starts_at_midnight():
    now = datetime(2026, 11, 28, 6, 43, 17, tzinfo=UTC)
    start, end = demo.demo_window(now=now, days=3)
    assert start == datetime(2026, 11, 25, tzinfo=UTC)
    history = demo.DemoHistory(start=start, end=end, optimisation_at=now)
    newest = max(s["ts"] for p in history.batches() for s in p["samples"])
    assert 0 <= now.timestamp() - newest < demo.DEFAULT_INTERVAL_S
    assert newest % demo.DEFAULT_INTERVAL_S == 0


def test_sample_count_covers_every_gpu_and_interval():
    history = _history(1, datetime(2026, 11, 28, 2, 0, tzinfo=UTC))
    generated = sum(len(p["samples"]) for p in history.batches())
    gpus = sum(len(host.uses) for host in demo.DEMO_HOSTS)
    assert gpus == 18
    assert generated == history.sample_count() == gpus * (288 + 24)  # a day and two hours


def test_a_sample_is_the_same_whatever_window_it_was_generated_in():
    now = datetime(2026, 11, 28, 6, 43, tzinfo=UTC)
    short = _samples_by_key(_history(2, now, optimisation_at=now - 5 * DAY))
    longer = _samples_by_key(_history(4, now + timedelta(hours=3), optimisation_at=now - 5 * DAY))
    assert set(short) <= set(longer)
    assert all(longer[key] == sample for key, sample in short.items())


def test_whole_day_batches_keep_their_id_when_seeded_again_and_a_grown_one_changes_it():
    now = datetime(2026, 11, 28, 6, 43, tzinfo=UTC)
    first = {p["batch_id"]: p for p in _history(2, now).batches()}
    again = {p["batch_id"]: p for p in _history(2, now + timedelta(hours=1)).batches()}
    whole_days = [p for p in first.values() if p["samples"][-1]["ts"] % 86400 == 0]
    assert whole_days and all(p["batch_id"] in again for p in whole_days)
    todays = [p for p in first.values() if p["samples"][-1]["ts"] % 86400 != 0]
    assert todays and not any(p["batch_id"] in again for p in todays)


def test_shared_gpu_samples_are_tagged_for_two_projects_70_30_while_busy():
    history = _history(3, datetime(2026, 11, 27, 23, 0, tzinfo=UTC))
    host = demo.DEMO_HOSTS[2]
    shared = host.gpu_uuid(3)
    samples = _samples_by_key(history)
    busy = [s for (device, _), s in samples.items() if device == shared and s["util_pct"] > 0]
    assert busy, "the shared GPU must run in a 3-day window with two working days"
    for sample in busy:
        assert [(t["project"], t["share"]) for t in sample["tags"]] == [
            ("vision-training", 0.7),
            ("model-eval", 0.3),
        ]
    idle = [s for (device, _), s in samples.items() if device == shared and s["util_pct"] == 0]
    assert idle and all("tags" not in s for s in idle)


def test_idle_gpu_draws_only_its_idle_power_all_day_untagged():
    history = _history(1, datetime(2026, 11, 28, 0, 0, tzinfo=UTC))
    host = demo.DEMO_HOSTS[3]
    idle_gpu = host.gpu_uuid(1)
    samples = [s for (d, _), s in _samples_by_key(history).items() if d == idle_gpu]
    assert len(samples) == 288
    for sample in samples:
        assert sample["util_pct"] == 0 and "tags" not in sample
        assert host.idle_w * 0.96 <= sample["power_w"] <= host.idle_w * 1.04
        assert sample["energy_j"] == pytest.approx(sample["power_w"] * 300, abs=0.1)


def test_nights_and_weekends_are_quieter_than_working_days():
    # 2026-11-23 is a Monday; the window covers Saturday 21st to Monday 23rd.
    history = _history(2, datetime(2026, 11, 23, 23, 0, tzinfo=UTC))
    power = defaultdict(list)
    for payload in history.batches():
        if payload["host"]["hostname"] != "gpu-node-02":  # the inference host
            continue
        for sample in payload["samples"]:
            moment = datetime.fromtimestamp(sample["ts"], UTC)
            kind = "weekend" if moment.weekday() >= 5 else "weekday"
            part = "day" if 11 <= moment.hour < 16 else "night" if moment.hour < 5 else "other"
            power[(kind, part)].append(sample["power_w"])
    mean = {key: sum(values) / len(values) for key, values in power.items()}
    assert mean[("weekday", "day")] > 1.3 * mean[("weekend", "day")]
    assert mean[("weekday", "day")] > 2 * mean[("weekday", "night")]


def test_quantisation_lowers_energy_per_inference_by_about_40_percent():
    # Two full weeks either side of the optimisation, so weekdays and weekends balance.
    now = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
    start, end = demo.demo_window(now=now, days=28)
    optimisation_at = start + 14 * DAY
    history = demo.DemoHistory(start=start, end=end, optimisation_at=optimisation_at)
    energy = defaultdict(float)
    for payload in history.batches():
        if payload["host"]["hostname"] == "gpu-node-02":
            for sample in payload["samples"]:
                after = sample["ts"] > optimisation_at.timestamp()
                energy[after] += sample["energy_j"]
    units = defaultdict(float)
    for (slug, day), count in history.work_units.items():
        if slug == demo.OPTIMISED_PROJECT:
            units[day >= optimisation_at] += count
    before = energy[False] / units[False]
    after = energy[True] / units[True]
    assert 0.5 < after / before < 0.7


def test_work_units_follow_the_load_and_shares():
    history = _history(1, datetime(2026, 11, 26, 23, 55, tzinfo=UTC))  # Tuesday and Wednesday
    list(history.batches())
    by_project = defaultdict(float)
    for (slug, _day), count in history.work_units.items():
        by_project[slug] += count
    assert set(by_project) == {p.slug for p in demo.DEMO_PROJECTS}
    # Six H100s pre-training at ~0.93 load, 3,000 tokens per busy second each (if running).
    assert by_project["llm-pretrain"] == 0 or by_project["llm-pretrain"] > 6 * 3000 * 0.5 * 86400


def test_grid_series_is_hourly_around_the_annual_value_and_labelled_synthetic():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    series = demo.grid_intensity_series(
        start=start, end=start + 14 * DAY, annual_gco2e_per_kwh=380.9
    )
    assert len(series) == 14 * 24
    assert [hour for hour, _ in series[:2]] == [start, start + timedelta(hours=1)]
    values = [value for _, value in series]
    assert 250 < sum(values) / len(values) < 450
    assert max(values) - min(values) > 100  # it varies over days and hours
    assert (
        "Synthetic" in demo.SYNTHETIC_GRID_SOURCE and "not measured" in demo.SYNTHETIC_GRID_SOURCE
    )


def test_history_refuses_a_start_that_is_not_midnight_and_a_bad_window():
    start = datetime(2026, 11, 1, 3, tzinfo=UTC)
    with pytest.raises(ValueError, match="midnight"):
        demo.DemoHistory(start=start, end=start + DAY, optimisation_at=start)
    midnight = datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="after start"):
        demo.DemoHistory(start=midnight, end=midnight, optimisation_at=midnight)
    with pytest.raises(ValueError, match="at least 1"):
        demo.demo_window(now=midnight, days=0)


def test_inventory_file_and_generator_describe_the_same_projects_and_hosts():
    inventory = yaml.safe_load(demo_seed.DEMO_INVENTORY.read_text())
    in_file = {
        p["slug"]: (p["name"], p["team"], p["phase"], p["work_unit"]) for p in inventory["projects"]
    }
    in_code = {p.slug: (p.name, p.team, p.phase, p.work_unit) for p in demo.DEMO_PROJECTS}
    assert in_file == in_code
    hostnames = {h["hostname"] for h in inventory["hosts"]}
    assert {h.hostname for h in demo.DEMO_HOSTS} | {demo_seed.LIVE_HOSTNAME} == hostnames


# --- Seeding through the real ingest and rollup ---------------------------------------------


def _counts() -> dict:
    return {
        model.__name__: model.objects.count()
        for model in (
            Team,
            Project,
            Site,
            Host,
            Device,
            Allocation,
            Collector,
            IngestBatch,
            RawSample,
            HourlyDeviceFact,
            HourlyProjectFact,
            WorkRecord,
            GridIntensityHour,
            get_user_model(),
        )
    }


def _seed(**kwargs):
    out = io.StringIO()
    result = demo_seed.seed_demo(out=out, **kwargs)
    demo_seed.demo_users_create(password="demo-password-1")
    return result, out.getvalue()


@pytest.mark.django_db
def test_seeding_again_stores_nothing_twice_and_later_only_the_new_samples():
    now = _recent_weekday_afternoon(weekday=2)
    first, _ = _seed(days=1, now=now)
    counts = _counts()
    assert counts["RawSample"] == first.samples_sent == first.samples_stored > 0

    again, _ = _seed(days=1, now=now)
    assert again.samples_stored == 0
    assert again.duplicate_batches == again.batches == first.batches
    assert again.hours_rolled_up == 0
    assert _counts() == counts

    later, _ = _seed(days=1, now=now + timedelta(hours=1))
    assert later.samples_stored == 18 * 12  # an hour of 5-minute samples of 18 GPUs
    assert RawSample.objects.count() == first.samples_stored + later.samples_stored
    newest = RawSample.objects.order_by("-ts").first().ts
    assert timedelta(0) <= now + timedelta(hours=1) - newest < timedelta(minutes=5)
    # The partial day's work records were updated in place, not added again.
    assert WorkRecord.objects.count() == counts["WorkRecord"] == 6 * 2


@pytest.mark.django_db
def test_seed_builds_the_described_organisation():
    now = _recent_weekday_afternoon(weekday=2)
    result, output = _seed(days=2, now=now)

    assert set(Team.objects.values_list("name", flat=True)) == {
        "NLP",
        "Computer Vision",
        "Applied AI",
    }
    projects = Project.objects.all()
    assert projects.count() == 6
    assert {p.phase for p in projects} == set(Phase.values)
    assert all(p.work_unit for p in projects)
    sites = {s.name: s for s in Site.objects.all()}
    assert sites["paris-dc1"].grid_zone != sites["frankfurt-dc2"].grid_zone
    assert (sites["paris-dc1"].pue, sites["paris-dc1"].energy_price_per_kwh) == (1.3, 0.18)

    gpu_names = {
        host.hostname: {d.name for d in host.devices.all()}
        for host in Host.objects.prefetch_related("devices")
        if host.devices.exists()
    }
    assert gpu_names == {
        "gpu-node-01": {"NVIDIA H100 80GB HBM3"},
        "gpu-node-02": {"NVIDIA A100-SXM4-80GB"},
        "gpu-node-03": {"NVIDIA L4"},
        "gpu-node-04": {"Tesla V100-SXM2-32GB"},
    }
    assert Device.objects.count() == 18
    purchased = sorted(Host.objects.exclude(purchased=None).values_list("purchased", flat=True))
    assert purchased[0].year == 2019 and purchased[-1].year >= 2024

    # Every device-hour of the history is rolled up, with its site.
    assert result.hours_rolled_up == HourlyDeviceFact.objects.count() > 18 * 48
    assert not HourlyDeviceFact.objects.filter(site=None).exists()

    # The shared GPU's busy hours are split 70/30 between its two projects.
    shared = Device.objects.get(host__hostname="gpu-node-03", index=3)
    by_project = dict(
        HourlyProjectFact.objects.filter(device=shared, attribution="tag")
        .values_list("project__slug")
        .annotate(Sum("energy_it_kwh"))
    )
    assert by_project["vision-training"] / by_project["model-eval"] == pytest.approx(7 / 3)

    # Untagged samples: some covered by allocations, some by nothing (unallocated energy).
    attributions = dict(
        HourlyProjectFact.objects.values_list("attribution").annotate(Sum("energy_it_kwh"))
    )
    assert attributions["tag"] > 0 and attributions["allocation"] > 0
    assert attributions["unallocated"] > 0
    assert HourlyProjectFact.objects.filter(project=None).aggregate(e=Sum("energy_it_kwh"))["e"] > 0

    # Daily units of work for each project, and the synthetic grid series of one zone.
    assert WorkRecord.objects.count() == 6 * 3
    assert set(WorkRecord.objects.values_list("project__slug", flat=True)) == {
        p.slug for p in projects
    }
    hours = GridIntensityHour.objects.all()
    assert hours.count() >= 2 * 24 and {h.zone.code for h in hours} == {"DEU"}
    assert all("Synthetic demo series" in h.source for h in hours)
    assert "100%" in output


@pytest.mark.django_db
def test_energy_per_inference_falls_after_the_optimisation_day():
    now = _recent_weekday_afternoon(weekday=3)  # the history: Tuesday, Wednesday, Thursday
    start, _ = demo.demo_window(now=now, days=2)
    optimisation_at = start + DAY
    _seed(days=2, now=now, optimisation_at=optimisation_at)

    def energy_per_unit(day_start):
        energy = HourlyProjectFact.objects.filter(
            project__slug="chat-inference", hour__gte=day_start, hour__lt=day_start + DAY
        ).aggregate(e=Sum("energy_it_kwh"))["e"]
        units = WorkRecord.objects.get(project__slug="chat-inference", period_start=day_start).units
        return energy / units

    assert energy_per_unit(start + DAY) / energy_per_unit(start) < 0.75


@pytest.mark.django_db
def test_demo_grid_series_keeps_hours_already_imported():
    demo_seed.demo_inventory_load()
    zone = GridZone.objects.get(code=demo_seed.GRID_SERIES_ZONE)
    start = datetime(2026, 11, 2, tzinfo=UTC)
    imported_hour = start + timedelta(hours=5)
    GridIntensityHour.objects.create(
        zone=zone, hour=imported_hour, gco2e_per_kwh=123.0, source="Electricity Maps DE 2026"
    )
    demo_seed.demo_grid_series_write(start=start, end=start + DAY)
    hours = GridIntensityHour.objects.filter(zone=zone, hour__gte=start)
    assert hours.count() == 25  # the day and the hour after its end
    imported = hours.get(hour=imported_hour)
    assert (imported.gco2e_per_kwh, imported.source) == (123.0, "Electricity Maps DE 2026")


@pytest.mark.django_db
def test_demo_logins_have_their_roles_and_the_given_password():
    demo_seed.demo_inventory_load()
    created, existing = demo_seed.demo_users_create(password="another-pass-9")
    assert [(name, role) for name, role, _ in created] == [
        ("admin", "admin"),
        ("engineer", "engineer"),
        ("viewer", "viewer"),
    ]
    assert existing == []
    User = get_user_model()
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("another-pass-9")
    engineer = UserProfile.objects.get(user__username="engineer")
    assert [t.name for t in engineer.teams.all()] == ["NLP"]
    assert UserProfile.objects.get(user__username="viewer").role == "viewer"


@pytest.mark.django_db
def test_existing_users_are_never_reset_or_reactivated():
    User = get_user_model()
    admin = User.objects.create_user("admin", password="their-own-pass-1", is_active=False)
    created, existing = demo_seed.demo_users_create(password="another-pass-9")
    assert existing == ["admin"]
    assert [name for name, _, _ in created] == ["engineer", "viewer"]
    admin.refresh_from_db()
    assert not admin.is_active and not admin.is_superuser
    assert admin.check_password("their-own-pass-1")


def test_the_demo_password_is_random_unless_demo_password_is_set(monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    first, second = demo_seed.demo_password(), demo_seed.demo_password()
    assert first != second and len(first) >= 16
    monkeypatch.setenv("DEMO_PASSWORD", "chosen-password-1")
    assert demo_seed.demo_password() == "chosen-password-1"


@pytest.mark.django_db
def test_live_token_is_written_at_the_first_seeding_and_reused(tmp_path):
    token_file = tmp_path / "live-token"
    token = demo_seed.live_collector_token(token_file=token_file, may_create=True).token
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert demo_seed.live_collector_token(token_file=token_file, may_create=True).token == token
    assert collector_for_token(token).name == demo_seed.LIVE_COLLECTOR


@pytest.mark.django_db
def test_a_lost_live_token_is_not_replaced(tmp_path):
    token_file = tmp_path / "live-token"
    token = demo_seed.live_collector_token(token_file=token_file, may_create=True).token
    token_file.unlink()
    live = demo_seed.live_collector_token(token_file=token_file, may_create=True)
    assert live.token is None and "no usable token" in live.reason
    assert collector_for_token(token).name == demo_seed.LIVE_COLLECTOR  # unchanged
    assert not token_file.exists()
    assert Collector.objects.filter(name=demo_seed.LIVE_COLLECTOR).count() == 1


@pytest.mark.django_db
def test_a_revoked_live_collector_stays_revoked_and_its_token_file_goes(tmp_path):
    token_file = tmp_path / "live-token"
    demo_seed.live_collector_token(token_file=token_file, may_create=True)
    Collector.objects.filter(name=demo_seed.LIVE_COLLECTOR).update(revoked_at=timezone.now())
    live = demo_seed.live_collector_token(token_file=token_file, may_create=True)
    assert live.token is None and "revoked" in live.reason
    assert not token_file.exists()
    assert Collector.objects.get(name=demo_seed.LIVE_COLLECTOR).is_revoked


@pytest.mark.django_db
def test_seed_command_seeds_prints_progress_and_logins_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "printed-once-1")
    out = io.StringIO()
    token_file = tmp_path / "token"
    call_command("seed_demo", "--days", "1", "--live-token-file", str(token_file), stdout=out)
    text = out.getvalue()
    assert "Ingesting samples" in text and "Rolling up hours" in text and "100%" in text
    assert "Demo seeded:" in text and "admin" in text and "printed-once-1" in text
    assert RawSample.objects.exists()
    assert collector_for_token(token_file.read_text().strip()) is not None

    # Seeded again: the logins are neither printed nor touched.
    User = get_user_model()
    User.objects.filter(username="admin").update(is_active=False)
    out = io.StringIO()
    call_command("seed_demo", "--if-empty", "--days", "1", stdout=out)
    assert "printed-once-1" not in out.getvalue() and "Demo logins" not in out.getvalue()
    assert not User.objects.get(username="admin").is_active


@pytest.mark.django_db
def test_seed_command_prints_a_random_password_without_demo_password(monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    out = io.StringIO()
    call_command("seed_demo", "--days", "1", stdout=out)
    password = out.getvalue().split("Demo logins (password: ")[1].split(";")[0]
    assert len(password) >= 16
    assert get_user_model().objects.get(username="admin").check_password(password)


@pytest.mark.django_db
def test_seed_command_if_empty_leaves_an_existing_organisation_alone():
    team = Team.objects.create(name="Ours", slug="ours")
    Project.objects.create(slug="our-project", name="Our project", team=team)
    out = io.StringIO()
    call_command("seed_demo", "--if-empty", "--days", "1", stdout=out)
    assert "not seeding" in out.getvalue()
    assert not RawSample.objects.exists()
    assert Project.objects.count() == 1
    assert not get_user_model().objects.exists()  # no demo login in a real organisation


@pytest.mark.django_db
def test_seed_command_if_empty_completes_an_earlier_demo_seeding():
    # An earlier (or interrupted) seeding: the demo's history stops two hours ago.
    _seed(days=1, now=timezone.now() - timedelta(hours=2))
    before = RawSample.objects.count()
    out = io.StringIO()
    call_command("seed_demo", "--if-empty", "--days", "1", stdout=out)
    assert "Completing the demo's 1 days of history" in out.getvalue()
    assert RawSample.objects.count() >= before + 18 * 23  # two more hours of 18 GPUs
    newest = RawSample.objects.order_by("-ts").first().ts
    assert timezone.now() - newest < timedelta(minutes=5)


@pytest.mark.django_db
def test_seed_command_without_logins_creates_no_users():
    team = Team.objects.create(name="Ours", slug="ours")
    Project.objects.create(slug="our-project", name="Our project", team=team)
    call_command("seed_demo", "--if-empty", "--no-logins", stdout=io.StringIO())
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "--days must be at least 1"),
    ],
)
def test_seed_command_refuses_bad_options_before_writing(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("seed_demo", *args, stdout=io.StringIO())
    assert not Project.objects.exists() and not RawSample.objects.exists()


@pytest.mark.django_db
def test_seed_command_refuses_a_short_demo_password_before_writing(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "short")
    with pytest.raises(CommandError, match="at least 8 characters"):
        call_command("seed_demo", stdout=io.StringIO())
    assert not Project.objects.exists() and not RawSample.objects.exists()
