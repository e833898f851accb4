"""Loading a parsed inventory into the database: references checked against what is stored, then
everything written in one transaction or nothing.

Entries are matched by natural key (site name, hostname, GPU model name, team name, project slug;
an allocation by project, host and start). A field left out keeps its stored value; `null` clears
it. Nothing absent from the file is deleted.
"""

import difflib
import uuid
from collections import Counter
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from assessments.ai_systems.services import (
    AiSystemError,
    ProjectWindow,
    version_save,
)
from assessments.models import (
    AiSystem,
    AiSystemVersion,
    AlertRule,
    Allocation,
    AttributionRule,
    Budget,
    CodeCarbonExperiment,
    GridZone,
    HardwareModel,
    NotificationChannel,
    Organisation,
    Project,
    Site,
    Team,
)
from assessments.models.watch import ALERT_THRESHOLDS, scope_parts
from assessments.organisation.factor_bounds import bound_problems
from assessments.organisation.factor_changes import (
    factor_change_record,
    inventory_label,
    stored_snapshot,
)
from assessments.organisation.inventory.parse import (
    BOUNDED_SECTIONS,
    INVENTORY_SOURCE,
    SECTION_ORDER,
    Entry,
    Inventory,
    InventoryError,
    Problem,
    _join,
    _show,
    parse_inventory,
)
from assessments.organisation.services import (
    allocation_cross_team_overlaps,
    allocation_hours_mark,
    cross_team_overlap_message,
    job_hours_mark,
)
from assessments.watch.notify import WebhookUrlRefused, webhook_url_check
from assessments.watch.secrets import SecretUnreadable, secret_decrypt, secret_encrypt
from collectors.models import Host


@dataclass
class LoadResult:
    counts: dict[str, Counter] = field(default_factory=dict)  # section -> created/updated/...
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(c["created"] or c["updated"] for c in self.counts.values())

    def summary(self) -> str:
        lines = []
        for section in SECTION_ORDER:
            if section in self.counts:
                c = self.counts[section]
                lines.append(
                    f"{section}: {c['created']} created, {c['updated']} updated, "
                    f"{c['unchanged']} unchanged"
                )
        return "\n".join(lines + [f"warning: {w}" for w in self.warnings])


def _save(obj, values: dict, created: bool) -> str:
    if created:
        for name, value in values.items():
            setattr(obj, name, value)
        obj.save()
        return "created"
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    if not changed:
        return "unchanged"
    for name in changed:
        setattr(obj, name, values[name])
    obj.save(update_fields=changed)
    return "updated"


def _with_source(values: dict, value_field: str, source_field: str, source=INVENTORY_SOURCE):
    """A value given without its source is the organisation's own; a cleared value, no source."""
    if value_field in values and source_field not in values:
        values[source_field] = source if values[value_field] is not None else ""
    return values


def _upsert(model, lookup: dict, values: dict) -> tuple[object, str]:
    """The row with `lookup` (created if missing) updated with `values`; and what happened."""
    obj = model.objects.filter(**lookup).first()
    if obj is None:
        obj = model(**lookup)
        return obj, _save(obj, values, True)
    return obj, _save(obj, values, False)


class _Loader:
    """Writes a parsed inventory section by section, collecting reference problems."""

    def __init__(
        self, inventory: Inventory, *, allow_cross_team: bool = False, changed_by_label: str = ""
    ):
        self.inventory = inventory
        self.changed_by_label = changed_by_label or inventory_label("")
        self.allow_cross_team = allow_cross_team
        self.result = LoadResult()
        self.problems: list[Problem] = []
        # What this file created or updated, by natural key, for later sections' references.
        self.sites: dict = {}
        self.teams: dict = {}
        self.projects: dict = {}
        self.hosts: dict = {}

    def count(self, section: str, outcome: str):
        self.result.counts.setdefault(section, Counter())[outcome] += 1

    def problem(self, entry: Entry, name: str, message: str):
        self.problems.append(Problem(entry.line_of(name), _join(entry.path, name), message))

    def bounds_checked(self, entry: Entry, section: str, model, lookup: dict, values: dict):
        """Whether the entry's values, merged with what is stored, keep every bound around its
        value (docs/methodology.md, "Ranges"); each problem is recorded against the field."""
        bounds, pct_fields = BOUNDED_SECTIONS[section]
        names = {name for triple in bounds for name in triple} | set(pct_fields)
        stored = model.objects.filter(**lookup).values(*names).first() or {}
        merged = {**stored, **{name: values[name] for name in names if name in values}}
        problems = bound_problems(merged, bounds, pct_fields)
        for name, message in problems.items():
            self.problem(entry, name, message if name in values else f"stored value {message}")
        return not problems

    def entries(self, section: str) -> list[Entry]:
        return self.inventory.sections.get(section, [])

    def run(self) -> LoadResult:
        self.load_organisation()
        self.load_sites()
        self.load_gpu_models()
        self.load_hosts()
        self.load_teams()
        self.load_projects()
        self.load_allocations()
        self.load_attribution_rules()
        self.load_codecarbon_experiments()
        self.load_budgets()
        self.load_notification_channels()
        self.load_alert_rules()
        self.load_models()
        if self.problems:
            raise InventoryError(sorted(self.problems, key=lambda p: (p.line or 0, p.path)))
        return self.result

    def load_organisation(self):
        if self.inventory.organisation is not None:
            organisation = Organisation.get()
            outcome = _save(organisation, self.inventory.organisation.values, False)
            self.count("organisation", outcome)

    def load_sites(self):
        known_zones = set(GridZone.objects.values_list("code", flat=True))
        for entry in self.entries("sites"):
            values = dict(entry.values)
            name = values.pop("name")
            _with_source(values, "pue", "pue_source")
            _with_source(values, "energy_price_per_kwh", "price_source")
            zone = values.get("grid_zone")
            if zone and zone not in known_zones:
                close = difflib.get_close_matches(zone, known_zones, n=3)
                hint = f" (close: {', '.join(close)})" if close else ""
                self.result.warnings.append(
                    f"{entry.path}.grid_zone: unknown zone {_show(zone)}{hint}; "
                    "the world average will be used and shown as a data gap"
                )
            if not self.bounds_checked(entry, "sites", Site, {"name": name}, values):
                continue
            self.sites[name], outcome = self._factor_upsert(Site, {"name": name}, values)
            self.count("sites", outcome)

    def load_gpu_models(self):
        for entry in self.entries("gpu_models"):
            values = dict(entry.values)
            name = values.pop("name")
            if "nvml_names" in values:
                values["nvml_names"] = "\n".join(values["nvml_names"])
            _with_source(values, "embodied_kgco2e", "source")
            lookup = {"kind": HardwareModel.Kind.GPU, "name": name}
            if not HardwareModel.objects.filter(**lookup).exists():
                missing = [f for f in ("embodied_kgco2e", "lifetime_years") if f not in values]
                for field_name in missing:
                    self.problem(entry, field_name, f"required for a new GPU model {_show(name)}")
                if missing:
                    continue
            if not self.bounds_checked(entry, "gpu_models", HardwareModel, lookup, values):
                continue
            _, outcome = self._factor_upsert(HardwareModel, lookup, values)
            self.count("gpu_models", outcome)

    def _factor_upsert(self, model, lookup: dict, values: dict) -> tuple[object, str]:
        """_upsert of a site or hardware model, recorded in the factors' change log."""
        stored = model.objects.filter(**lookup).first()
        before = stored_snapshot(stored) if stored is not None else None
        obj, outcome = _upsert(model, lookup, values)
        if outcome != "unchanged":
            factor_change_record(obj=obj, before=before, label=self.changed_by_label)
        return obj, outcome

    def _site(self, entry: Entry, name):
        if name is None:
            return None
        site = self.sites.get(name) or Site.objects.filter(name=name).first()
        if site is None:
            self.problem(entry, "site", f"no site named {_show(name)} in this file or the database")
        return site

    def _host_model(self, entry: Entry, name):
        if name is None:
            return None
        model = HardwareModel.objects.filter(kind=HardwareModel.Kind.HOST, name=name).first()
        if model is None:
            names = HardwareModel.objects.filter(kind=HardwareModel.Kind.HOST)
            close = difflib.get_close_matches(name, [m.name for m in names], n=2, cutoff=0.4)
            hint = f" (close: {'; '.join(close)})" if close else ""
            self.problem(entry, "hardware_model", f"no host model {_show(name)}{hint}")
        return model

    def load_hosts(self):
        for entry in self.entries("hosts"):
            values = dict(entry.values)
            hostname = values.pop("hostname")
            if "site" in values:
                values["site"] = self._site(entry, values["site"])
            if "hardware_model" in values:
                values["hardware_model"] = self._host_model(entry, values["hardware_model"])
            _with_source(values, "embodied_kgco2e", "embodied_source")
            if not self.bounds_checked(entry, "hosts", Host, {"hostname": hostname}, values):
                continue
            self.hosts[hostname], outcome = _upsert(Host, {"hostname": hostname}, values)
            self.count("hosts", outcome)

    def load_teams(self):
        for entry in self.entries("teams"):
            values = dict(entry.values)
            name = values.pop("name")
            if not Team.objects.filter(name=name).exists():
                values.setdefault("slug", slugify(name) or "team")
            slug = values.get("slug")
            if slug and Team.objects.filter(slug=slug).exclude(name=name).exists():
                field_name = "slug" if "slug" in entry.values else "name"
                self.problem(entry, field_name, f"slug {_show(slug)} is taken by another team")
                continue
            self.teams[name], outcome = _upsert(Team, {"name": name}, values)
            self.count("teams", outcome)

    def _team(self, entry: Entry, name):
        team = (
            self.teams.get(name)
            or Team.objects.filter(name=name).first()
            or Team.objects.filter(slug=name).first()
        )
        if team is None:
            self.problem(entry, "team", f"no team named {_show(name)} in this file or the database")
        return team

    def load_projects(self):
        for entry in self.entries("projects"):
            values = dict(entry.values)
            slug = values.pop("slug")
            exists = Project.objects.filter(slug=slug).exists()
            if "team" in values:
                values["team"] = self._team(entry, values["team"])
                if values["team"] is None:
                    continue
            elif not exists:
                self.problem(entry, "team", f"required for a new project {_show(slug)}")
                continue
            if not exists:
                values.setdefault("name", slug)
            self.projects[slug], outcome = _upsert(Project, {"slug": slug}, values)
            self.count("projects", outcome)

    def load_allocations(self):
        for entry in self.entries("allocations"):
            values = entry.values
            slug, hostname = values["project"], values["host"]
            project = self.projects.get(slug) or Project.objects.filter(slug=slug).first()
            if project is None:
                self.problem(
                    entry, "project", f"no project {_show(slug)} in this file or the database"
                )
                continue
            host = self.hosts.get(hostname) or Host.objects.filter(hostname=hostname).first()
            if host is None:
                # A host that has not reported yet may be named here before it exists.
                host = self.hosts[hostname] = Host.objects.create(hostname=hostname)
                self.count("hosts", "created")
            key = {"project": project, "host": host, "start": values["start"]}
            stored = Allocation.objects.filter(**key).first()
            before = stored.end if stored else None
            if not self._cross_team_checked(entry, project, host, stored):
                continue
            allocation, outcome = _upsert(
                Allocation,
                key,
                {"device_indexes": values.get("devices"), "end": values.get("end")},
            )
            self.count("allocations", outcome)
            if outcome != "unchanged":
                # Hours already rolled up change hands: recompute them (old and new window).
                ends = [allocation.end, before]
                end = None if None in ends else max(ends)
                allocation_hours_mark(host=host, start=allocation.start, end=end)

    def load_attribution_rules(self):
        """The file's rules replace the stored list as a whole: their order is their meaning."""
        if "attribution_rules" not in self.inventory.sections:
            return
        wanted = []
        for entry in self.entries("attribution_rules"):
            slug = entry.values["project"]
            project = self.projects.get(slug) or Project.objects.filter(slug=slug).first()
            if project is None:
                self.problem(
                    entry, "project", f"no project {_show(slug)} in this file or the database"
                )
                continue
            wanted.append((entry.values["match"], project, entry.values.get("phase") or ""))
        stored = [
            (rule.match, rule.project, rule.phase)
            for rule in AttributionRule.objects.select_related("project")
        ]
        if wanted == stored:
            for _ in wanted:
                self.count("attribution_rules", "unchanged")
            return
        AttributionRule.objects.all().delete()
        for position, (match, project, phase) in enumerate(wanted, start=1):
            AttributionRule.objects.create(
                position=position, match=match, project=project, phase=phase
            )
            self.count("attribution_rules", "created")
        job_hours_mark()

    def _cross_team_checked(self, entry: Entry, project, host, stored) -> bool:
        """False (with a problem) when the allocation would share devices and time with another
        team's; with allow_cross_team it goes in, with a warning: never silently."""
        values = entry.values
        devices = values["devices"] if "devices" in values else (stored and stored.device_indexes)
        end = values["end"] if "end" in values else (stored and stored.end)
        conflicts = allocation_cross_team_overlaps(
            project=project,
            host=host,
            device_indexes=devices,
            start=values["start"],
            end=end,
            exclude_pk=stored.pk if stored else None,
        )
        if not conflicts:
            return True
        message = cross_team_overlap_message(conflicts)
        if self.allow_cross_team:
            self.result.warnings.append(
                f"{_join(entry.path, 'devices')}: {message.split('. Only')[0]}"
                " (loaded: --allow-cross-team)."
            )
            return True
        self.problem(
            entry, "devices", message.replace("Only an admin may", "Give --allow-cross-team to")
        )
        return False

    def load_codecarbon_experiments(self):
        for entry in self.entries("codecarbon_experiments"):
            values = entry.values
            slug = values["project"]
            project = self.projects.get(slug) or Project.objects.filter(slug=slug).first()
            if project is None:
                self.problem(
                    entry, "project", f"no project {_show(slug)} in this file or the database"
                )
                continue
            updates = {"project": project}
            if "phase" in values:
                updates["phase"] = values["phase"] or ""
            if "site" in values:
                updates["site"] = self._site(entry, values["site"])
                if values["site"] is not None and updates["site"] is None:
                    continue
            # The file states the whole mapping: an experiment may move to another project.
            _, outcome = _upsert(
                CodeCarbonExperiment, {"experiment_id": uuid.UUID(values["id"])}, updates
            )
            self.count("codecarbon_experiments", outcome)

    def _scope(self, entry: Entry) -> dict | None:
        """{"team": ..., "project": ...} the entry's scope names; None (a problem) if unknown."""
        kind, slug = scope_parts(entry.values["scope"])
        lookup = {"team": None, "project": None}
        if kind == "team":
            lookup["team"] = (
                next((t for t in self.teams.values() if t.slug == slug), None)
                or Team.objects.filter(slug=slug).first()
            )
            if lookup["team"] is None:
                self.problem(entry, "scope", f"no team {_show(slug)} in this file or the database")
                return None
        elif kind == "project":
            lookup["project"] = self.projects.get(slug) or Project.objects.filter(slug=slug).first()
            if lookup["project"] is None:
                self.problem(
                    entry, "scope", f"no project {_show(slug)} in this file or the database"
                )
                return None
        return lookup

    def load_budgets(self):
        for entry in self.entries("budgets"):
            lookup = self._scope(entry)
            if lookup is None:
                continue
            lookup.update(metric=entry.values["metric"], period=entry.values["period"])
            _, outcome = _upsert(Budget, lookup, {"limit": entry.values["limit"]})
            self.count("budgets", outcome)

    def load_notification_channels(self):
        self.channels = {}
        for entry in self.entries("notification_channels"):
            values = dict(entry.values)
            name = values.pop("name")
            if "to" in values:
                values["recipients"] = values.pop("to")
            if "url" in values:
                try:
                    webhook_url_check(values["url"])
                except WebhookUrlRefused as exc:
                    self.problem(entry, "url", str(exc))
                    continue
            secret = values.pop("secret", None)
            stored = NotificationChannel.objects.filter(name=name).first()
            if secret is not None:
                # A secret left out keeps the stored one; the same secret changes nothing.
                try:
                    same = (
                        stored is not None
                        and stored.secret_encrypted
                        and (secret_decrypt(stored.secret_encrypted) == secret)
                    )
                except SecretUnreadable:
                    same = False
                if not same:
                    values["secret_encrypted"] = secret_encrypt(secret)
            self.channels[name], outcome = _upsert(NotificationChannel, {"name": name}, values)
            self.count("notification_channels", outcome)

    def load_alert_rules(self):
        for entry in self.entries("alert_rules"):
            values = entry.values
            lookup = self._scope(entry)
            if lookup is None:
                continue
            kind = values["kind"]
            key, default, _ = ALERT_THRESHOLDS[kind]
            lookup["kind"] = kind
            exists = AlertRule.objects.filter(**lookup).exists()
            updates = {}
            if key in values or not exists:
                updates["threshold"] = values.get(key, default)
            for name in ("min_units", "enabled"):
                if name in values:
                    updates[name] = values[name]
            channels = []
            for channel_name in values.get("channels", []):
                channel = (
                    self.channels.get(channel_name)
                    or NotificationChannel.objects.filter(name=channel_name).first()
                )
                if channel is None:
                    self.problem(
                        entry,
                        "channels",
                        f"no notification channel {_show(channel_name)} in this file or the "
                        "database",
                    )
                channels.append(channel)
            if None in channels:
                continue
            rule, outcome = _upsert(AlertRule, lookup, updates)
            if "channels" in values and set(rule.channels.all()) != set(channels):
                rule.channels.set(channels)
                outcome = "updated" if outcome == "unchanged" else outcome
            self.count("alert_rules", outcome)

    def load_models(self):
        for entry in self.entries("models"):
            values = dict(entry.values)
            slug = values.pop("slug")
            versions = values.pop("versions", None)
            stored = AiSystem.objects.filter(slug=slug).first()
            if "team" in values:
                values["team"] = self._team(entry, values["team"])
                if values["team"] is None:
                    continue
            elif stored is None:
                self.problem(entry, "team", f"required for a new model {_show(slug)}")
                continue
            if stored is None:
                values.setdefault("name", slug)
            system, outcome = _upsert(AiSystem, {"slug": slug}, values)
            for index, version in enumerate(versions or []):
                changed = self._load_version(entry, index, system, version)
                if changed is None:
                    break
                if changed and outcome == "unchanged":
                    outcome = "updated"
            self.count("models", outcome)

    def _load_version(self, entry: Entry, index: int, system, values: dict) -> bool | None:
        """Create or update one version (by its version string); whether it changed, None
        when refused (the problem names the model, the version and the field)."""
        label = values["version"]
        stored = AiSystemVersion.objects.filter(system=system, version=label).first()
        where = f"[{index}] ({_show(label)})"
        fields = {
            name: values.get(name, getattr(stored, name, None))
            for name in (
                "model_name",
                "planned_requests",
                "quality_metric",
                "quality_value",
                "latency_p50_ms",
                "latency_p95_ms",
            )
        }
        fields["relation"] = values.get("relation", getattr(stored, "relation", "")) or ""
        parent = getattr(stored, "parent", None)
        if "parent" in values:
            parent = None
            if values["parent"] is not None:
                parent = AiSystemVersion.objects.filter(
                    system=system, version=values["parent"]
                ).first()
                if parent is None:
                    self.problem(
                        entry,
                        "versions",
                        f"{where}.parent: no version {_show(values['parent'])} of "
                        f"{system.slug} before it in this file or in the database",
                    )
                    return None
        windows = {}
        for role in ("produced_by", "served_by"):
            if role not in values:
                windows[role] = [
                    ProjectWindow(project=w.project, start=w.start, end=w.end)
                    for w in (stored.windows.filter(role=role) if stored else [])
                ]
                continue
            windows[role] = []
            for window in values[role]:
                project = (
                    self.projects.get(window["project"])
                    or Project.objects.filter(slug=window["project"]).first()
                )
                if project is None:
                    self.problem(
                        entry,
                        "versions",
                        f"{where}.{role}: no project {_show(window['project'])} in this file "
                        "or the database",
                    )
                    return None
                windows[role].append(
                    ProjectWindow(project=project, start=window["start"], end=window["end"])
                )
        before = _version_state(stored)
        try:
            saved = version_save(
                system=system,
                instance=stored,
                version=label,
                parent=parent,
                allow_other_teams=self.allow_cross_team,
                **fields,
                **windows,
            )
        except AiSystemError as exc:
            self.problem(entry, "versions", f"{where}.{exc.field or 'version'}: {exc}")
            return None
        return _version_state(saved) != before


def _version_state(version) -> tuple | None:
    """What a version holds, to tell an update from an unchanged load."""
    if version is None:
        return None
    return (
        version.parent_id,
        version.relation,
        version.model_name,
        version.planned_requests,
        version.quality_metric,
        version.quality_value,
        version.latency_p50_ms,
        version.latency_p95_ms,
        sorted(version.windows.values_list("role", "project_id", "start", "end")),
    )


def inventory_load(
    *,
    text: str,
    file_name: str = "inventory.yaml",
    dry_run: bool = False,
    allow_cross_team: bool = False,
) -> LoadResult:
    """Check the file, then write all of it in one transaction or nothing (InventoryError).

    With dry_run, everything is checked and counted, then rolled back. An allocation sharing
    devices and time with another team's is a problem unless allow_cross_team (then a warning).
    Any host may be named: loading an inventory is an administrator's act (manage.py).
    """
    inventory = parse_inventory(text, file_name)
    try:
        with transaction.atomic():
            result = _Loader(
                inventory,
                allow_cross_team=allow_cross_team,
                changed_by_label=inventory_label(file_name),
            ).run()
            if dry_run:
                transaction.set_rollback(True)
            return result
    except InventoryError as exc:
        raise InventoryError(exc.problems, file_name) from None
    except IntegrityError as exc:
        raise InventoryError(
            [Problem(None, "", f"conflicts with what is stored: {exc}")], file_name
        ) from None
