"""Uncertainty ranges of the figures, on plain numbers (docs/methodology.md, "Ranges").

A figure is a sum of terms. Each term is the value the facts used times the inputs it depends
on; an uncertain input carries the factors by which its bounds move every term it appears in:
`low_factor` <= 1 at the bound that lowers the figure, `high_factor` >= 1 at the bound that
raises it (bound / value for a factor the figure grows with, value / bound for a lifetime, by
which embodied carbon is divided). So:

    low  = sum over terms of value * product of its inputs' low factors
    high = sum over terms of value * product of its inputs' high factors

An input shared by many terms (one site's PUE under all its devices) moves them all together:
the bounds of a sum are the sums of the bounds. Every term is >= 0 and every input moves all of
its terms the same way, so these are the lowest and highest the figure can be within the bounds.

A driver's share of a range is (width - the width with that input held at its value) / width;
the shares need not add up to 1 (inputs multiplied in one term widen it together).
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Bounds:
    """The lowest and highest value of a figure within its inputs' bounds."""

    low: float
    high: float

    @property
    def width(self) -> float:
        return self.high - self.low


@dataclass(frozen=True)
class UncertainInput:
    """An input with bounds: `key` names it ("site:paris-dc1:pue"), `label` says it in words."""

    key: str
    label: str
    low_factor: float = 1.0
    high_factor: float = 1.0


@dataclass(frozen=True)
class Term:
    """A part of a figure: the value the facts hold, and the keys of the inputs it depends on."""

    value: float
    inputs: tuple[str, ...] = ()


def value_factors(value: float | None, low: float | None, high: float | None):
    """(low factor, high factor) of a factor the figure grows with: bound / value; a bound left
    out equals the value; a value of 0 (or none) scales nothing."""
    if not value:
        return 1.0, 1.0
    return (value if low is None else low) / value, (value if high is None else high) / value


def lifetime_factors(years: float | None, shortest: float | None, longest: float | None):
    """(low factor, high factor) of a lifetime, by which embodied carbon is divided: the longest
    lifetime gives the low, the shortest the high."""
    if not years:
        return 1.0, 1.0
    return years / (longest or years), years / (shortest or years)


def relative_factors(low_pct: float, high_pct: float):
    """(low factor, high factor) of bounds given in percent of the value."""
    return 1.0 - low_pct / 100.0, 1.0 + high_pct / 100.0


def embodied_parts(embodied_kgco2e: float, gpu_rate: float, host_rate: float):
    """(GPU part, host part) of a device's embodied carbon, split by the per-hour rates of
    TE_gpu / L_gpu and TE_host / (n * L_host): the facts store the two added together."""
    rate = gpu_rate + host_rate
    if rate <= 0:
        return 0.0, 0.0
    gpu_part = embodied_kgco2e * gpu_rate / rate
    return gpu_part, embodied_kgco2e - gpu_part


def _term_at(term: Term, inputs: Mapping[str, UncertainInput], side: str, fixed=None) -> float:
    factor = 1.0
    for key in term.inputs:
        if key == fixed or key not in inputs:
            continue
        factor *= inputs[key].low_factor if side == "low" else inputs[key].high_factor
    return term.value * factor


def figure_bounds(
    value: float, terms: Iterable[Term], inputs: Mapping[str, UncertainInput]
) -> Bounds:
    """The figure's low and high. Anchored on `value` (the figure as the facts sum it): the
    terms give how far below and above it the bounds lie, so a figure without uncertain inputs
    has low = value = high exactly."""
    below = above = 0.0
    for term in terms:
        below += term.value - _term_at(term, inputs, "low")
        above += _term_at(term, inputs, "high") - term.value
    return Bounds(value - max(below, 0.0), value + max(above, 0.0))


@dataclass(frozen=True)
class Driver:
    """An input and its share of a figure's range (docs/methodology.md, "Ranges")."""

    input: str
    label: str
    share: float


def range_drivers(terms: Iterable[Term], inputs: Mapping[str, UncertainInput]) -> list[Driver]:
    """Each input that widens the figure, with its share = (width - width with the input at its
    value) / width, largest first (then by key). None for a figure of zero width."""
    terms = list(terms)
    spans = [_term_at(t, inputs, "high") - _term_at(t, inputs, "low") for t in terms]
    width = math.fsum(spans)
    if width <= 0:
        return []
    narrowed: dict[str, float] = {}
    for term, span in zip(terms, spans, strict=True):
        for key in set(term.inputs):
            if key not in inputs:
                continue
            without = _term_at(term, inputs, "high", key) - _term_at(term, inputs, "low", key)
            narrowed[key] = narrowed.get(key, 0.0) + span - without
    drivers = [
        Driver(key, inputs[key].label, amount / width)
        for key, amount in narrowed.items()
        if amount > width * 1e-12
    ]
    return sorted(drivers, key=lambda d: (-d.share, d.input))


def divided_bounds(bounds: Bounds | None, units: float | None) -> Bounds | None:
    """A per-unit figure's bounds (SCI): units are counted, not uncertain."""
    if bounds is None or not units:
        return None
    return Bounds(bounds.low / units, bounds.high / units)


def exact_bounds(value: float) -> Bounds:
    """The bounds of a figure without an uncertain input."""
    return Bounds(value, value)


def scaled_bounds(bounds: Bounds, share: float) -> Bounds:
    """A share of a figure (a version's part of a project's): its bounds times the share."""
    return Bounds(bounds.low * share, bounds.high * share)


def summed_bounds(parts: Iterable[Bounds]) -> Bounds:
    """The bounds of a sum of figures: the sums of their bounds, as an input they share moves
    them all together (and inputs they do not share can still all sit at their bounds)."""
    parts = list(parts)
    return Bounds(math.fsum(b.low for b in parts), math.fsum(b.high for b in parts))
