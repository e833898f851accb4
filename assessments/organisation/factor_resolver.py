"""Current factors for device-hours, looked up once per batch (assessments.organisation.factors does
the work).

The rollup asks for the factors of many device-hours at a time; this caches the lookups per
site, zone and device so that a batch of a thousand GPUs costs a handful of queries.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from assessments.footprint.footprint_math import HourFactors
from assessments.organisation import factors as factor_lookups


@dataclass(frozen=True)
class ResolvedFactors:
    factors: HourFactors
    grid_source: str
    notes: tuple[str, ...]  # data gaps and fallbacks, in words


def _describe(factor) -> str:
    return f"{factor.source} ({factor.year})" if factor.year else factor.source


class FactorResolver:
    def __init__(self):
        self._site: dict = {}
        self._zone_hours: dict = {}
        self._embodied: dict = {}

    def prefetch_embodied(self, devices) -> None:
        missing = [d for d in devices if d.pk not in self._embodied]
        if missing:
            self._embodied.update(factor_lookups.embodied_for_devices(missing))

    def _site_factors(self, site):
        key = site.pk if site is not None else None
        if key not in self._site:
            self._site[key] = (factor_lookups.site_pue(site), factor_lookups.site_price(site))
        return self._site[key]

    def _grid(self, zone_code: str | None, hour: datetime):
        hours = self._zone_hours.setdefault(zone_code, {})
        if hour not in hours:
            # Fetch a day around the hour at once: dirty hours of a batch are close together.
            start = hour - timedelta(hours=12)
            hours.update(
                factor_lookups.hourly_intensities(zone_code, start, start + timedelta(days=1))
            )
        return hours[hour]

    def for_device_hour(self, device, hour: datetime) -> ResolvedFactors:
        site = device.host.site
        pue, price = self._site_factors(site)
        grid = self._grid(site.grid_zone if site is not None else None, hour)
        self.prefetch_embodied([device])
        embodied = self._embodied[device.pk]
        notes = [f.note for f in (pue, price, grid) if f.note]
        notes += list(embodied.gaps)
        if embodied.note:
            notes.append(embodied.note)
        return ResolvedFactors(
            factors=HourFactors(
                pue=pue.value,
                grid_gco2e_per_kwh=grid.value,
                price_per_kwh=price.value,
                embodied_kgco2e_per_hour=embodied.kgco2e_per_hour,
            ),
            grid_source=_describe(grid),
            notes=tuple(notes),
        )
