"""The propagation rule of docs/methodology.md, "Ranges", on hand-checked numbers.

The worked example of the methodology: one device at a site with PUE 1.5 (1.2-1.8), grid
400 gCO2e/kWh +-10 %, NVML energy +-5 %; 10 kWh IT -> 15 kWh facility -> 6 kgCO2e operational;
2 kgCO2e embodied of a GPU model with 500 kg (400-750) over 4 years (3-5).
"""

import pytest

from assessments.footprint import ranges_math as rm

INPUTS = {
    "measurement:nvml_gpu": rm.UncertainInput("measurement:nvml_gpu", "NVML", 0.95, 1.05),
    "site:dc:pue": rm.UncertainInput("site:dc:pue", "PUE of dc", *rm.value_factors(1.5, 1.2, 1.8)),
    "site:dc:grid": rm.UncertainInput("site:dc:grid", "grid of dc", *rm.relative_factors(10, 10)),
    "hardware_model:H:embodied": rm.UncertainInput(
        "hardware_model:H:embodied", "embodied of H", *rm.value_factors(500, 400, 750)
    ),
    "hardware_model:H:lifetime": rm.UncertainInput(
        "hardware_model:H:lifetime", "lifetime of H", *rm.lifetime_factors(4, 3, 5)
    ),
}
OPERATIONAL = rm.Term(6.0, ("measurement:nvml_gpu", "site:dc:pue", "site:dc:grid"))
EMBODIED = rm.Term(2.0, ("hardware_model:H:embodied", "hardware_model:H:lifetime"))


def pair(bounds: rm.Bounds) -> tuple[float, float]:
    return bounds.low, bounds.high


def test_factors_of_values_lifetimes_and_percentages():
    assert rm.value_factors(1.5, 1.2, 1.8) == pytest.approx((0.8, 1.2))
    assert rm.value_factors(1.5, None, None) == (1.0, 1.0)  # a bound left out equals the value
    assert rm.value_factors(0.0, 0.1, 0.2) == (1.0, 1.0)  # nothing to scale
    # The longest lifetime gives the low: embodied carbon is divided by it.
    assert rm.lifetime_factors(4, 3, 5) == pytest.approx((0.8, 4 / 3))
    assert rm.lifetime_factors(4, None, None) == (1.0, 1.0)
    assert rm.relative_factors(5, 10) == pytest.approx((0.95, 1.1))


def test_each_input_at_the_bound_that_lowers_or_raises_the_figure():
    # Operational: 6 x 0.95 x 0.8 x 0.9 = 4.104; 6 x 1.05 x 1.2 x 1.1 = 8.316.
    assert pair(rm.figure_bounds(6.0, [OPERATIONAL], INPUTS)) == pytest.approx((4.104, 8.316))
    # Embodied: 2 x 0.8 x 0.8 = 1.28; 2 x 1.5 x 4/3 = 4.
    assert pair(rm.figure_bounds(2.0, [EMBODIED], INPUTS)) == pytest.approx((1.28, 4.0))
    total = rm.figure_bounds(8.0, [OPERATIONAL, EMBODIED], INPUTS)
    assert pair(total) == pytest.approx((5.384, 12.316))


def test_a_shared_input_moves_every_term_together():
    # Two devices at the same site: the bounds of the sum are the sums of the bounds.
    other = rm.Term(3.0, ("site:dc:pue",))
    bounds = rm.figure_bounds(9.0, [OPERATIONAL, other], INPUTS)
    assert bounds.low == pytest.approx(4.104 + 3.0 * 0.8)
    assert bounds.high == pytest.approx(8.316 + 3.0 * 1.2)


def test_without_bounds_low_equals_value_equals_high_exactly():
    certain = {key: rm.UncertainInput(key, key) for key in INPUTS}
    assert rm.figure_bounds(8.000000001, [OPERATIONAL, EMBODIED], certain) == rm.Bounds(
        8.000000001, 8.000000001
    )
    assert rm.range_drivers([OPERATIONAL, EMBODIED], certain) == []
    assert rm.range_drivers([], INPUTS) == []


def test_drivers_share_the_width_as_computed_by_hand():
    # Width 12.316 - 5.384 = 6.932. Holding an input at its value narrows it by:
    # PUE: operational 4.212 -> 6.93 - 5.13 = 1.8, by 2.412; embodied TE: 2.72 -> 2.6667 - 1.6,
    # by 1.65333; lifetime: 2.72 -> 3 - 1.6, by 1.32; grid: 4.212 -> 7.56 - 4.56, by 1.212;
    # NVML: 4.212 -> 7.92 - 4.32, by 0.612.
    drivers = rm.range_drivers([OPERATIONAL, EMBODIED], INPUTS)
    assert [d.input for d in drivers] == [
        "site:dc:pue",
        "hardware_model:H:embodied",
        "hardware_model:H:lifetime",
        "site:dc:grid",
        "measurement:nvml_gpu",
    ]
    expected = [2.412, 1.65333333, 1.32, 1.212, 0.612]
    assert [d.share for d in drivers] == pytest.approx([e / 6.932 for e in expected])
    assert drivers[0].label == "PUE of dc"
    assert sum(d.share for d in drivers) != pytest.approx(1.0)  # need not add up to 1


def test_embodied_parts_split_by_the_two_rates():
    # GPU 500 kg / 4 y = 125 kg/y; host share 1200 kg / (8 GPUs x 4 y) = 37.5 kg/y.
    gpu, host = rm.embodied_parts(13.0, 125.0, 37.5)
    assert gpu == pytest.approx(10.0) and host == pytest.approx(3.0)
    assert rm.embodied_parts(13.0, 0.0, 0.0) == (0.0, 0.0)


def test_sci_bounds_divide_the_totals_by_the_units():
    assert rm.divided_bounds(rm.Bounds(5.0, 15.0), 10.0) == rm.Bounds(0.5, 1.5)
    assert rm.divided_bounds(rm.Bounds(5.0, 15.0), 0.0) is None
