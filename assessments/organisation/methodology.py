"""Reads for the methodology page: the factors in use, with sources, and every data gap."""

import functools
from dataclasses import dataclass
from pathlib import Path

import markdown
from django.conf import settings
from django.db.models import Count, Max, Min

from assessments.footprint.ranges_math import Bounds
from assessments.models import FactorChange, GridIntensityHour, GridZone, HardwareModel, Site
from assessments.organisation import factors
from assessments.organisation.reference_data import (
    FALLBACK_GPU_KGCO2E,
    FALLBACK_GPU_NAME,
    FALLBACK_HOST_KGCO2E,
    FALLBACK_HOST_NAME,
    FALLBACK_LIFETIME_YEARS,
    FALLBACK_SOURCE,
    fallback_factor_bounds,
    measurement_bounds,
)

METHODOLOGY_FILE = Path(settings.BASE_DIR) / "docs" / "methodology.md"


@functools.lru_cache(maxsize=4)
def _rendered(path: str, mtime: float) -> str:
    text = Path(path).read_text(encoding="utf-8")
    return markdown.markdown(text, extensions=["tables", "toc", "sane_lists"])


def methodology_html(path: Path = METHODOLOGY_FILE) -> str:
    """docs/methodology.md as HTML (a file of the product, not user input); cached per version."""
    return _rendered(str(path), path.stat().st_mtime)


@dataclass(frozen=True)
class SiteRow:
    pk: int
    name: str
    grid_zone: str
    grid: factors.Factor
    pue: factors.Factor
    price: factors.Factor
    host_count: int
    # The bounds of each factor (docs/methodology.md, "Ranges"); None where it has none.
    pue_bounds: Bounds | None = None
    grid_bounds: Bounds | None = None
    price_bounds: Bounds | None = None


def _relative(value: float, key: str) -> Bounds:
    bounds = fallback_factor_bounds()[key]
    return Bounds(value * bounds.low_ratio, value * bounds.high_ratio)


def site_bounds(site: Site, pue: factors.Factor, grid: factors.Factor, price: factors.Factor):
    """(PUE, grid, price) bounds of a site's factors, None where a factor has none: the site's
    own or the shipped fallback's, by the rule the figures' ranges use (footprint.scope_ranges)."""
    from assessments.footprint.scope_ranges import RangeInputs

    inputs = RangeInputs()
    inputs.load_sites([site.pk])

    def bounds(kind: str, value: float) -> Bounds | None:
        found = inputs.inputs[f"site:{site.name}:{kind}"]
        if found.low_factor == found.high_factor == 1.0:
            return None
        return Bounds(value * found.low_factor, value * found.high_factor)

    return bounds("pue", pue.value), bounds("grid", grid.value), bounds("price", price.value)


@dataclass(frozen=True)
class ZoneRow:
    code: str
    name: str
    kind: str
    annual: factors.Factor
    hourly_hours: int
    hourly_first: object
    hourly_last: object
    hourly_sources: str


@dataclass(frozen=True)
class GpuModelRow:
    model: HardwareModel
    device_count: int
    device_names: str


def site_rows() -> list[SiteRow]:
    rows = []
    for site in Site.objects.annotate(host_count=Count("hosts")).order_by("name"):
        grid = factors.zone_annual_intensity(site.grid_zone)
        pue, price = factors.site_pue(site), factors.site_price(site)
        pue_bounds, grid_bounds, price_bounds = site_bounds(site, pue, grid, price)
        rows.append(
            SiteRow(
                pk=site.pk,
                name=site.name,
                grid_zone=site.grid_zone,
                grid=grid,
                pue=pue,
                price=price,
                host_count=site.host_count,
                pue_bounds=pue_bounds,
                grid_bounds=grid_bounds,
                price_bounds=price_bounds,
            )
        )
    return rows


def zone_rows(codes: set[str]) -> list[ZoneRow]:
    """The zones the sites use, with their annual value and any imported hourly series."""
    hourly = {
        row["zone__code"]: row
        for row in GridIntensityHour.objects.filter(zone__code__in=codes)
        .values("zone__code")
        .annotate(hours=Count("id"), first=Min("hour"), last=Max("hour"))
    }
    sources: dict[str, set[str]] = {}
    for code, source in (
        GridIntensityHour.objects.filter(zone__code__in=codes)
        .values_list("zone__code", "source")
        .distinct()
    ):
        sources.setdefault(code, set()).add(source)
    rows = []
    for zone in GridZone.objects.filter(code__in=codes).order_by("code"):
        series = hourly.get(zone.code, {})
        rows.append(
            ZoneRow(
                code=zone.code,
                name=zone.name,
                kind=zone.get_kind_display(),
                annual=factors.zone_annual_intensity(zone.code),
                hourly_hours=series.get("hours", 0),
                hourly_first=series.get("first"),
                hourly_last=series.get("last"),
                hourly_sources="; ".join(sorted(sources.get(zone.code, ()))),
            )
        )
    return rows


def _devices():
    from collectors.models import Device

    return list(
        Device.objects.select_related("host__site", "gpu_model_override").order_by(
            "host__hostname", "kind", "index"
        )
    )


def gpu_model_rows(devices) -> list[GpuModelRow]:
    """GPU models the reporting devices matched, with how many devices use each."""
    candidates = factors.gpu_candidates()
    used: dict[int, tuple[HardwareModel, list[str]]] = {}
    for device in devices:
        if device.kind != "gpu":
            continue
        model = factors.gpu_model_for(device, candidates=candidates)
        if model is not None:
            used.setdefault(model.pk, (model, []))[1].append(device.name)
    return [
        GpuModelRow(model, len(names), ", ".join(sorted(set(names))))
        for model, names in sorted(used.values(), key=lambda item: item[0].name)
    ]


@dataclass(frozen=True)
class HostRow:
    hostname: str
    site: str
    gpu_count: int
    embodied: factors.HostEmbodied


def host_rows(devices) -> list[HostRow]:
    """Every host with its embodied carbon and lifetime, and where they come from."""
    from collectors.models import Host

    gpus: dict[int, int] = {}
    for device in devices:
        if device.kind == "gpu" and not device.is_mig:
            gpus[device.host_id] = gpus.get(device.host_id, 0) + 1
    hosts = Host.objects.select_related("site", "hardware_model").order_by("hostname")
    fallbacks = factors.fallback_models()
    return [
        HostRow(
            hostname=host.hostname,
            site=host.site.name if host.site else "",
            gpu_count=gpus.get(host.pk, 0),
            embodied=factors.host_embodied(host, fallbacks),
        )
        for host in hosts
    ]


def data_gaps(sites: list[SiteRow], devices) -> list[str]:
    """Every place a documented default stands in for missing data, in words."""
    gaps = []
    for site in sites:
        if site.grid.is_fallback:
            gaps.append(f"site {site.name}: {site.grid.note}")
        gaps.extend(f.note for f in (site.pue, site.price) if f.is_fallback)
    hosts_without_site = sorted({d.host.hostname for d in devices if d.host.site_id is None})
    for hostname in hosts_without_site:
        gaps.append(
            f"host {hostname} has no site: default PUE, world-average grid intensity and no "
            "electricity price are used"
        )
    seen = set()
    for factor in factors.embodied_for_devices(devices).values():
        for gap in factor.gaps:
            if gap not in seen:
                seen.add(gap)
                gaps.append(gap)
    return gaps


def _between(value: float, key: str, unit: str = "") -> str:
    bounds = _relative(value, key)
    return f"{bounds.low:.3g} to {bounds.high:.3g}{unit}"


def default_factor_rows() -> list[dict]:
    fallback_bounds = fallback_factor_bounds()
    return [
        {
            "factor": "PUE of a site without one",
            "value": f"{settings.DEFAULT_PUE:g} ({_between(settings.DEFAULT_PUE, 'pue_fallback')})",
            "source": f"{factors.PUE_FALLBACK_SOURCE}; bounds: "
            f"{fallback_bounds['pue_fallback'].source}",
            "year": factors.PUE_FALLBACK_YEAR,
        },
        {
            "factor": "Grid intensity of an unknown zone",
            "value": f"{settings.DEFAULT_GRID_INTENSITY_G_PER_KWH:g} gCO2e/kWh "
            f"({_between(settings.DEFAULT_GRID_INTENSITY_G_PER_KWH, 'grid_fallback')})",
            "source": f"{factors.GRID_FALLBACK_SOURCE}; bounds: "
            f"{fallback_bounds['grid_fallback'].source}",
            "year": None,
        },
        {
            "factor": f"Embodied carbon of an unknown GPU ({FALLBACK_GPU_NAME})",
            "value": f"{FALLBACK_GPU_KGCO2E:g} kgCO2e over {FALLBACK_LIFETIME_YEARS:g} years",
            "source": FALLBACK_SOURCE,
            "year": None,
        },
        {
            "factor": f"Embodied carbon of a host without data ({FALLBACK_HOST_NAME})",
            "value": f"{FALLBACK_HOST_KGCO2E:g} kgCO2e over {FALLBACK_LIFETIME_YEARS:g} years",
            "source": FALLBACK_SOURCE,
            "year": None,
        },
        {
            "factor": "Electricity price of a site without one",
            "value": "0 (cost not counted; data gap)",
            "source": "no price set",
            "year": None,
        },
        *(
            {
                "factor": f"Measured energy: {MEASUREMENT_WORDS[kind]}",
                "value": f"-{bounds.low_pct:g} % to +{bounds.high_pct:g} %",
                "source": bounds.source,
                "year": None,
            }
            for kind, bounds in measurement_bounds().items()
        ),
    ]


MEASUREMENT_WORDS = {
    "nvml_gpu": "GPU through NVML",
    "rapl_cpu": "CPU package through RAPL",
    "codecarbon": "reported by CodeCarbon",
    "simulated": "simulated (demo)",
}


FACTOR_CHANGES_SHOWN = 30


@dataclass(frozen=True)
class FactorChangeRow:
    change: FactorChange
    # (field, before, after) for each field the change set; before is None for a creation.
    fields: list[tuple[str, object, object]]


def factor_change_rows(limit: int = FACTOR_CHANGES_SHOWN) -> list[FactorChangeRow]:
    """The latest changes to sites and hardware models, newest first."""
    rows = []
    for change in FactorChange.objects.all()[:limit]:
        fields = [
            (name, change.before.get(name), value)
            for name, value in change.after.items()
            if change.action == FactorChange.Action.UPDATED or value not in (None, "")
        ]
        rows.append(FactorChangeRow(change, fields))
    return rows


def methodology_context() -> dict:
    sites = site_rows()
    devices = _devices()
    return {
        "methodology_html": methodology_html(),
        "sites": sites,
        "zones": zone_rows({site.grid_zone for site in sites if site.grid_zone}),
        "gpu_models": gpu_model_rows(devices),
        "hosts": host_rows(devices),
        "data_gaps": data_gaps(sites, devices),
        "defaults": default_factor_rows(),
        "reference_hardware": HardwareModel.objects.order_by("kind", "name"),
        "factor_changes": factor_change_rows(),
    }
