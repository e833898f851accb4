"""The inventory file: load, idempotent reload, dump round trip, all-or-nothing, clear errors."""

from datetime import UTC, date, datetime
from io import StringIO
from textwrap import dedent

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from assessments.models import Allocation, HardwareModel, Organisation, Project, Site, Team
from assessments.organisation.factors import device_embodied, gpu_model_for
from assessments.organisation.inventory import (
    InventoryError,
    inventory_dump,
    inventory_load,
    parse_inventory,
)
from collectors.models import Device, Host

EXAMPLE = dedent(
    """\
    organisation: {name: Example Corp, currency: EUR, internal_carbon_price_per_t: 100}
    sites:
      - {name: paris-dc1, grid_zone: FRA, pue: 1.3, energy_price_per_kwh: 0.18}
      - {name: gcp-iowa, grid_zone: "gcp:us-central1", pue: 1.1, energy_price_per_kwh: 0.08}
    hosts:
      - {hostname: gpu-node-01, site: paris-dc1, embodied_kgco2e: 4600, lifetime_years: 4,
         purchased: 2024-03-01}
    gpu_models:                          # embodied carbon of GPU models, matched by the NVML name
      - {name: "NVIDIA H100 80GB HBM3", embodied_kgco2e: 575.1, lifetime_years: 3}
    teams:
      - {name: NLP}
    projects:
      - {slug: llm-finetune, name: LLM fine-tuning, team: NLP, phase: training,
         work_unit: training samples}
    allocations:                         # for samples that carry no project tag
      - {project: llm-finetune, host: gpu-node-01, devices: all, start: 2026-11-01, end: null}
      - {project: llm-finetune, host: gpu-node-02, devices: [0, 1], start: 2026-10-01,
         end: 2026-10-15}
    """
)


def load(text, name="inventory.yaml", **kwargs):
    return inventory_load(text=dedent(text), file_name=name, **kwargs)


def messages(text):
    with pytest.raises(InventoryError) as caught:
        load(text)
    return str(caught.value)


def snapshot():
    """Everything the inventory can change, as comparable values."""
    rows = []
    for model in (Organisation, Site, Host, HardwareModel, Team, Project, Allocation):
        rows.append(sorted(map(str, model.objects.order_by("pk").values())))
    return rows


# --- Loading ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_design_example_loads_everything():
    result = load(EXAMPLE)
    organisation = Organisation.get()
    assert (organisation.name, organisation.currency) == ("Example Corp", "EUR")
    assert organisation.internal_carbon_price_per_t == 100
    paris = Site.objects.get(name="paris-dc1")
    assert (paris.grid_zone, paris.pue, paris.energy_price_per_kwh) == ("FRA", 1.3, 0.18)
    assert paris.pue_source == "organisation's inventory"
    host = Host.objects.get(hostname="gpu-node-01")
    assert (host.site, host.embodied_kgco2e, host.lifetime_years) == (paris, 4600, 4)
    assert host.purchased == date(2024, 3, 1)
    # A host named only by an allocation has not reported yet: it is created.
    assert Host.objects.filter(hostname="gpu-node-02").exists()
    project = Project.objects.get(slug="llm-finetune")
    assert (project.team.name, project.phase, project.work_unit) == (
        "NLP",
        "training",
        "training samples",
    )
    open_ended = Allocation.objects.get(host=host)
    assert open_ended.device_indexes is None and open_ended.end is None
    assert open_ended.start == datetime(2026, 11, 1, tzinfo=UTC)
    two_devices = Allocation.objects.get(host__hostname="gpu-node-02")
    assert two_devices.device_indexes == [0, 1]
    assert two_devices.end == datetime(2026, 10, 15, tzinfo=UTC)
    assert result.counts["sites"]["created"] == 2 and result.changed


@pytest.mark.django_db
def test_loading_twice_changes_nothing():
    load(EXAMPLE)
    before = snapshot()
    result = load(EXAMPLE)
    assert not result.changed
    assert result.counts["allocations"]["unchanged"] == 2
    assert snapshot() == before


@pytest.mark.django_db
def test_inventory_gpu_model_is_matched_exactly_before_the_shipped_one():
    load(EXAMPLE)
    host = Host.objects.get(hostname="gpu-node-01")
    device = Device.objects.create(uuid="GPU-1", host=host, name="NVIDIA H100 80GB HBM3")
    model = gpu_model_for(device)
    assert model.name == "NVIDIA H100 80GB HBM3" and model.source == "organisation's inventory"
    factor = device_embodied(device)
    assert factor.kgco2e_per_hour == pytest.approx(575.1 / (3 * 8760) + 4600 / (4 * 8760))


@pytest.mark.django_db
def test_a_later_file_updates_by_natural_key_and_null_clears():
    load(EXAMPLE)
    load(
        """\
        sites:
          - {name: paris-dc1, pue: null, energy_price_per_kwh: 0.2, price_source: EDF 2026}
        allocations:
          - {project: llm-finetune, host: gpu-node-01, start: 2026-11-01, end: 2026-12-01}
        """
    )
    paris = Site.objects.get(name="paris-dc1")
    assert paris.pue is None and paris.pue_source == ""
    assert (paris.energy_price_per_kwh, paris.price_source) == (0.2, "EDF 2026")
    assert paris.grid_zone == "FRA"  # left out: kept
    assert Allocation.objects.count() == 2
    assert Allocation.objects.get(host__hostname="gpu-node-01").end == datetime(
        2026, 12, 1, tzinfo=UTC
    )


@pytest.mark.django_db
def test_phase_spellings_and_datetimes_are_accepted():
    load(
        """\
        teams: [{name: Vision, slug: cv}]
        projects:
          - {slug: a, team: Vision, phase: fine-tuning}
          - {slug: b, team: cv, phase: Data preparation}
          - {slug: c, team: Vision, phase: fine_tuning}
        allocations:
          - {project: a, host: h1, start: "2026-11-01T06:30:00+01:00"}
          - {project: b, host: h1, start: 2026-11-01 08:00:00}
        """
    )
    phases = dict(Project.objects.values_list("slug", "phase"))
    assert phases == {"a": "fine_tuning", "b": "data_preparation", "c": "fine_tuning"}
    assert Project.objects.get(slug="a").name == "a"
    starts = sorted(Allocation.objects.values_list("start", flat=True))
    assert starts == [
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
        datetime(2026, 11, 1, 8, tzinfo=UTC),
    ]


@pytest.mark.django_db
def test_a_gpu_model_entry_can_teach_a_shipped_model_its_nvml_names():
    load('gpu_models: [{name: "NVIDIA L4", nvml_names: ["L4 Custom Board"]}]')
    model = HardwareModel.objects.get(kind="gpu", name="NVIDIA L4")
    assert model.nvml_names == "L4 Custom Board" and "BoaviztAPI" in model.source


@pytest.mark.django_db
def test_unknown_zone_loads_with_a_warning_naming_close_zones():
    result = load("sites: [{name: lab, grid_zone: FRX}]")
    assert Site.objects.get(name="lab").grid_zone == "FRX"
    assert "FRX" in result.warnings[0] and "FRA" in result.warnings[0]


@pytest.mark.django_db
def test_dry_run_checks_and_counts_but_writes_nothing():
    result = load(EXAMPLE, dry_run=True)
    assert result.counts["projects"]["created"] == 1
    assert not Site.objects.exists() and not Project.objects.exists()


# --- Dump round trip ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_dump_then_load_changes_nothing_and_dumps_the_same_text():
    load(EXAMPLE)
    Team.objects.create(name="Vision", slug="cv")
    Allocation.objects.create(
        project=Project.objects.get(slug="llm-finetune"),
        host=Host.objects.get(hostname="gpu-node-01"),
        start=datetime(2026, 9, 1, 6, 30, tzinfo=UTC),
        device_indexes=[3],
    )
    dumped = inventory_dump()
    before = snapshot()
    result = inventory_load(text=dumped, file_name="dump.yaml")
    assert not result.changed
    assert snapshot() == before
    assert inventory_dump() == dumped


@pytest.mark.django_db
def test_a_dump_loads_into_an_empty_database_and_reproduces_it():
    load(EXAMPLE)
    dumped = inventory_dump()
    parsed = parse_inventory(dumped)
    assert [e.values["name"] for e in parsed.sections["sites"]] == ["gcp-iowa", "paris-dc1"]
    assert "end: null" in dumped and "NVIDIA H100 80GB HBM3" in dumped
    assert "BoaviztAPI" not in dumped  # shipped models are not the organisation's to list


@pytest.mark.django_db
def test_dump_inventory_command_writes_a_file(tmp_path):
    load(EXAMPLE)
    out = tmp_path / "inv.yaml"
    call_command("dump_inventory", "--output", str(out), stderr=StringIO())
    assert out.read_text() == inventory_dump()
    stdout = StringIO()
    call_command("load_inventory", str(out), stdout=stdout)
    assert "No change." in stdout.getvalue()


# --- Bad files ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            """\
            sites:
              - {name: a, grid_zone: FRA}
              - name: b
                pue: high
            """,
            'inventory.yaml line 4: sites[1].pue: must be a number >= 1.0, got "high"',
        ),
        (
            "sites:\n  - {name: a, peu: 1.2}\n",
            "inventory.yaml line 2: sites[0].peu: unknown field (expected one of: name, "
            "grid_zone, pue, pue_source, energy_price_per_kwh, price_source, pue_min, pue_max, "
            'grid_uncertainty_pct, price_min, price_max); did you mean "pue"?',
        ),
        (
            "organisation: {name: X}\ncolour: green\n",
            "inventory.yaml line 2: colour: unknown section",
        ),
        (
            "sites:\n  - {name: a, grid_zone: France}\n",
            "inventory.yaml line 2: sites[0].grid_zone: must be an ISO 3166 alpha-3 country code",
        ),
        (
            "teams: [{name: NLP}]\nprojects:\n  - {slug: x, team: NLP, phase: training}\n"
            "  - {slug: y, team: NLP, phase: cooking}\n",
            "inventory.yaml line 4: projects[1].phase: must be one of data preparation, training, "
            'fine-tuning, evaluation, inference, got "cooking"',
        ),
        (
            "allocations:\n  - {project: p, host: h, devices: [0, -1], start: 2026-11-01}\n",
            'inventory.yaml line 2: allocations[0].devices: must be "all" or a list of device '
            "indexes like [0, 1], got [0, -1]",
        ),
        (
            "allocations:\n  - {project: p, host: h}\n",
            "inventory.yaml line 2: allocations[0].start: required",
        ),
        (
            "allocations:\n  - {project: p, host: h, start: 2026-11-02, end: 2026-11-01}\n",
            "inventory.yaml line 2: allocations[0].end: must be after start",
        ),
        (
            "allocations:\n  - {project: p, host: h, start: next tuesday}\n",
            "inventory.yaml line 2: allocations[0].start: must be a UTC date or datetime",
        ),
        (
            "hosts:\n  - {hostname: a}\n  - {hostname: a}\n",
            'inventory.yaml line 3: hosts[1].hostname: "a" appears twice (first on line 2)',
        ),
        (
            "hosts:\n  - {hostname: a, lifetime_years: 0}\n",
            "inventory.yaml line 2: hosts[0].lifetime_years: must be a number > 0, got 0",
        ),
        (
            "organisation: {currency: euros}\n",
            "inventory.yaml line 1: organisation.currency: must be a 3-letter ISO 4217 code",
        ),
        ("sites: {name: a}\n", 'inventory.yaml line 1: sites: must be a list, got {"name": "a"}'),
        ("sites:\n  - paris\n", "inventory.yaml line 2: sites[0]: must be a mapping like"),
        ("sites: [{name: a}\n", "inventory.yaml line 2: not valid YAML"),
        ("- a\n- b\n", "inventory.yaml line 1: must be a mapping of sections"),
        ("", "inventory.yaml: the file is empty"),
        ("sites:\n  - {name: a, name: b}\n", "sites[0].name: given twice (first on line 2)"),
    ],
)
def test_a_bad_file_gets_an_error_naming_line_and_field(text, expected):
    with pytest.raises(InventoryError) as caught:
        parse_inventory(dedent(text), "inventory.yaml")
    assert expected in str(caught.value)


def test_every_problem_of_a_file_is_reported_at_once():
    text = "sites:\n  - {name: a, pue: 0.5}\nhosts:\n  - {hostname: h, embodied_kgco2e: -1}\n"
    with pytest.raises(InventoryError) as caught:
        parse_inventory(text, "inv.yaml")
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("inv.yaml line 2: sites[0].pue: must be a number >= 1.0")
    assert lines[1].startswith("inv.yaml line 4: hosts[0].embodied_kgco2e: must be a number >= 0")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "hosts:\n  - {hostname: h, site: nowhere}\n",
            'line 2: hosts[0].site: no site named "nowhere" in this file or the database',
        ),
        (
            "projects:\n  - {slug: p, team: Ghosts}\n",
            'line 2: projects[0].team: no team named "Ghosts"',
        ),
        ("projects:\n  - {slug: p}\n", 'line 2: projects[0].team: required for a new project "p"'),
        (
            "allocations:\n  - {project: nope, host: h, start: 2026-11-01}\n",
            'line 2: allocations[0].project: no project "nope"',
        ),
        (
            "gpu_models:\n  - {name: My GPU, embodied_kgco2e: 300}\n",
            'line 2: gpu_models[0].lifetime_years: required for a new GPU model "My GPU"',
        ),
        (
            "hosts:\n  - {hostname: h, hardware_model: HGX host}\n",
            'line 2: hosts[0].hardware_model: no host model "HGX host"',
        ),
    ],
)
def test_references_to_unknown_things_are_errors_with_line_and_field(text, expected):
    assert expected in messages(text)


@pytest.mark.django_db
def test_a_bad_file_loads_nothing_at_all():
    load(EXAMPLE)
    before = snapshot()
    bad = EXAMPLE.replace("phase: training", "phase: training}\n  - {slug: z, team: Nobody")
    with pytest.raises(InventoryError) as caught:
        load(bad.replace("pue: 1.3", "pue: 1.25"))
    assert 'no team named "Nobody"' in str(caught.value)
    assert snapshot() == before  # the valid site change before the error was rolled back


@pytest.mark.django_db
def test_load_inventory_command_reports_errors_and_changes_nothing(tmp_path):
    path = tmp_path / "inventory.yaml"
    path.write_text("sites:\n  - {name: a, grid_zone: FRA}\n  - {name: b, pue: high}\n")
    with pytest.raises(CommandError) as caught:
        call_command("load_inventory", str(path))
    assert f'{path} line 3: sites[1].pue: must be a number >= 1.0, got "high"' in str(caught.value)
    assert not Site.objects.exists()


def test_load_inventory_command_names_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="cannot be read"):
        call_command("load_inventory", str(tmp_path / "missing.yaml"))


@pytest.mark.django_db
def test_load_inventory_command_prints_counts(tmp_path):
    path = tmp_path / "inventory.yaml"
    path.write_text(EXAMPLE)
    stdout = StringIO()
    call_command("load_inventory", str(path), stdout=stdout)
    assert "sites: 2 created, 0 updated, 0 unchanged" in stdout.getvalue()


@pytest.mark.django_db
def test_a_team_slug_taken_by_another_team_is_an_error():
    Team.objects.create(name="Natural language", slug="nlp")
    assert 'line 1: teams[0].name: slug "nlp" is taken by another team' in messages(
        "teams: [{name: NLP}]"
    )


@pytest.mark.django_db
def test_a_host_class_is_set_by_name_and_gives_the_embodied_default():
    load(
        """\
        hosts:
          - hostname: h1
            hardware_model: "2-socket HGX-class host, 2 TB RAM, 8x3.84 TB SSD, no GPUs"
        """
    )
    host = Host.objects.get(hostname="h1")
    assert host.hardware_model.embodied_kgco2e == 4600
    device = Device.objects.create(uuid="GPU-h1", host=host, name="NVIDIA L4")
    assert device_embodied(device).te_host_share == 4600


@pytest.mark.django_db
def test_updating_a_gpu_models_value_keeps_it_the_organisations():
    load(EXAMPLE)
    result = load(
        'gpu_models: [{name: "NVIDIA H100 80GB HBM3", embodied_kgco2e: 600, source: "Vendor PCF"}]'
    )
    assert result.counts["gpu_models"]["updated"] == 1
    model = HardwareModel.objects.get(name="NVIDIA H100 80GB HBM3")
    assert (model.embodied_kgco2e, model.lifetime_years, model.source) == (600, 3, "Vendor PCF")


@pytest.mark.django_db
def test_a_new_allocation_marks_its_hours_already_measured_for_recompute():
    from collectors.models import DirtyHour, RawSample

    host = Host.objects.create(hostname="gpu-node-09")
    device = Device.objects.create(uuid="GPU-09", host=host, index=0, name="NVIDIA L4")
    RawSample.objects.create(
        device=device, ts=datetime(2026, 11, 2, 10, 30, tzinfo=UTC), duration_s=60, energy_j=600
    )
    DirtyHour.objects.all().delete()  # as if rolled up already
    load(
        dedent(
            """\
            teams: [{name: NLP}]
            projects: [{slug: p1, name: P1, team: NLP, phase: training}]
            allocations:
              - {project: p1, host: gpu-node-09, devices: all, start: 2026-11-01, end: null}
            """
        )
    )
    marked = set(DirtyHour.objects.values_list("device_id", "hour"))
    assert (device.id, datetime(2026, 11, 2, 10, tzinfo=UTC)) in marked


# --- Attribution rules --------------------------------------------------------------------------

RULES = """\
    teams:
      - {name: NLP}
    projects:
      - {slug: llm-pretrain, team: NLP}
      - {slug: vision-train, team: NLP}
    attribution_rules:
      - {match: {namespace: "nlp-*"}, project: llm-pretrain, phase: training}
      - {match: {slurm_account: vision}, project: vision-train}
    """


@pytest.mark.django_db
def test_attribution_rules_load_in_order_and_dump_back():
    from assessments.models import AttributionRule

    result = load(RULES)
    assert result.counts["attribution_rules"]["created"] == 2
    rules = list(AttributionRule.objects.values_list("position", "match", "project__slug", "phase"))
    assert rules == [
        (1, {"namespace": "nlp-*"}, "llm-pretrain", "training"),
        (2, {"slurm_account": "vision"}, "vision-train", ""),
    ]
    dumped = inventory_dump()
    assert "- {match: {namespace: nlp-*}, project: llm-pretrain, phase: training}" in dumped
    assert not inventory_load(text=dumped, file_name="dump.yaml").changed
    assert inventory_dump() == dumped


@pytest.mark.django_db
def test_a_file_with_attribution_rules_replaces_the_stored_list():
    from assessments.models import AttributionRule

    load(RULES)
    load(
        """\
        attribution_rules:
          - {match: {user: ada}, project: vision-train}
        """
    )
    assert list(AttributionRule.objects.values_list("position", "match")) == [(1, {"user": "ada"})]
    load("teams:\n  - {name: NLP}\n")  # no section: the rules stay
    assert AttributionRule.objects.count() == 1


@pytest.mark.parametrize(
    "rule, expected",
    [
        ("{match: {podname: x}, project: p}", "attribution_rules[0].match: unknown match key"),
        ("{match: {}, project: p}", "attribution_rules[0].match: match needs at least one"),
        ("{match: nlp, project: p}", "attribution_rules[0].match: match needs at least one"),
        ("{project: p}", "attribution_rules[0].match: required"),
        ("{match: {pod: x}}", "attribution_rules[0].project: required"),
    ],
)
def test_a_bad_attribution_rule_is_named_with_its_line(rule, expected):
    with pytest.raises(InventoryError) as caught:
        parse_inventory(f"attribution_rules:\n  - {rule}\n", "inventory.yaml")
    assert f"inventory.yaml line 2: {expected}" in str(caught.value)


@pytest.mark.django_db
def test_a_rule_naming_an_unknown_project_loads_nothing():
    from assessments.models import AttributionRule

    message = messages("attribution_rules:\n  - {match: {pod: x}, project: nope}\n")
    assert 'attribution_rules[0].project: no project "nope"' in message
    assert not AttributionRule.objects.exists()


# --- Allocations across teams ------------------------------------------------------------------

CROSS_TEAM = """\
    teams:
      - {name: NLP}
      - {name: Vision}
    projects:
      - {slug: chat, team: NLP, phase: inference}
      - {slug: detect, team: Vision, phase: inference}
      - {slug: summarise, team: NLP, phase: inference}
    allocations:
      - {project: chat, host: gpu-node-01, devices: [0, 1], start: 2026-10-01}
      - {project: summarise, host: gpu-node-01, devices: all, start: 2026-10-01}
      - {project: detect, host: gpu-node-01, devices: [1], start: 2026-10-15, end: 2026-11-01}
    """


def test_inventory_refuses_allocations_overlapping_another_teams(db):
    found = messages(CROSS_TEAM)
    assert "line 11" in found
    assert "allocations[2].devices" in found
    assert "allocated to another team's project over the same time: chat (nlp)" in found
    assert "Give --allow-cross-team to make overlapping allocations across teams." in found
    assert not Allocation.objects.exists()


def test_inventory_loads_cross_team_overlaps_with_the_flag_and_warns(db, tmp_path):
    out = StringIO()
    path = tmp_path / "inventory.yaml"
    path.write_text(dedent(CROSS_TEAM))
    call_command("load_inventory", str(path), "--allow-cross-team", stdout=out)
    assert Allocation.objects.count() == 3
    assert "warning: allocations[2].devices: These devices are allocated to another team's" in (
        out.getvalue()
    )
    assert "(loaded: --allow-cross-team)" in out.getvalue()


def test_inventory_allocation_after_another_teams_end_is_accepted(db):
    load(
        CROSS_TEAM.replace(
            "start: 2026-10-15, end: 2026-11-01", "start: 2026-09-01, end: 2026-10-01"
        )
    )
    assert Allocation.objects.count() == 3


def test_reloading_an_inventory_does_not_find_an_allocation_overlapping_itself(db):
    text = CROSS_TEAM.replace("devices: [1], start: 2026-10-15", "devices: [2], start: 2026-10-15")
    text = text.replace("devices: all", "devices: [0]")
    load(text)
    load(text)
    assert Allocation.objects.count() == 3


# --- Hostile YAML ------------------------------------------------------------------------------

BILLION_LAUGHS = dedent(
    """\
    organisation: {name: Acme}
    teams:
      - &a {name: lol}
      - &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
      - &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
      - &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
      - [*d, *d, *d, *d, *d, *d, *d, *d, *d]
    """
)


def test_a_billion_laughs_is_refused_at_its_first_anchor():
    with pytest.raises(InventoryError) as refused:
        parse_inventory(BILLION_LAUGHS, "laughs.yaml")
    assert str(refused.value) == (
        "laughs.yaml line 3: anchors (&a) are not allowed: write the value out"
    )


def test_a_recursive_alias_is_refused_without_recursion_error():
    with pytest.raises(InventoryError, match="line 1: anchors .&loop. are not allowed"):
        parse_inventory("teams: &loop [*loop]\n")


def test_an_alias_to_an_undefined_anchor_is_refused_with_its_line():
    with pytest.raises(InventoryError, match="line 2"):
        parse_inventory("organisation: {name: Acme}\nteams: [*nowhere]\n")


def test_deep_nesting_is_refused_without_recursion_error():
    deep = "teams: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(InventoryError, match="line 1: nested more than 20 levels deep"):
        parse_inventory(deep)


@pytest.mark.django_db
def test_load_inventory_command_reports_an_alias_as_a_command_error(tmp_path):
    path = tmp_path / "inventory.yaml"
    path.write_text(BILLION_LAUGHS)
    with pytest.raises(CommandError, match="line 3: anchors"):
        call_command("load_inventory", str(path), stdout=StringIO())
