"""The uncertainty ranges of a scope's figures: which inputs each part of a figure depends on,
and their bounds (docs/methodology.md, "Ranges"). The arithmetic is footprint.ranges_math.

scope_figures groups the scope's facts by host, way of measuring and site in one query (the
daily range facts keep those keys, so a read follows hosts x days, not devices x hours); each
group is split into terms, each tied to the inputs it depends on, and terms with the same
inputs are added together:

- IT energy: the devices' source of measurement (NVML for a GPU, RAPL for a CPU package, or
  simulated; CodeCarbon's counted energy is its own source);
- facility energy: that, and the site's PUE; operational carbon: those and the site's grid
  intensity (the zone's value and hourly series share one +-%); cost: the PUE and the site's price;
- embodied carbon: the facts store TE_gpu / L_gpu + TE_host / (n * L_host) together, so the
  embodied carbon of a host's devices measured one way is split into its GPU models' parts and
  its host's part by those devices' rates today (kept with their in-service windows); each part
  depends on its embodied carbon and its lifetime (the host's own where it has them, else its
  host class's, else the baseline server's).

A bound is a ratio to the input's value today, applied to what the facts hold. A bound left out
equals the value; a fallback (the industry-average PUE, the world-average grid) carries the
shipped bounds of reference_data/factor_bounds.csv.
"""

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

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
    """The terms of each summed figure of one scope (or one breakdown row). Terms with the same
    inputs are added together as they come (the bounds are linear in each term's value), so a
    read's work follows its distinct inputs, not its devices."""

    values: dict[str, dict[tuple[str, ...], float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )

    def add(self, name: str, value: float, inputs: tuple[str, ...]) -> None:
        if value:
            self.values[name][inputs] += value

    def of(self, name: str) -> list[rm.Term]:
        return [rm.Term(value, inputs) for inputs, value in self.values[name].items()]

    def total_terms(self) -> list[rm.Term]:
        return self.of("operational_kgco2e") + self.of("embodied_kgco2e")


def measurement_of(kind: str, source: str) -> str:
    """How a device's energy is measured, the key of its bounds in measurement_bounds(): a
    simulated device's, else NVML's for a GPU and RAPL's for a CPU package."""
    if source == "simulated":
        return "simulated"
    return "nvml_gpu" if kind == "gpu" else "rapl_cpu"


@dataclass(frozen=True)
class _ClassInputs:
    """The devices of one host measured one way: the parts their embodied carbon splits into,
    each (inputs, the devices' summed per-hour rate of that part)."""

    parts: tuple[tuple[tuple[str, ...], float], ...]

    def split(self, kgco2e: float) -> list[tuple[tuple[str, ...], float]]:
        rate = math.fsum(part_rate for _, part_rate in self.parts)
        if rate <= 0:
            return [((), kgco2e)]
        return [(inputs, kgco2e * part_rate / rate) for inputs, part_rate in self.parts]


class _Host(NamedTuple):
    """What _host_inputs reads of a host."""

    hostname: str
    hardware_model: HardwareModel | None
    embodied_kgco2e: float | None
    min_kgco2e: float | None
    max_kgco2e: float | None
    lifetime_years: float | None
    lifetime_years_min: float | None
    lifetime_years_max: float | None


class RangeInputs:
    """The uncertain inputs of one read, resolved once per site and device."""

    def __init__(self):
        self.inputs: dict[str, rm.UncertainInput] = {}
        self._sites: dict = {}
        self._classes: dict[tuple[int, str], _ClassInputs] = {}
        self._loaded_hosts: set[int] = set()
        self._models: dict[int, tuple[str, str]] = {}  # hardware model id: its two inputs

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

    # --- hosts and their devices ---

    def load_hosts(
        self, host_ids: Iterable, device_ids: Iterable[int] | None = None, read=None
    ) -> None:
        """The inputs of these hosts' devices, by host and measurement (device_ids: only these
        devices, for a scope narrowed to a host or a hardware model). The devices' rates and
        GPU models are the in-service rows' (footprint.in_service.class_rates; read: those
        rows, read already)."""
        from assessments.footprint.in_service import LONG_IN_LIST, class_rates
        from collectors.models import Host

        wanted = set(host_ids) - self._loaded_hosts - {None}
        if not wanted:
            return
        self._loaded_hosts |= wanted
        rates = class_rates(wanted, device_ids, read=read)
        models = {(m.kind, m.name): m for m in HardwareModel.objects.all()}
        by_pk = {m.pk: m for m in models.values()}
        hosts = Host.objects.all()
        if len(wanted) <= LONG_IN_LIST:
            hosts = hosts.filter(pk__in=wanted)
        hosts = {
            pk: _Host(hostname, by_pk.get(model_id), *bounds)
            for pk, hostname, model_id, *bounds in hosts.values_list(
                "pk",
                "hostname",
                "hardware_model_id",
                "embodied_kgco2e",
                "min_kgco2e",
                "max_kgco2e",
                "lifetime_years",
                "lifetime_years_min",
                "lifetime_years_max",
            )
        }
        for key, by_part in rates.items():
            parts = []
            for name, rate in by_part.items():
                if name is None:  # the host's share
                    host = hosts.get(key[0])
                    inputs = self._host_inputs(host, models) if host is not None else ()
                else:
                    model = models.get(("gpu", name))
                    inputs = self._model_inputs(model) if model is not None else ()
                if rate > 0:
                    parts.append((inputs, rate))
            self._classes[key] = _ClassInputs(tuple(parts))

    def _model_inputs(self, model) -> tuple[str, str]:
        if model.pk not in self._models:
            self._models[model.pk] = self._new_model_inputs(model)
        return self._models[model.pk]

    def _new_model_inputs(self, model) -> tuple[str, str]:
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

    def _measured(self, measurement: str) -> tuple[str, ...]:
        return (self._measurement(measurement),) if measurement in MEASUREMENT_LABELS else ()

    def add_facts(self, terms: FigureTerms, device_class, site_id, sums: dict) -> None:
        """A group of facts of one host's devices measured one way (device_class: (host id,
        measurement)) at one site."""
        pue, grid, price = self._sites[site_id]
        self._add_energy(terms, sums, self._measured(device_class[1]), pue, (grid,), price)
        self.add_embodied(terms, device_class, sums["embodied_kgco2e"])

    def add_reported(self, terms: FigureTerms, site_id, sums: dict) -> None:
        """CodeCarbon's counted energy at one site (none: the run's own grid zone)."""
        pue, grid, price = self._sites[site_id]
        grid_inputs = (grid,) if site_id is not None else ()
        self._add_energy(terms, sums, self._measured("codecarbon"), pue, grid_inputs, price)

    def _add_energy(self, terms, sums, measured, pue, grid: tuple[str, ...], price) -> None:
        terms.add("energy_it_kwh", sums["energy_it_kwh"], measured)
        terms.add("energy_facility_kwh", sums["energy_facility_kwh"], (*measured, pue))
        terms.add("operational_kgco2e", sums["operational_kgco2e"], (*measured, pue, *grid))
        terms.add("cost", sums["cost"], (*measured, pue, price))

    def add_embodied(self, terms: FigureTerms, device_class, kgco2e: float) -> None:
        """Embodied carbon of one host's devices measured one way (device_class: (host id,
        measurement)), split into its GPU models' parts and its host's part by their rates
        today (the facts store the parts added together); without a rate to split by, counted
        as it is, without bounds."""
        found = self._classes.get(device_class) if device_class else None
        if found is None:
            terms.add("embodied_kgco2e", kgco2e, ())
            return
        for inputs, part in found.split(kgco2e):
            terms.add("embodied_kgco2e", part, inputs)


def bounds_of(
    values: dict, terms: FigureTerms, inputs: dict, units: float | None = None
) -> dict[str, rm.Bounds | None]:
    """{figure name: Bounds} of RANGED for these figure values; sci None without SCI."""
    result = {name: rm.figure_bounds(values[name], terms.of(name), inputs) for name in SUMMED}
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


def fact_groups(facts, keys: tuple[str, ...] = ()):
    """[(values of `keys`, (host id, measurement), site id, sums)] of facts grouped by the host
    and measurement of their devices, by site and by `keys` (columns or annotations of the
    facts): the one extra query of a scope's ranges. The daily range facts keep host and
    measurement; other facts read them from their device."""
    from django.db.models import F, Sum

    kept = any(f.name == "measurement" for f in facts.model._meta.get_fields())
    if kept:
        columns = ["host_id", "measurement"]
    else:
        facts = facts.annotate(
            range_host=F("device__host_id"),
            range_kind=F("device__kind"),
            range_source=F("device__source"),
        )
        columns = ["range_host", "range_kind", "range_source"]
    rows = (
        facts.values(*columns, "site_id", *keys)
        .annotate(**{name: Sum(name) for name in SUMMED})
        .order_by()
    )
    groups = []
    for row in rows:
        if kept:
            device_class = (row["host_id"], row["measurement"])
        else:
            device_class = (
                row["range_host"],
                measurement_of(row["range_kind"], row["range_source"]),
            )
        groups.append(
            (
                tuple(row[key] for key in keys),
                device_class,
                row["site_id"],
                {name: row[name] or 0.0 for name in SUMMED},
            )
        )
    return groups


def unmeasured_by_class(
    total_kgco2e: float,
    period_start: datetime,
    period_end: datetime,
    *,
    site=None,
    device_ids=None,
    read=None,
) -> dict[tuple[int, str] | None, float]:
    """The un-measured in-service embodied carbon split among the devices in service in the
    period by their rate times their in-service hours in it (which of those hours no fact
    measured is not kept per device), summed by (host id, measurement); None: none known to
    split by. read: the in-service windows, read already (footprint.in_service.InServiceRead)."""
    from assessments.footprint.in_service import class_windows

    if not total_kgco2e:
        return {}
    weights: dict = defaultdict(float)
    for host_id, measurement, since, until, rate in class_windows(
        period_start,
        period_end,
        site_id=getattr(site, "pk", site),
        device_ids=device_ids,
        read=read,
    ):
        start, end = max(since, period_start), min(until or period_end, period_end)
        weights[(host_id, measurement)] += rate * max((end - start).total_seconds(), 0.0)
    weight = math.fsum(weights.values())
    if weight <= 0:
        return {None: total_kgco2e}
    return {key: total_kgco2e * w / weight for key, w in weights.items()}
