"""The uncertainty ranges of a scope's figures: which inputs each part of a figure depends on,
and their bounds (docs/methodology.md, "Ranges"). The arithmetic is footprint.ranges_math.

scope_figures groups the scope's facts by device and site in one query; each group is split
into terms, each tied to the inputs it depends on:

- IT energy: the device's source of measurement (NVML for a GPU, RAPL for a CPU package, or
  simulated; CodeCarbon's counted energy is its own source);
- facility energy: that, and the site's PUE; operational carbon: those and the site's grid
  intensity (the zone's value and hourly series share one +-%); cost: the PUE and the site's price;
- embodied carbon: the facts store TE_gpu / L_gpu + TE_host / (n * L_host) together, so a
  device's embodied carbon is split into its GPU model's part and its host's part by today's
  rates of the two; each part depends on its embodied carbon and its lifetime (the host's own
  where it has them, else its host class's, else the baseline server's).

A bound is a ratio to the input's value today, applied to what the facts hold. A bound left out
equals the value; a fallback (the industry-average PUE, the world-average grid) carries the
shipped bounds of reference_data/factor_bounds.csv.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from assessments.footprint import ranges_math as rm
from assessments.models import GridZone, HardwareModel, Site
from assessments.organisation.reference_data import (
    FALLBACK_HOST_NAME,
    fallback_factor_bounds,
    measurement_bounds,
)

# The figures that are sums of terms; total carbon is operational + embodied, SCI total / units.
SUMMED = ("energy_it_kwh", "energy_facility_kwh", "operational_kgco2e", "embodied_kgco2e", "cost")
RANGED = (*SUMMED, "total_kgco2e", "sci")

MEASUREMENT_LABELS = {
    "nvml_gpu": "GPU energy measured through NVML",
    "rapl_cpu": "CPU energy measured through RAPL",
    "codecarbon": "energy reported by CodeCarbon",
    "simulated": "simulated energy",
}
NO_SITE = "-"


@dataclass
class FigureTerms:
    """The terms of each summed figure of one scope (or one breakdown row)."""

    terms: dict[str, list[rm.Term]] = field(default_factory=lambda: defaultdict(list))

    def add(self, name: str, value: float, inputs: tuple[str, ...]) -> None:
        if value:
            self.terms[name].append(rm.Term(value, inputs))

    def total_terms(self) -> list[rm.Term]:
        return self.terms["operational_kgco2e"] + self.terms["embodied_kgco2e"]


@dataclass(frozen=True)
class _DeviceInputs:
    measurement: str
    gpu_inputs: tuple[str, ...]
    host_inputs: tuple[str, ...]
    gpu_rate: float
    host_rate: float


class RangeInputs:
    """The uncertain inputs of one read, resolved once per site and device."""

    def __init__(self):
        self.inputs: dict[str, rm.UncertainInput] = {}
        self._sites: dict = {}
        self._devices: dict[int, _DeviceInputs] = {}

    def _add(self, key: str, label: str, factors: tuple[float, float]) -> str:
        if key not in self.inputs:
            self.inputs[key] = rm.UncertainInput(key, label, *factors)
        return key

    def _measurement(self, kind: str) -> str:
        bounds = measurement_bounds()[kind]
        factors = rm.relative_factors(bounds.low_pct, bounds.high_pct)
        return self._add(f"measurement:{kind}", MEASUREMENT_LABELS[kind], factors)

    # --- sites ---

    def load_sites(self, site_ids: Iterable) -> None:
        wanted = {pk for pk in site_ids if pk is not None} - set(self._sites)
        sites = list(Site.objects.filter(pk__in=wanted))
        zones = set(
            GridZone.objects.filter(code__in={s.grid_zone for s in sites}).values_list(
                "code", flat=True
            )
        )
        fallback = fallback_factor_bounds()
        for site in [*sites, None]:
            if site is None and None in self._sites:
                continue
            self._sites[getattr(site, "pk", None)] = self._site_inputs(site, zones, fallback)

    def _site_inputs(self, site, zones: set[str], fallback) -> tuple[str, str, str]:
        name = site.name if site is not None else NO_SITE
        where = f"of {name}" if site is not None else "where no site is known"
        if site is not None and site.pue is not None:
            pue = rm.value_factors(site.pue, site.pue_min, site.pue_max)
        else:
            pue = rm.relative_factors(
                fallback["pue_fallback"].low_pct, fallback["pue_fallback"].high_pct
            )
        if site is not None and site.grid_uncertainty_pct is not None:
            pct = site.grid_uncertainty_pct
            grid = rm.relative_factors(pct, pct)
        elif site is None or site.grid_zone not in zones:
            grid = rm.relative_factors(
                fallback["grid_fallback"].low_pct, fallback["grid_fallback"].high_pct
            )
        else:
            grid = (1.0, 1.0)
        price = (
            rm.value_factors(site.energy_price_per_kwh, site.price_min, site.price_max)
            if site is not None
            else (1.0, 1.0)
        )
        return (
            self._add(f"site:{name}:pue", f"PUE {where}", pue),
            self._add(f"site:{name}:grid", f"grid intensity {where}", grid),
            self._add(f"site:{name}:price", f"energy price {where}", price),
        )

    # --- devices ---

    def load_devices(self, device_ids: Iterable[int]) -> None:
        from assessments.organisation.factors import embodied_for_devices
        from collectors.models import Device

        wanted = set(device_ids) - set(self._devices) - {None}
        if not wanted:
            return
        devices = list(Device.objects.filter(pk__in=wanted).select_related("host__hardware_model"))
        factors = embodied_for_devices(devices)
        models = {(m.kind, m.name): m for m in HardwareModel.objects.all()}
        for device in devices:
            self._devices[device.pk] = self._device_inputs(device, factors[device.pk], models)

    def _device_inputs(self, device, factor, models) -> _DeviceInputs:
        if device.source == device.Source.SIMULATED:
            kind = "simulated"
        else:
            kind = "nvml_gpu" if device.kind == device.Kind.GPU else "rapl_cpu"
        gpu_inputs: tuple[str, ...] = ()
        gpu_rate = host_rate = 0.0
        if factor.te_gpu and factor.l_gpu:
            gpu_rate = factor.te_gpu / factor.l_gpu
            model = models.get(("gpu", factor.gpu_model))
            if model is not None:
                gpu_inputs = self._model_inputs(model)
        host_inputs: tuple[str, ...] = ()
        if factor.n_sharing_host and factor.l_host:
            host_rate = factor.te_host_share / factor.l_host
            host_inputs = self._host_inputs(device.host, models)
        return _DeviceInputs(self._measurement(kind), gpu_inputs, host_inputs, gpu_rate, host_rate)

    def _model_inputs(self, model) -> tuple[str, str]:
        return (
            self._add(
                f"hardware_model:{model.name}:embodied",
                f"embodied carbon of {model.name}",
                rm.value_factors(model.embodied_kgco2e, model.min_kgco2e, model.max_kgco2e),
            ),
            self._add(
                f"hardware_model:{model.name}:lifetime",
                f"lifetime of {model.name}",
                rm.lifetime_factors(
                    model.lifetime_years, model.lifetime_years_min, model.lifetime_years_max
                ),
            ),
        )

    def _host_inputs(self, host, models) -> tuple[str, ...]:
        """As factors.host_embodied chooses: the host's own value, else its host class's, else
        the baseline server's; the lifetime likewise (none: a fixed assumption)."""
        model = host.hardware_model
        if host.embodied_kgco2e is None and model is None:
            model = models.get(("host", FALLBACK_HOST_NAME))
        model_inputs = self._model_inputs(model) if model is not None else ()
        inputs = []
        if host.embodied_kgco2e is not None:
            inputs.append(
                self._add(
                    f"host:{host.hostname}:embodied",
                    f"embodied carbon of host {host.hostname}",
                    rm.value_factors(host.embodied_kgco2e, host.min_kgco2e, host.max_kgco2e),
                )
            )
        elif model_inputs:
            inputs.append(model_inputs[0])
        if host.lifetime_years:
            inputs.append(
                self._add(
                    f"host:{host.hostname}:lifetime",
                    f"lifetime of host {host.hostname}",
                    rm.lifetime_factors(
                        host.lifetime_years, host.lifetime_years_min, host.lifetime_years_max
                    ),
                )
            )
        elif model_inputs:
            inputs.append(model_inputs[1])
        return tuple(inputs)

    # --- terms ---

    def add_facts(self, terms: FigureTerms, device_id, site_id, sums: dict) -> None:
        """A group of facts of one device at one site."""
        device = self._devices.get(device_id)
        pue, grid, price = self._sites[site_id]
        measured = (device.measurement,) if device is not None else ()
        self._add_energy(terms, sums, measured, pue, grid, price)
        self.add_embodied(terms, device_id, sums["embodied_kgco2e"])

    def add_reported(self, terms: FigureTerms, site_id, sums: dict) -> None:
        """CodeCarbon's counted energy at one site (none: the run's own grid zone)."""
        pue, grid, price = self._sites[site_id]
        grid_inputs = (grid,) if site_id is not None else ()
        self._add_energy(terms, sums, (self._measurement("codecarbon"),), pue, grid_inputs, price)

    def _add_energy(self, terms, sums, measured, pue, grid, price) -> None:
        grid = grid if isinstance(grid, tuple) else (grid,)
        terms.add("energy_it_kwh", sums["energy_it_kwh"], measured)
        terms.add("energy_facility_kwh", sums["energy_facility_kwh"], (*measured, pue))
        terms.add("operational_kgco2e", sums["operational_kgco2e"], (*measured, pue, *grid))
        terms.add("cost", sums["cost"], (*measured, pue, price))

    def add_embodied(self, terms: FigureTerms, device_id, kgco2e: float) -> None:
        device = self._devices.get(device_id)
        if device is None or device.gpu_rate + device.host_rate <= 0:
            # No rate today to split by: counted as it is, without bounds.
            terms.add("embodied_kgco2e", kgco2e, ())
            return
        gpu_part, host_part = rm.embodied_parts(kgco2e, device.gpu_rate, device.host_rate)
        terms.add("embodied_kgco2e", gpu_part, device.gpu_inputs)
        terms.add("embodied_kgco2e", host_part, device.host_inputs)


def bounds_of(
    values: dict, terms: FigureTerms, inputs: dict, units: float | None = None
) -> dict[str, rm.Bounds | None]:
    """{figure name: Bounds} of RANGED for these figure values; sci None without SCI."""
    result = {name: rm.figure_bounds(values[name], terms.terms[name], inputs) for name in SUMMED}
    result["total_kgco2e"] = rm.figure_bounds(
        values["operational_kgco2e"] + values["embodied_kgco2e"], terms.total_terms(), inputs
    )
    sci = values.get("sci")
    result["sci"] = (
        rm.divided_bounds(result["total_kgco2e"], units) if sci is not None and units else None
    )
    return result


def drivers_of(terms: FigureTerms, inputs: dict) -> tuple[rm.Driver, ...]:
    """The inputs ranked by their share of total carbon's range."""
    return tuple(rm.range_drivers(terms.total_terms(), inputs))


def fact_groups(facts, key: str | None = None):
    """[(row key, device id, site id, sums)] of facts grouped by device and site (and by `key`,
    a column or an annotation of the facts): the one extra query of a scope's ranges."""
    from django.db.models import Sum

    columns = ["device_id", "site_id"] + ([key] if key else [])
    rows = facts.values(*columns).annotate(**{name: Sum(name) for name in SUMMED}).order_by()
    return [
        (
            row[key] if key else None,
            row["device_id"],
            row["site_id"],
            {name: row[name] or 0.0 for name in SUMMED},
        )
        for row in rows
    ]


def unmeasured_by_device(
    total_kgco2e: float, period_start: datetime, period_end: datetime, *, site=None, device_ids=None
) -> dict[int | None, float]:
    """The un-measured in-service embodied carbon split among the devices in service in the
    period by their rate times their in-service hours in it (which of those hours no fact
    measured is not kept per device); None: none known to split by."""
    from django.db.models import Q

    from assessments.models import DeviceInService

    if not total_kgco2e:
        return {}
    windows = DeviceInService.objects.filter(since__lt=period_end, kgco2e_per_hour__gt=0).filter(
        Q(until__isnull=True) | Q(until__gt=period_start)
    )
    if site is not None:
        windows = windows.filter(site=site)
    if device_ids is not None:
        windows = windows.filter(device_id__in=device_ids)
    weights = {}
    for device_id, since, until, rate in windows.values_list(
        "device_id", "since", "until", "kgco2e_per_hour"
    ):
        start, end = max(since, period_start), min(until or period_end, period_end)
        weights[device_id] = rate * max((end - start).total_seconds(), 0.0)
    weight = sum(weights.values())
    if weight <= 0:
        return {None: total_kgco2e}
    return {device_id: total_kgco2e * w / weight for device_id, w in weights.items()}
