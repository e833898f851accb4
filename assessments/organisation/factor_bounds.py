"""The rules every bound of an input obeys, wherever it is written (inventory, admin, forms).

Pure: plain values in, {field: message} out. A bound left out equals its value
(docs/methodology.md, "Ranges"), so a bound is only checked against a value that is given.
"""

import math

# (value field, lowest field, highest field) of each bounded input, per model.
SITE_BOUNDS = (("pue", "pue_min", "pue_max"), ("energy_price_per_kwh", "price_min", "price_max"))
EMBODIED_BOUNDS = (
    ("embodied_kgco2e", "min_kgco2e", "max_kgco2e"),
    ("lifetime_years", "lifetime_years_min", "lifetime_years_max"),
)
UNCERTAINTY_PCT_FIELDS = ("grid_uncertainty_pct",)
# Bounds that must be > 0 (a lifetime of 0 years divides by zero); the others >= 0.
_POSITIVE = {"lifetime_years_min", "lifetime_years_max", "pue_min", "pue_max"}


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def bound_problems(values: dict, bounds=(), pct_fields=()) -> dict[str, str]:
    """{field: what is wrong} of these values: each bound a finite number (> 0 for lifetimes and
    PUE, >= 0 otherwise), given only with its value, lowest <= value <= highest; each
    uncertainty percentage in [0, 100)."""
    problems: dict[str, str] = {}
    for value_field, low_field, high_field in bounds:
        value = values.get(value_field)
        for name in (low_field, high_field):
            bound = values.get(name)
            if bound is None:
                continue
            if not _is_number(bound):
                problems[name] = f"must be a number, got {bound!r}"
            elif bound < 0 or (name in _POSITIVE and bound <= 0):
                problems[name] = f"must be {'> 0' if name in _POSITIVE else '>= 0'}, got {bound:g}"
            elif value is None:
                problems[name] = f"needs {value_field}: a bound of no value bounds nothing"
        if low_field in problems or high_field in problems or not _is_number(value):
            continue
        low, high = values.get(low_field), values.get(high_field)
        if low is not None and low > value:
            problems[low_field] = f"must be <= {value_field} ({value:g}), got {low:g}"
        if high is not None and high < value:
            problems[high_field] = f"must be >= {value_field} ({value:g}), got {high:g}"
    for name in pct_fields:
        pct = values.get(name)
        if pct is None:
            continue
        if not _is_number(pct) or not 0 <= pct < 100:
            problems[name] = f"must be a percentage in [0, 100), got {pct!r}"
    return problems
