"""The inventory file (DESIGN 3.5): what the organisation knows, loaded and dumped as YAML.

Three steps: `parse_inventory` reads the YAML and checks every field (pure: text in, validated
entries or an error naming the line and field out); `inventory_load` checks references against
the database and writes everything in one transaction (all or nothing); `inventory_dump` writes
the same format back, so that loading a dump changes nothing.

Rules: entries are matched by natural key (site name, hostname, GPU model name, team name,
project slug; an allocation by project, host and start). A field left out keeps its stored value;
`null` clears it. Nothing absent from the file is deleted.
"""

import difflib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

import yaml
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from assessments.models import (
    Allocation,
    GridZone,
    HardwareModel,
    Organisation,
    Phase,
    Project,
    Site,
    Team,
)
from assessments.organisation.reference_data import shipped_sources
from assessments.organisation.services import allocation_hours_mark
from collectors.models import Host

INVENTORY_SOURCE = "organisation's inventory"
ZONE_PATTERN = re.compile(r"^([A-Z]{3}|[a-z0-9-]+:[a-z0-9-]+)$")
SLUG_PATTERN = re.compile(r"^[-a-zA-Z0-9_]+$")
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")


# --- Errors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    line: int | None  # 1-based line in the file; None when not tied to one
    path: str  # "sites[1].pue"
    message: str

    def describe(self, file_name: str) -> str:
        where = f"{file_name} line {self.line}" if self.line else file_name
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class InventoryError(Exception):
    """The file cannot be loaded; nothing was written. Lists every problem found."""

    def __init__(self, problems: list[Problem], file_name: str = "inventory"):
        self.problems = problems
        self.file_name = file_name
        super().__init__("\n".join(p.describe(file_name) for p in problems))


class _Invalid(Exception):
    pass


def _show(value) -> str:
    """A value as the user wrote it, for error messages."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, default=str)


# --- YAML with line numbers ---------------------------------------------------------------------


class _Map(dict):
    """A YAML mapping that remembers the line of itself and of each key and value."""

    line: int
    key_lines: dict
    value_lines: dict


class _List(list):
    line: int
    item_lines: list


_SCALARS = yaml.SafeLoader("")


def _located(node, problems: list[Problem], path: str):
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result = _Map()
        result.line, result.key_lines, result.value_lines = line, {}, {}
        for key_node, value_node in node.value:
            key = _located(key_node, problems, path)
            key_line = key_node.start_mark.line + 1
            if isinstance(key, dict | list):
                problems.append(Problem(key_line, path, "a key must be a plain name"))
                continue
            if key in result:
                first = result.key_lines[key]
                problems.append(
                    Problem(key_line, _join(path, key), f"given twice (first on line {first})")
                )
                continue
            result[key] = _located(value_node, problems, _join(path, key))
            result.key_lines[key] = key_line
            result.value_lines[key] = value_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        result = _List()
        result.line, result.item_lines = line, []
        for index, item in enumerate(node.value):
            result.append(_located(item, problems, f"{path}[{index}]"))
            result.item_lines.append(item.start_mark.line + 1)
        return result
    try:
        return _SCALARS.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError) as exc:
        problems.append(Problem(line, path, f"cannot read value {node.value!r}: {exc}"))
        return None


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


# --- Field checks (pure) ----------------------------------------------------------------------


def _text(value):
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(f"must be text, got {_show(value)}")
    return value.strip()


def _optional_text(value):
    return "" if value is None else _text(value)


def _number(minimum: float | None = None, *, above: float | None = None, nullable=True):
    def check(value):
        if value is None and nullable:
            return None
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if minimum is not None:
            rule = f"a number >= {minimum}"
        elif above is not None:
            rule = f"a number > {above}"
        else:
            rule = "a number"
        if (
            not is_number
            or value != value  # NaN
            or (minimum is not None and value < minimum)
            or (above is not None and value <= above)
        ):
            raise _Invalid(f"must be {rule}, got {_show(value)}")
        return float(value)

    return check


def _zone(value):
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Invalid(f'must be an ISO 3166 alpha-3 code like "FRA", got {_show(value)}')
    code = value.strip()
    code = code.upper() if len(code) == 3 and code.isalpha() else code.lower()
    if not ZONE_PATTERN.match(code):
        raise _Invalid(
            'must be an ISO 3166 alpha-3 country code like "FRA" or a cloud region like '
            f'"gcp:us-central1", got {_show(value)}'
        )
    return code


def _currency(value):
    if not isinstance(value, str) or not CURRENCY_PATTERN.match(value.strip().upper()):
        raise _Invalid(f'must be a 3-letter ISO 4217 code like "EUR", got {_show(value)}')
    return value.strip().upper()


def _slug(value):
    if not isinstance(value, str) or not SLUG_PATTERN.match(value):
        raise _Invalid(f"must be letters, digits, - or _ (a slug), got {_show(value)}")
    return value


def _date(value):
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _Invalid(f"must be a date like 2024-03-01, got {_show(value)}")


def _moment(value):
    """A UTC date or datetime; a date means its midnight UTC; a naive datetime is UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _Invalid(
                f"must be a UTC date or datetime like 2026-11-01 or 2026-11-01T06:00:00Z, "
                f"got {_show(value)}"
            ) from None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    raise _Invalid(f"must be a UTC date or datetime like 2026-11-01, got {_show(value)}")


def _devices(value):
    """None means all of the host's devices."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return None
    if (
        isinstance(value, list)
        and value
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value)
    ):
        if len(set(value)) != len(value):
            raise _Invalid(f"lists a device index twice: {_show(value)}")
        return sorted(value)
    raise _Invalid(f'must be "all" or a list of device indexes like [0, 1], got {_show(value)}')


_PHASE_ALIASES = {
    "finetuning": "fine_tuning",
    "data_prep": "data_preparation",
    "eval": "evaluation",
}


def _phase(value):
    if isinstance(value, str):
        key = re.sub(r"[\s\-]+", "_", value.strip().lower())
        key = _PHASE_ALIASES.get(key, key)
        if key in Phase.values:
            return key
    choices = ", ".join(label.lower() for label in Phase.labels)
    raise _Invalid(f"must be one of {choices}, got {_show(value)}")


def _names_list(value):
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _Invalid(f"must be a list of names, got {_show(value)}")
    return [v.strip() for v in value]


# Each section: its fields (name -> check) and which are required; the first is the key.
_ORGANISATION = {
    "name": _text,
    "currency": _currency,
    "internal_carbon_price_per_t": _number(0),
    "engineer_hourly_rate": _number(0, nullable=False),
}
_SECTIONS = {
    "sites": {
        "name": _text,
        "grid_zone": _zone,
        "pue": _number(1.0),
        "pue_source": _optional_text,
        "energy_price_per_kwh": _number(0),
        "price_source": _optional_text,
    },
    "hosts": {
        "hostname": _text,
        "site": lambda v: None if v is None else _text(v),
        "hardware_model": lambda v: None if v is None else _text(v),
        "embodied_kgco2e": _number(0),
        "embodied_source": _optional_text,
        "lifetime_years": _number(above=0),
        "purchased": _date,
        "decommissioned": _date,
    },
    "gpu_models": {
        "name": _text,
        "embodied_kgco2e": _number(0, nullable=False),
        "min_kgco2e": _number(0),
        "max_kgco2e": _number(0),
        "lifetime_years": _number(above=0, nullable=False),
        "source": _text,
        "nvml_names": _names_list,
    },
    "teams": {"name": _text, "slug": _slug},
    "projects": {
        "slug": _slug,
        "name": _text,
        "team": _text,
        "phase": _phase,
        "work_unit": _optional_text,
    },
    "allocations": {
        "project": _slug,
        "host": _text,
        "devices": _devices,
        "start": lambda v: _moment(v) if v is not None else _raise("required"),
        "end": _moment,
    },
}
_REQUIRED = {
    "sites": {"name"},
    "hosts": {"hostname"},
    "gpu_models": {"name"},
    "teams": {"name"},
    "projects": {"slug"},
    "allocations": {"project", "host", "start"},
}
SECTION_ORDER = ["organisation", *_SECTIONS]


def _raise(message):
    raise _Invalid(message)


@dataclass
class Entry:
    """One validated item of a section, with where it was written."""

    path: str
    line: int
    values: dict
    lines: dict = field(default_factory=dict)  # field -> line of its value

    def line_of(self, name: str) -> int:
        return self.lines.get(name, self.line)


@dataclass
class Inventory:
    organisation: Entry | None = None
    sections: dict[str, list[Entry]] = field(default_factory=dict)


def _unknown(name: str, expected, path: str, line: int, what: str) -> Problem:
    hint = difflib.get_close_matches(str(name), list(expected), n=1)
    suggestion = f'; did you mean "{hint[0]}"?' if hint else ""
    return Problem(
        line,
        _join(path, name),
        f"unknown {what} (expected one of: {', '.join(expected)}){suggestion}",
    )


def _entry(mapping, path: str, checks: dict, problems: list[Problem]) -> Entry | None:
    if not isinstance(mapping, _Map):
        example = ", ".join(f"{name}: ..." for name in list(checks)[:2])
        problems.append(Problem(None, path, f"must be a mapping like {{{example}}}"))
        return None
    entry = Entry(path, mapping.line, {}, dict(mapping.value_lines))
    for name, value in mapping.items():
        if name not in checks:
            problems.append(_unknown(name, checks, path, mapping.key_lines[name], "field"))
            continue
        try:
            entry.values[name] = checks[name](value)
        except _Invalid as exc:
            problems.append(Problem(mapping.value_lines[name], _join(path, name), str(exc)))
    return entry


def parse_inventory(text: str, file_name: str = "inventory.yaml") -> Inventory:
    """Read and check the whole file; raise InventoryError listing every problem (pure)."""
    problems: list[Problem] = []
    try:
        document = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise InventoryError(
            [Problem(line, "", f"not valid YAML: {exc.problem or exc}")], file_name
        ) from None
    except yaml.YAMLError as exc:
        raise InventoryError([Problem(None, "", f"not valid YAML: {exc}")], file_name) from None
    if document is None:
        raise InventoryError([Problem(None, "", "the file is empty")], file_name)
    root = _located(document, problems, "")
    if not isinstance(root, _Map):
        raise InventoryError(
            [Problem(1, "", "must be a mapping of sections: " + ", ".join(SECTION_ORDER))],
            file_name,
        )
    inventory = Inventory()
    for section, value in root.items():
        line = root.value_lines[section]
        if section == "organisation":
            if value is not None:
                if isinstance(value, _Map):
                    inventory.organisation = _entry(value, section, _ORGANISATION, problems)
                else:
                    problems.append(
                        Problem(line, section, "must be a mapping like {name: ..., currency: EUR}")
                    )
            continue
        if section not in _SECTIONS:
            problems.append(
                _unknown(section, SECTION_ORDER, "", root.key_lines[section], "section")
            )
            continue
        if value is None:
            inventory.sections[section] = []
            continue
        if not isinstance(value, _List):
            problems.append(Problem(line, section, f"must be a list, got {_show(value)}"))
            continue
        entries = inventory.sections.setdefault(section, [])
        for index, item in enumerate(value):
            path = f"{section}[{index}]"
            if not isinstance(item, _Map):
                checks = _SECTIONS[section]
                example = ", ".join(f"{name}: ..." for name in list(checks)[:2])
                problems.append(
                    Problem(value.item_lines[index], path, f"must be a mapping like {{{example}}}")
                )
                continue
            entry = _entry(item, path, _SECTIONS[section], problems)
            for required in sorted(_REQUIRED[section] - set(item)):
                problems.append(Problem(item.line, _join(path, required), "required"))
            entries.append(entry)
    _check_within_file(inventory, problems)
    if problems:
        raise InventoryError(sorted(problems, key=lambda p: (p.line or 0, p.path)), file_name)
    return inventory


def _natural_key(section: str, entry: Entry):
    if section == "allocations":
        return (entry.values.get("project"), entry.values.get("host"), entry.values.get("start"))
    return entry.values.get(next(iter(_SECTIONS[section])))


def _check_within_file(inventory: Inventory, problems: list[Problem]) -> None:
    for section, entries in inventory.sections.items():
        seen: dict = {}
        key_field = "start" if section == "allocations" else next(iter(_SECTIONS[section]))
        for entry in entries:
            key = _natural_key(section, entry)
            if key is None or (isinstance(key, tuple) and None in key):
                continue
            if key in seen:
                what = "this project, host and start" if section == "allocations" else _show(key)
                problems.append(
                    Problem(
                        entry.line_of(key_field),
                        _join(entry.path, key_field),
                        f"{what} appears twice (first on line {seen[key]})",
                    )
                )
            else:
                seen[key] = entry.line_of(key_field)
        for entry in entries:
            values = entry.values
            if section == "allocations" and values.get("start") and values.get("end"):
                if values["end"] <= values["start"]:
                    problems.append(
                        Problem(
                            entry.line_of("end"), _join(entry.path, "end"), "must be after start"
                        )
                    )
            if section == "hosts" and values.get("purchased") and values.get("decommissioned"):
                if values["decommissioned"] < values["purchased"]:
                    problems.append(
                        Problem(
                            entry.line_of("decommissioned"),
                            _join(entry.path, "decommissioned"),
                            "must not be before purchased",
                        )
                    )
            low, high = values.get("min_kgco2e"), values.get("max_kgco2e")
            if low is not None and high is not None and low > high:
                problems.append(
                    Problem(entry.line_of("min_kgco2e"), _join(entry.path, "min_kgco2e"), "> max")
                )


# --- Loading (database) -------------------------------------------------------------------------


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

    def __init__(self, inventory: Inventory):
        self.inventory = inventory
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
            self.sites[name], outcome = _upsert(Site, {"name": name}, values)
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
            _, outcome = _upsert(HardwareModel, lookup, values)
            self.count("gpu_models", outcome)

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
            before = Allocation.objects.filter(**key).values_list("end", flat=True).first()
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


def inventory_load(
    *, text: str, file_name: str = "inventory.yaml", dry_run: bool = False
) -> LoadResult:
    """Check the file, then write all of it in one transaction or nothing (InventoryError).

    With dry_run, everything is checked and counted, then rolled back.
    """
    inventory = parse_inventory(text, file_name)
    try:
        with transaction.atomic():
            result = _Loader(inventory).run()
            if dry_run:
                transaction.set_rollback(True)
            return result
    except InventoryError as exc:
        raise InventoryError(exc.problems, file_name) from None
    except IntegrityError as exc:
        raise InventoryError(
            [Problem(None, "", f"conflicts with what is stored: {exc}")], file_name
        ) from None


# --- Dumping ------------------------------------------------------------------------------------


def _plain(value):
    """Whole floats as integers, for a file people read (1.0 stays a float only if needed)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _FlowMap(dict):
    """Dumped on one line, `- {name: paris-dc1, pue: 1.3}`, as in DESIGN 3.5."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _FlowMap,
    lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True),
)


def _compact(values: dict) -> _FlowMap:
    """Without empty values and without the default source (loading sets it again)."""
    return _FlowMap(
        (k, _plain(v))
        for k, v in values.items()
        if v is not None and v != "" and not (k.endswith("source") and v == INVENTORY_SOURCE)
    )


def _moment_out(moment: datetime | None):
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.date() if moment.time() == time() else moment


def inventory_dump() -> str:
    """The whole inventory as YAML in the format `inventory_load` reads."""
    organisation = Organisation.get()
    document: dict = {
        "organisation": _compact(
            {
                "name": organisation.name,
                "currency": organisation.currency,
                "internal_carbon_price_per_t": organisation.internal_carbon_price_per_t,
                "engineer_hourly_rate": organisation.engineer_hourly_rate,
            }
        )
    }
    document["sites"] = [
        _compact(
            {
                "name": s.name,
                "grid_zone": s.grid_zone,
                "pue": s.pue,
                "pue_source": s.pue_source if s.pue is not None else None,
                "energy_price_per_kwh": s.energy_price_per_kwh,
                "price_source": s.price_source if s.energy_price_per_kwh is not None else None,
            }
        )
        for s in Site.objects.order_by("name")
    ]
    document["hosts"] = [
        _compact(
            {
                "hostname": h.hostname,
                "site": h.site.name if h.site else None,
                "hardware_model": h.hardware_model.name if h.hardware_model else None,
                "embodied_kgco2e": h.embodied_kgco2e,
                "embodied_source": h.embodied_source if h.embodied_kgco2e is not None else None,
                "lifetime_years": h.lifetime_years,
                "purchased": h.purchased,
                "decommissioned": h.decommissioned,
            }
        )
        for h in Host.objects.select_related("site", "hardware_model").order_by("hostname")
    ]
    shipped = shipped_sources()
    gpu_models = []
    for m in HardwareModel.objects.filter(kind="gpu").order_by("name"):
        nvml_names = [n.strip() for n in m.nvml_names.splitlines() if n.strip()] or None
        if m.source not in shipped:
            gpu_models.append(
                _compact(
                    {
                        "name": m.name,
                        "embodied_kgco2e": m.embodied_kgco2e,
                        "min_kgco2e": m.min_kgco2e,
                        "max_kgco2e": m.max_kgco2e,
                        "lifetime_years": m.lifetime_years,
                        "source": m.source,
                        "nvml_names": nvml_names,
                    }
                )
            )
        elif nvml_names:
            # A shipped model the organisation taught extra NVML names.
            gpu_models.append(_FlowMap(name=m.name, nvml_names=nvml_names))
    document["gpu_models"] = gpu_models
    document["teams"] = [_FlowMap(name=t.name, slug=t.slug) for t in Team.objects.order_by("name")]
    document["projects"] = [
        _compact(
            {
                "slug": p.slug,
                "name": p.name,
                "team": p.team.name,
                "phase": p.phase,
                "work_unit": p.work_unit,
            }
        )
        for p in Project.objects.select_related("team").order_by("slug")
    ]
    allocations = []
    for a in Allocation.objects.select_related("project", "host").order_by(
        "project__slug", "host__hostname", "start"
    ):
        allocations.append(
            _FlowMap(
                project=a.project.slug,
                host=a.host.hostname,
                devices="all" if a.device_indexes is None else list(a.device_indexes),
                start=_moment_out(a.start),
                end=_moment_out(a.end),
            )
        )
    document["allocations"] = allocations
    header = (
        "# GreenAI inventory (DESIGN 3.5). Load with: python manage.py load_inventory FILE\n"
        "# Shipped reference factors are not listed; GPU models below are the organisation's.\n"
    )
    body = yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=float("inf")
    )
    return header + body
