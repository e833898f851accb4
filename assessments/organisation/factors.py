"""Every factor the footprint uses, resolved with its source: PUE, price, grid, embodied.

Each lookup returns the value together with where it came from, its year where known, and
whether it is a documented fallback (a data gap shown to the user, never hidden). The
arithmetic of embodied carbon is assessments.footprint.footprint_math.embodied_kg_per_hour.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings

from assessments.footprint.footprint_math import embodied_kg_per_hour
from assessments.models import GridIntensityHour, GridZone, HardwareModel, Organisation
from assessments.organisation.gpu_names import match_gpu_name
from assessments.organisation.reference_data import (
    FALLBACK_GPU_KGCO2E,
    FALLBACK_GPU_NAME,
    FALLBACK_HOST_KGCO2E,
    FALLBACK_HOST_NAME,
    FALLBACK_LIFETIME_YEARS,
    FALLBACK_SOURCE,
)

PUE_FALLBACK_SOURCE = "Uptime Institute Global Data Center Survey 2024, industry average PUE"
PUE_FALLBACK_YEAR = 2024
GRID_FALLBACK_SOURCE = "CodeCarbon world average grid intensity (last-resort default)"


@dataclass(frozen=True)
class Factor:
    value: float
    source: str
    year: int | None = None
    is_fallback: bool = False  # a documented default standing in for missing data
    note: str = ""
    unit: str = ""


@dataclass(frozen=True)
class EmbodiedFactor:
    """Embodied carbon charged per hour a device is in service, and how it was derived."""

    kgco2e_per_hour: float
    te_gpu: float  # kgCO2e of the GPU itself (0 for a CPU package)
    l_gpu: float | None  # years
    te_host_share: float  # kgCO2e: the host's embodied divided among the devices sharing it
    l_host: float | None  # years
    n_sharing_host: int  # devices the host's embodied is divided among (0: carries none)
    gpu_model: str | None = None
    sources: tuple[str, ...] = ()
    gaps: tuple[str, ...] = ()
    note: str = ""

    @property
    def is_fallback(self) -> bool:
        return bool(self.gaps)


# --- PUE, price, grid --------------------------------------------------------------------------


def site_pue(site) -> Factor:
    if site is not None and site.pue is not None:
        source = site.pue_source or f"site {site.name}: organisation's value"
        return Factor(site.pue, source, unit="")
    note = (
        f"site {site.name} has no PUE: industry average used"
        if site is not None
        else "no site known: industry-average PUE used"
    )
    return Factor(
        settings.DEFAULT_PUE, PUE_FALLBACK_SOURCE, PUE_FALLBACK_YEAR, is_fallback=True, note=note
    )


def site_price(site) -> Factor:
    """Electricity price per kWh in the organisation's currency.

    No price means cost 0 flagged as a data gap: an average in some currency would look
    like a real figure, and prices differ several-fold between sites.
    """
    unit = f"{Organisation.get().currency}/kWh"
    if site is not None and site.energy_price_per_kwh is not None:
        source = site.price_source or f"site {site.name}: organisation's value"
        return Factor(site.energy_price_per_kwh, source, unit=unit)
    where = f"site {site.name}" if site is not None else "no site known"
    return Factor(
        0.0,
        "no electricity price set",
        is_fallback=True,
        note=f"{where}: no electricity price; cost counted as 0 (data gap)",
        unit=unit,
    )


def zone_annual_intensity(zone_code: str | None) -> Factor:
    zone = GridZone.objects.filter(code=zone_code).first() if zone_code else None
    if zone is not None:
        return Factor(zone.gco2e_per_kwh, zone.source, zone.year, unit="gCO2e/kWh")
    note = (
        f"unknown grid zone {zone_code!r}: world average used"
        if zone_code
        else "no grid zone known: world average used"
    )
    return Factor(
        settings.DEFAULT_GRID_INTENSITY_G_PER_KWH,
        GRID_FALLBACK_SOURCE,
        is_fallback=True,
        note=note,
        unit="gCO2e/kWh",
    )


def _floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hourly_intensities(zone_code: str | None, start: datetime, end: datetime) -> dict:
    """{hour start (UTC): Factor} for every hour overlapping [start, end).

    Imported hourly values where present, else the zone's annual value (docs/methodology.md, 3).
    """
    first, hours = _floor_hour(start), {}
    annual = zone_annual_intensity(zone_code)
    imported = {}
    if zone_code:
        for row in GridIntensityHour.objects.filter(
            zone__code=zone_code, hour__gte=first, hour__lt=end
        ):
            basis = GridIntensityHour.Basis(row.basis).label.lower()
            hour = _floor_hour(row.hour)
            imported[hour] = Factor(
                row.gco2e_per_kwh, f"{row.source} ({basis})", hour.year, unit="gCO2e/kWh"
            )
    hour = first
    while hour < end:
        if hour in imported:
            hours[hour] = imported[hour]
        elif imported:
            note = "hour missing from the imported hourly series: annual value used"
            hours[hour] = Factor(
                annual.value,
                annual.source,
                annual.year,
                annual.is_fallback,
                "; ".join(n for n in (annual.note, note) if n),
                annual.unit,
            )
        else:
            hours[hour] = annual
        hour += timedelta(hours=1)
    return hours


# --- Hardware ----------------------------------------------------------------------------------


def gpu_candidates() -> list[HardwareModel]:
    """GPU models to match names against; the organisation's own models before the shipped."""
    from assessments.organisation.reference_data import shipped_sources

    shipped = shipped_sources()
    models = list(HardwareModel.objects.filter(kind=HardwareModel.Kind.GPU).order_by("name"))
    models = [m for m in models if m.name != FALLBACK_GPU_NAME]
    return sorted(models, key=lambda m: m.source in shipped)


def _names(model: HardwareModel) -> list[str]:
    return [model.name] + [line.strip() for line in model.nvml_names.splitlines() if line.strip()]


def gpu_model_for(device, *, candidates: list[HardwareModel] | None = None):
    """The device's GPU model: the user's override, else matched by name; None if unknown."""
    if device.gpu_model_override_id:
        return device.gpu_model_override
    if device.kind != "gpu":
        return None
    if candidates is None:
        candidates = gpu_candidates()
    return match_gpu_name(device.name, [(model, _names(model)) for model in candidates])


@dataclass
class HostEmbodied:
    """A host's embodied carbon without its GPUs (kgCO2e) and lifetime (years), with sources."""

    te: float
    life: float
    sources: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)


def fallback_models() -> dict[str, tuple[float, float, str]]:
    """{kind: (kgCO2e, lifetime years, source)} of the shipped defaults for unknown hardware;
    their constants if the reference data is not loaded."""
    result = {
        "gpu": (FALLBACK_GPU_KGCO2E, FALLBACK_LIFETIME_YEARS, FALLBACK_SOURCE),
        "host": (FALLBACK_HOST_KGCO2E, FALLBACK_LIFETIME_YEARS, FALLBACK_SOURCE),
    }
    rows = HardwareModel.objects.filter(
        kind__in=["gpu", "host"], name__in=[FALLBACK_GPU_NAME, FALLBACK_HOST_NAME]
    )
    for model in rows:
        if (model.kind, model.name) in (("gpu", FALLBACK_GPU_NAME), ("host", FALLBACK_HOST_NAME)):
            result[model.kind] = (model.embodied_kgco2e, model.lifetime_years, model.source)
    return result


def host_embodied(host, fallbacks: dict | None = None) -> HostEmbodied:
    """The host's own value, else its host class, else the baseline server default (a gap)."""
    if fallbacks is None:
        fallbacks = fallback_models()
    model = host.hardware_model
    if host.embodied_kgco2e is not None:
        te = host.embodied_kgco2e
        source = host.embodied_source or "organisation's value"
        result = HostEmbodied(te, 0.0, [f"host {host.hostname}: {te:g} kgCO2e, {source}"])
    elif model is not None:
        te = model.embodied_kgco2e
        result = HostEmbodied(
            te, 0.0, [f"host {host.hostname} as {model.name}: {te:g} kgCO2e, {model.source}"]
        )
    else:
        te, life, source = fallbacks["host"]
        return HostEmbodied(
            te,
            host.lifetime_years or life,
            [f"host {host.hostname}: {FALLBACK_HOST_NAME}, {te:g} kgCO2e, {source}"],
            [f"host {host.hostname} has no embodied carbon: baseline server default used"],
        )
    if host.lifetime_years:
        result.life = host.lifetime_years
    elif model is not None:
        result.life = model.lifetime_years
    else:
        result.life = FALLBACK_LIFETIME_YEARS
        result.gaps.append(
            f"host {host.hostname} has no lifetime: {FALLBACK_LIFETIME_YEARS:g} years assumed"
        )
    return result


def _physical_gpus(host_devices) -> set[str]:
    """One entry per physical GPU: whole GPUs, and the parents of MIG slices."""
    gpus = set()
    for device in host_devices:
        if device.kind != "gpu":
            continue
        gpus.add(device.parent_uuid if device.is_mig and device.parent_uuid else device.uuid)
    return gpus


def embodied_for_devices(devices: Iterable) -> dict[int, EmbodiedFactor]:
    """{device id: EmbodiedFactor} for many devices at once (few queries, for rollups).

    Only `pk` and `host_id` of the devices given are read: every device of their hosts is
    loaded here anyway (the GPUs of a host share its embodied carbon), so a caller may pass
    plain rows rather than model instances.
    """
    from collectors.models import Device

    devices = list(devices)
    host_ids = {device.host_id for device in devices}
    by_host: dict[int, list] = {}
    loaded = {}
    for other in Device.objects.filter(host_id__in=host_ids).select_related("host__hardware_model"):
        by_host.setdefault(other.host_id, []).append(other)
        loaded[other.pk] = other
    devices = [loaded.get(device.pk, device) for device in devices]
    candidates = gpu_candidates()
    by_name: dict[str, HardwareModel | None] = {}

    def find_model(device):
        # Many devices share a name: match each name once.
        if device.gpu_model_override_id or device.kind != "gpu":
            return gpu_model_for(device, candidates=candidates)
        if device.name not in by_name:
            by_name[device.name] = gpu_model_for(device, candidates=candidates)
        return by_name[device.name]

    fallbacks = fallback_models()
    host_cache: dict[int, HostEmbodied] = {}
    result = {}
    for device in devices:
        siblings = by_host.get(device.host_id, [device])
        host = siblings[0].host if siblings else device.host
        if device.host_id not in host_cache:
            host_cache[device.host_id] = host_embodied(host, fallbacks)
        label = f"{device.kind} {device.index} of {host.hostname}"
        result[device.pk] = _device_embodied(
            device, label, siblings, host_cache[device.host_id], find_model, fallbacks
        )
    return result


def device_embodied(device) -> EmbodiedFactor:
    return embodied_for_devices([device])[device.pk]


def _device_embodied(
    device, label, siblings, host: HostEmbodied, find_model, fallbacks
) -> EmbodiedFactor:
    gpus = _physical_gpus(siblings)
    if device.is_mig and device.parent_uuid:
        # The agent reports a MIG GPU's energy (and its slices' processes as tag shares) on the
        # physical GPU, so that GPU carries the embodied carbon; counting slices would double it.
        return EmbodiedFactor(
            0.0, 0.0, None, 0.0, None, 0, note=f"{label}: embodied carbon carried by its parent GPU"
        )

    sources, gaps = [], []
    te_gpu, l_gpu, gpu_model_name = 0.0, None, None
    if device.kind == "gpu":
        model = find_model(device)
        if model is not None:
            te_gpu, l_gpu, gpu_model_name = model.embodied_kgco2e, model.lifetime_years, model.name
            sources.append(f"GPU {model.name}: {te_gpu:g} kgCO2e, {model.source}")
        else:
            te_gpu, l_gpu, source = fallbacks["gpu"]
            gpu_model_name = FALLBACK_GPU_NAME
            sources.append(f"GPU: {FALLBACK_GPU_NAME}, {te_gpu:g} kgCO2e, {source}")
            gaps.append(f"{label}: GPU {device.name!r} matches no known model: default used")
        n_sharing = len(gpus)
    else:
        # A host with GPUs charges its embodied carbon to them; its CPU packages carry none.
        n_sharing = 0 if gpus else len([other for other in siblings if other.kind != "gpu"]) or 1
    if n_sharing:
        sources.extend(host.sources)
        gaps.extend(host.gaps)

    te_host = host.te if n_sharing else 0.0
    per_hour = embodied_kg_per_hour(te_gpu, l_gpu, te_host, host.life, max(n_sharing, 1))
    te_host_share = te_host / max(n_sharing, 1)
    return EmbodiedFactor(
        kgco2e_per_hour=per_hour,
        te_gpu=te_gpu,
        l_gpu=l_gpu,
        te_host_share=te_host_share,
        l_host=host.life if n_sharing else None,
        n_sharing_host=n_sharing,
        gpu_model=gpu_model_name,
        sources=tuple(sources),
        gaps=tuple(gaps),
    )
