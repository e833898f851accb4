"""Ranges in words, checked by hand: "value (low–high)" as each surface writes its numbers, and
the sentence saying which input would narrow total carbon's range most."""

from assessments.footprint.range_words import (
    narrowing_sentences,
    range_text,
    share_text,
    whose_figure,
)
from assessments.footprint.ranges_math import Bounds, Driver
from assessments.reports.report_summary import format_money, format_quantity, with_bounds
from assessments.templatetags.greenai import cell, format_with_range, qty


def test_a_value_is_followed_by_its_range_written_the_same_way():
    assert range_text("12.4 t", "9.8", "16.1") == "12.4 t (9.8–16.1)"
    # Nothing uncertain at the precision shown, or no range at all: the value alone.
    assert range_text("12.4 t", "12.4", "12.4") == "12.4 t"
    assert range_text("12.4 t", None, None) == "12.4 t"


def test_the_pages_write_value_unit_and_range_with_their_number_format():
    bounds = Bounds(low=987.64, high=1610.25)
    assert format_with_range(1234.5, bounds, 1, "kgCO2e") == "1,234.5 kgCO2e (987.6–1,610.2)"
    assert qty(1234.5, "kgCO2e", 1, bounds) == "1,234.5 kgCO2e (987.6–1,610.2)"
    assert qty(1234.5, "kgCO2e", 1) == "1,234.5 kgCO2e"
    assert qty(None, "kgCO2e", 1, bounds) == "–"
    assert format_with_range(2.0, Bounds(2.0, 2.0), 1, "kWh") == "2.0 kWh"


def test_a_table_cell_shows_the_rows_range_of_its_column():
    class Column:
        key, digits = "total_kgco2e", 2

    row = {"total_kgco2e": 10.0, "ranges": {"total_kgco2e": Bounds(8.5, 13.25)}}
    assert cell(row, Column, {}) == "10.00 (8.50–13.25)"
    assert cell({"total_kgco2e": 10.0}, Column, {}) == "10.00"


def test_the_report_writes_the_range_with_the_values_decimals():
    # 1,234 has no decimals in the report: so have its low and high.
    bounds = {"low": 987.64, "high": 1610.25}
    assert format_quantity(1234.0, "kgCO2e", bounds=bounds) == "1,234 kgCO2e (988–1,610)"
    assert format_money(12.5, "EUR", {"low": 11.0, "high": 14.257}) == "12.50 EUR (11.00–14.26)"
    assert with_bounds("5.25", 5.25, {"low": 5.0, "high": 5.5}) == "5.25 (5.00–5.50)"
    assert format_quantity(None, "kWh", bounds=bounds) == "not available"


def test_the_largest_driver_is_said_in_words_then_the_next_two():
    drivers = [
        Driver("site:paris-dc1:pue", "PUE of paris-dc1", 0.412),
        Driver("hardware_model:NVIDIA H100 SXM 80GB:embodied", "embodied carbon of X", 0.23),
        Driver("site:paris-dc1:grid", "grid intensity of paris-dc1", 0.12),
        Driver("measurement:nvml_gpu", "GPU energy measured through NVML", 0.05),
    ]
    assert narrowing_sentences(drivers, whose="the organisation's") == [
        "PUE of paris-dc1: 41 % of the range; measuring it would narrow the organisation's "
        "figure most.",
        "Next: embodied carbon of X (23 %), grid intensity of paris-dc1 (12 %).",
    ]


def test_the_remedy_follows_the_kind_of_input():
    [sentence] = narrowing_sentences(
        [Driver("hardware_model:H100:embodied", "embodied carbon of H100", 0.6)],
        whose="team NLP's",
    )
    assert sentence == (
        "Embodied carbon of H100: 60 % of the range; a manufacturer's carbon footprint of it "
        "would narrow team NLP's figure most."
    )
    [sentence] = narrowing_sentences(
        [Driver("measurement:rapl_cpu", "CPU energy measured through RAPL", 1.0)], whose="x's"
    )
    assert "a more accurate meter would narrow" in sentence


def test_nothing_is_said_when_nothing_widens_the_range():
    assert narrowing_sentences([], whose="the organisation's") == []
    assert narrowing_sentences([Driver("a", "a", 0.001)], whose="the organisation's") == []


def test_whose_figure_and_shares():
    assert whose_figure() == "the organisation's"
    assert whose_figure(team_name="NLP") == "team NLP's"
    assert whose_figure(project_name="LLM") == "project LLM's"
    assert share_text(0.405) == "40 %" and share_text(1.0) == "100 %"


def test_a_figure_splits_back_into_its_value_and_its_range():
    from assessments.footprint.range_words import split_range
    from assessments.templatetags.greenai import range_below

    assert split_range("12.4 t (9.8–16.1)") == ("12.4 t", "(9.8–16.1)")
    assert split_range("12.4 t") == ("12.4 t", "")
    assert split_range("CPU (package)") == ("CPU (package)", "")
    assert range_below("12.4 t (9.8–16.1)") == '12.4 t<span class="range">(9.8–16.1)</span>'
    assert range_below("<b> (1–2)") == '&lt;b&gt;<span class="range">(1–2)</span>'
    assert range_below("not available") == "not available"
