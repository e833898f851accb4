"""Reading the inventory file (docs/architecture.md, 4.5): YAML text in, validated entries out,
or an error naming the line and field of every problem. Pure: nothing here touches the database.
"""

import difflib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

import yaml

from assessments.models import AlertRule, Budget, NotificationChannel, Phase
from assessments.models.watch import ALERT_THRESHOLDS, ScopeError, scope_parts
from assessments.organisation.attribution import rule_problem
from assessments.organisation.factor_bounds import (
    EMBODIED_BOUNDS,
    SITE_BOUNDS,
    UNCERTAINTY_PCT_FIELDS,
    bound_problems,
)
from assessments.organisation.work_kinds import KINDS as WORK_KINDS

INVENTORY_SOURCE = "organisation's inventory"
ZONE_PATTERN = re.compile(r"^([A-Z]{3}|[a-z0-9-]+:[a-z0-9-]+)$")
SLUG_PATTERN = re.compile(r"^[-a-zA-Z0-9_]+$")
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
BUDGET_LIMIT_MAX = 1e15  # as the database constraint budget_limit_range


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


def _work_kind(value):
    if isinstance(value, str) and value.strip() in WORK_KINDS:
        return value.strip()
    raise _Invalid(f"must be one of {', '.join(WORK_KINDS)}, got {_show(value)}")


def _match(value):
    plain = dict(value) if isinstance(value, dict) else value
    problem = rule_problem(plain)
    if problem:
        raise _Invalid(problem)
    return plain


def _uuid(value):
    """A CodeCarbon experiment id, written back in its canonical form."""
    try:
        return str(uuid.UUID(str(value).strip()))
    except ValueError:
        raise _Invalid(f"must be a CodeCarbon experiment id (a UUID), got {_show(value)}") from None


def _scope(value):
    try:
        scope_parts(value)
    except ScopeError as exc:
        raise _Invalid(str(exc)) from None
    return value.strip()


def _choice(choices):
    def check(value):
        if value not in choices:
            raise _Invalid(f"must be one of {', '.join(choices)}, got {_show(value)}")
        return value

    return check


def _flag(value):
    if not isinstance(value, bool):
        raise _Invalid(f"must be true or false, got {_show(value)}")
    return value


def _budget_limit(value):
    limit = _number(above=0, nullable=False)(value)
    if limit > BUDGET_LIMIT_MAX:
        raise _Invalid(f"must be at most {BUDGET_LIMIT_MAX:g}, got {_show(value)}")
    return limit


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
        "pue_min": _number(1.0),
        "pue_max": _number(1.0),
        "grid_uncertainty_pct": _number(0),
        "price_min": _number(0),
        "price_max": _number(0),
    },
    "hosts": {
        "hostname": _text,
        "site": lambda v: None if v is None else _text(v),
        "hardware_model": lambda v: None if v is None else _text(v),
        "embodied_kgco2e": _number(0),
        "embodied_source": _optional_text,
        "lifetime_years": _number(above=0),
        "min_kgco2e": _number(0),
        "max_kgco2e": _number(0),
        "lifetime_years_min": _number(above=0),
        "lifetime_years_max": _number(above=0),
        "purchased": _date,
        "decommissioned": _date,
    },
    "gpu_models": {
        "name": _text,
        "embodied_kgco2e": _number(0, nullable=False),
        "min_kgco2e": _number(0),
        "max_kgco2e": _number(0),
        "lifetime_years": _number(above=0, nullable=False),
        "lifetime_years_min": _number(above=0),
        "lifetime_years_max": _number(above=0),
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
        "work_kind": _work_kind,
    },
    "allocations": {
        "project": _slug,
        "host": _text,
        "devices": _devices,
        "start": lambda v: _moment(v) if v is not None else _raise("required"),
        "end": _moment,
    },
    # In order: the first rule whose every pattern matches a job wins.
    "attribution_rules": {"match": _match, "project": _slug, "phase": _phase},
}
_SECTIONS["codecarbon_experiments"] = {
    "id": lambda v: _uuid(v),
    "project": _slug,
    "phase": lambda v: None if v is None else _phase(v),
    "site": lambda v: None if v is None else _text(v),
}
_SECTIONS["budgets"] = {
    "scope": _scope,
    "metric": _choice(Budget.Metric.values),
    "period": _choice(Budget.Period.values),
    "limit": lambda v: _budget_limit(v),
}
_SECTIONS["notification_channels"] = {
    "name": _text,
    "kind": _choice(NotificationChannel.Kind.values),
    "url": _text,
    "form": _choice(NotificationChannel.Form.values),
    "to": _names_list,
    "secret": _text,
}
_SECTIONS["alert_rules"] = {
    "kind": _choice(AlertRule.Kind.values),
    "scope": _scope,
    "channels": _names_list,
    "enabled": _flag,
    "min_units": _number(0),
    # The threshold, named for its unit (ALERT_THRESHOLDS says which key each kind takes).
    **{key: _number(0, nullable=False) for key, _, _ in ALERT_THRESHOLDS.values()},
}
_REQUIRED = {
    "sites": {"name"},
    "hosts": {"hostname"},
    "gpu_models": {"name"},
    "teams": {"name"},
    "projects": {"slug"},
    "allocations": {"project", "host", "start"},
    "attribution_rules": {"match", "project"},
    "codecarbon_experiments": {"id", "project"},
    "budgets": {"scope", "metric", "period", "limit"},
    "notification_channels": {"name", "kind"},
    "alert_rules": {"kind", "scope"},
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


# An inventory is a few levels deep; anything much deeper is not one, and would exhaust the
# parser's recursion.
MAX_DEPTH = 20


def _check_plain_yaml(text: str) -> None:
    """Refuse anchors and aliases (a few lines of them expand into billions of nodes, or into a
    cycle) and nesting deeper than MAX_DEPTH, from the event stream, before anything is built."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise _PlainYamlError(
                line, f"aliases (*{event.anchor}) are not allowed: write the value out"
            )
        if getattr(event, "anchor", None):
            raise _PlainYamlError(
                line, f"anchors (&{event.anchor}) are not allowed: write the value out"
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _PlainYamlError(line, f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


class _PlainYamlError(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line


def parse_inventory(text: str, file_name: str = "inventory.yaml") -> Inventory:
    """Read and check the whole file; raise InventoryError listing every problem (pure)."""
    problems: list[Problem] = []
    try:
        _check_plain_yaml(text)
        document = yaml.compose(text, Loader=yaml.SafeLoader)
    except _PlainYamlError as exc:
        raise InventoryError([Problem(exc.line, "", str(exc))], file_name) from None
    except RecursionError:
        # Not reachable through the depth check above; kept so no RecursionError ever escapes.
        raise InventoryError([Problem(None, "", "nested too deeply")], file_name) from None
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
    if section == "attribution_rules":
        return None  # rules are a list in order: the same match may appear twice
    if section == "allocations":
        return (entry.values.get("project"), entry.values.get("host"), entry.values.get("start"))
    if section == "budgets":
        return (entry.values.get("scope"), entry.values.get("metric"), entry.values.get("period"))
    if section == "alert_rules":
        return (entry.values.get("kind"), entry.values.get("scope"))
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
                what = {
                    "allocations": "this project, host and start",
                    "budgets": "a budget of this scope, metric and period",
                    "alert_rules": "a rule of this kind and scope",
                }.get(section, _show(key))
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
            if section == "notification_channels":
                _check_channel(entry, problems)
            if section == "alert_rules":
                _check_rule(entry, problems)
            if section in BOUNDED_SECTIONS:
                # Against the values given in the file; loading checks them again against
                # the stored values of what the file leaves out.
                for name, message in bounds_in_file(section, values).items():
                    problems.append(Problem(entry.line_of(name), _join(entry.path, name), message))


# Sections whose inputs carry uncertainty bounds (docs/methodology.md, "Ranges").
BOUNDED_SECTIONS = {
    "sites": (SITE_BOUNDS, UNCERTAINTY_PCT_FIELDS),
    "hosts": (EMBODIED_BOUNDS, ()),
    "gpu_models": (EMBODIED_BOUNDS, ()),
}


def bounds_in_file(section: str, values: dict) -> dict[str, str]:
    """The bound problems of an entry's values; a bound whose value the entry leaves out is
    checked when loading, against the stored value."""
    bounds, pct_fields = BOUNDED_SECTIONS[section]
    problems = bound_problems(values, bounds, pct_fields)
    needs_value = {low for value, low, _ in bounds if value not in values}
    needs_value |= {high for value, _, high in bounds if value not in values}
    return {name: message for name, message in problems.items() if name not in needs_value}


def _check_channel(entry: Entry, problems: list[Problem]) -> None:
    values = entry.values
    if values.get("kind") == "webhook":
        if not values.get("url"):
            problems.append(Problem(entry.line, _join(entry.path, "url"), "required for a webhook"))
        elif not values["url"].lower().startswith(("http://", "https://")):
            problems.append(
                Problem(entry.line_of("url"), _join(entry.path, "url"), "must be http or https")
            )
        for name in ("to",):
            if name in values:
                problems.append(
                    Problem(entry.line_of(name), _join(entry.path, name), "only for e-mail")
                )
    elif values.get("kind") == "email":
        if not values.get("to"):
            problems.append(
                Problem(entry.line, _join(entry.path, "to"), "required for e-mail (addresses)")
            )
        for address in values.get("to", []):
            if "@" not in address or any(c.isspace() for c in address):
                problems.append(
                    Problem(
                        entry.line_of("to"),
                        _join(entry.path, "to"),
                        f"not an e-mail address: {_show(address)}",
                    )
                )
        for name in ("url", "secret", "form"):
            if name in values:
                problems.append(
                    Problem(entry.line_of(name), _join(entry.path, name), "only for webhooks")
                )


def _check_rule(entry: Entry, problems: list[Problem]) -> None:
    values = entry.values
    kind = values.get("kind")
    if kind not in ALERT_THRESHOLDS:
        return
    key = ALERT_THRESHOLDS[kind][0]
    for other in {k for k, _, _ in ALERT_THRESHOLDS.values()} - {key}:
        if other in values:
            problems.append(
                Problem(
                    entry.line_of(other),
                    _join(entry.path, other),
                    f"{kind} takes its threshold as {key}",
                )
            )
    if "min_units" in values and kind != AlertRule.Kind.SCI_REGRESSION:
        problems.append(
            Problem(
                entry.line_of("min_units"),
                _join(entry.path, "min_units"),
                "only for sci_regression",
            )
        )
    if kind == AlertRule.Kind.ROLLUP_LAG and values.get("scope") not in (None, "organisation"):
        problems.append(
            Problem(
                entry.line_of("scope"),
                _join(entry.path, "scope"),
                "rollup_lag is organisation-wide",
            )
        )
