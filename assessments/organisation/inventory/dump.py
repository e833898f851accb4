"""Dumping the stored inventory as YAML in the format `inventory_load` reads, so that loading a
dump changes nothing."""

from datetime import UTC, datetime, time

import yaml

from assessments.models import (
    AlertRule,
    Allocation,
    AttributionRule,
    Budget,
    CodeCarbonExperiment,
    HardwareModel,
    NotificationChannel,
    Organisation,
    Project,
    Site,
    Team,
)
from assessments.models.watch import ALERT_THRESHOLDS, BUDGET_ORDER
from assessments.organisation.inventory.parse import INVENTORY_SOURCE
from assessments.organisation.reference_data import shipped_sources
from collectors.models import Host


def _plain(value):
    """Whole floats as integers, for a file people read (1.0 stays a float only if needed)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _FlowMap(dict):
    """Dumped on one line, `- {name: paris-dc1, pue: 1.3}`, as in docs/architecture.md."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True  # the loader refuses anchors and aliases: a repeated value is written out


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
                "pue_min": s.pue_min,
                "pue_max": s.pue_max,
                "grid_uncertainty_pct": s.grid_uncertainty_pct,
                "price_min": s.price_min,
                "price_max": s.price_max,
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
                "min_kgco2e": h.min_kgco2e,
                "max_kgco2e": h.max_kgco2e,
                "lifetime_years_min": h.lifetime_years_min,
                "lifetime_years_max": h.lifetime_years_max,
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
                        "lifetime_years_min": m.lifetime_years_min,
                        "lifetime_years_max": m.lifetime_years_max,
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
                "work_kind": p.work_kind,
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
    document["attribution_rules"] = [
        _compact({"match": _FlowMap(rule.match), "project": rule.project.slug, "phase": rule.phase})
        for rule in AttributionRule.objects.select_related("project")
    ]
    experiments = CodeCarbonExperiment.objects.select_related("project", "site")
    if experiments.exists():
        document["codecarbon_experiments"] = [
            _compact(
                {
                    "id": str(e.experiment_id),
                    "project": e.project.slug,
                    "phase": e.phase or None,
                    "site": e.site.name if e.site else None,
                }
            )
            for e in experiments.order_by("project__slug", "experiment_id")
        ]
    budgets = Budget.objects.select_related("team", "project").order_by(*BUDGET_ORDER)
    if budgets.exists():
        document["budgets"] = [
            _FlowMap(scope=b.scope, metric=b.metric, period=b.period, limit=_plain(b.limit))
            for b in budgets
        ]
    channels = NotificationChannel.objects.order_by("name")
    if channels.exists():
        # Never the secret: loading this file keeps the stored one.
        document["notification_channels"] = [
            _compact(
                {
                    "name": c.name,
                    "kind": c.kind,
                    "url": c.url or None,
                    "form": c.form if c.kind == NotificationChannel.Kind.WEBHOOK else None,
                    "to": list(c.recipients) or None,
                }
            )
            for c in channels
        ]
    rules = AlertRule.objects.select_related("team", "project").prefetch_related("channels")
    if rules.exists():
        document["alert_rules"] = [
            _compact(
                {
                    "kind": r.kind,
                    "scope": r.scope,
                    ALERT_THRESHOLDS[r.kind][0]: r.threshold,
                    "min_units": r.min_units,
                    "enabled": None if r.enabled else False,
                    "channels": sorted(c.name for c in r.channels.all()) or None,
                }
            )
            for r in rules.order_by("kind", "team__slug", "project__slug")
        ]
    header = (
        "# GreenAI inventory (format: docs/architecture.md, 4.5).\n"
        "# Load with: python manage.py load_inventory FILE\n"
        "# Shipped reference factors are not listed; GPU models below are the organisation's.\n"
    )
    body = yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=float("inf")
    )
    return header + body
