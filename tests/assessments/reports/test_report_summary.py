"""The report's wording and rounding, on hand-made figures (no database)."""

from datetime import date

import pytest

from assessments.reports import report_summary as summary


def test_month_argument_is_parsed_to_its_first_day():
    assert summary.parse_month("2026-10") == date(2026, 10, 1)
    assert summary.parse_month(" 2025-01 ") == date(2025, 1, 1)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("2026-13", "13 is not a month number"),
        ("2026-00", "0 is not a month number"),
        ("October", "not in the form YYYY-MM"),
        ("2026-10-01", "not in the form YYYY-MM"),
        ("1999-12", "before 2000"),
    ],
)
def test_bad_month_is_refused_with_the_reason(text, complaint):
    with pytest.raises(ValueError, match=complaint):
        summary.parse_month(text)


def test_shift_month_crosses_years():
    assert summary.shift_month(date(2026, 1, 1), -1) == date(2025, 12, 1)
    assert summary.shift_month(date(2026, 10, 1), -12) == date(2025, 10, 1)
    assert summary.shift_month(date(2026, 12, 1), 1) == date(2027, 1, 1)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1234.56, "1,235"),
        (45.678, "45.7"),
        (3.14159, "3.14"),
        (0.012345, "0.0123"),
        (0, "0"),
    ],
)
def test_numbers_keep_three_significant_digits_or_whole_units(value, text):
    assert summary.format_number(value) == text


def test_rounding_noise_below_zero_prints_without_minus_sign():
    assert summary.format_number(-0.0000001, 2) == "0.00"


def test_missing_values_read_not_available_never_zero():
    assert summary.format_quantity(None, "kWh") == "not available"
    assert summary.format_money(None, "EUR") == "not available"
    assert summary.format_percent(None) == "not available"


def test_quantities_and_money_carry_their_units():
    assert summary.format_quantity(1500.2, "kWh") == "1,500 kWh"
    assert summary.format_money(1234.5, "EUR") == "1,234.50 EUR"
    assert summary.format_percent(0.9512) == "95.1 %"


def test_change_phrase_names_direction_and_base():
    assert summary.change_phrase(110, 100, "100 kWh") == "up 10.0 % from 100 kWh"
    assert summary.change_phrase(75, 100, "100 kWh") == "down 25.0 % from 100 kWh"
    assert summary.change_phrase(100, 100, "100 kWh") == "unchanged from 100 kWh"
    assert summary.change_phrase(100, 0, "0 kWh") == "no comparable figure"
    assert summary.change_phrase(100, None, "") == "no comparable figure"


def _footprint(energy, **extra):
    base = {
        "energy_kwh": energy,
        "facility_energy_kwh": energy * 1.5,
        "operational_kgco2e": energy * 0.6,
        "embodied_kgco2e": 10.0,
        "total_kgco2e": energy * 0.6 + 10.0,
        "cost": energy * 0.3,
        "gpu_hours": 100.0,
        "work_units": 0,
        "sci": None,
        "coverage": 1.0,
    }
    return base | extra


def test_summary_compares_with_last_month_and_last_year():
    sentences = summary.summary_sentences(
        scope="Example Corp",
        month=date(2026, 10, 1),
        current=_footprint(200.0),
        previous=_footprint(100.0),
        last_year=_footprint(250.0),
        currency="EUR",
    )
    text = " ".join(sentences)
    assert "In October 2026, Example Corp used 200 kWh of IT energy" in text
    assert "up 100.0 % from 100 kWh last month" in text
    assert "down 20.0 % from 250 kWh the same month last year" in text
    assert "60.00 EUR" in text


def test_summary_says_plainly_when_a_comparison_month_has_no_data():
    empty = _footprint(0.0, gpu_hours=0.0)
    text = " ".join(
        summary.summary_sentences(
            scope="Example Corp",
            month=date(2026, 10, 1),
            current=_footprint(200.0),
            previous=empty,
            last_year=None,
            currency="EUR",
        )
    )
    assert "There are no measurements for last month or the same month last year to compare" in text
    assert "(up" not in text and "(down" not in text


def test_empty_month_summary_states_no_figures():
    sentences = summary.summary_sentences(
        scope="Example Corp",
        month=date(2026, 10, 1),
        current=_footprint(0.0, gpu_hours=0.0, embodied_kgco2e=0.0),
        previous=_footprint(100.0),
        last_year=None,
        currency="EUR",
    )
    assert len(sentences) == 1
    assert "No measurements were recorded for Example Corp in October 2026" in sentences[0]
    assert "kWh" not in sentences[0]


def test_empty_month_still_states_the_embodied_carbon_of_hardware_in_service():
    sentences = summary.summary_sentences(
        scope="Example Corp",
        month=date(2026, 10, 1),
        current=_footprint(0.0, gpu_hours=0.0, embodied_kgco2e=12.5),
        previous=None,
        last_year=None,
        currency="EUR",
    )
    assert len(sentences) == 2
    assert "still carries 12.5 kgCO2e of embodied (manufacturing) carbon" in sentences[1]


def test_sci_is_given_in_grams_per_unit_when_known():
    text = " ".join(
        summary.summary_sentences(
            scope="team Vision",
            month=date(2026, 10, 1),
            current=_footprint(200.0, sci=0.00013, work_units=1_000_000),
            previous=None,
            last_year=None,
            currency="EUR",
        )
    )
    assert "was 0.130 gCO2e per unit of work, over 1,000,000 units of work" in text


def test_sci_is_compared_with_last_month_where_both_have_it():
    text = " ".join(
        summary.summary_sentences(
            scope="team Vision",
            month=date(2026, 10, 1),
            current=_footprint(200.0, sci=0.00010, work_units=1_000_000),
            previous=_footprint(100.0, sci=0.00020, work_units=400_000),
            last_year=None,
            currency="EUR",
        )
    )
    assert "was 0.100 gCO2e per unit of work (down 50.0 % from 0.200 gCO2e per unit" in text


def test_sci_row_joins_the_comparison_table_only_when_asked():
    current = _footprint(200.0, sci=0.0001)
    assert len(summary.comparison_rows(current, None, None, "EUR")) == 6
    rows = summary.comparison_rows(current, None, None, "EUR", include_sci=True)
    assert rows[-1]["label"] == "Software Carbon Intensity (SCI)"
    assert rows[-1]["value"] == "0.100 gCO2e per unit of work"


def test_comparison_rows_leave_change_blank_without_a_base():
    rows = summary.comparison_rows(_footprint(200.0), _footprint(100.0), None, "EUR")
    energy = rows[0]
    assert energy["value"] == "200 kWh"
    assert energy["previous_change"] == "+100.0 %"
    assert energy["last_year"] == "not available"
    assert energy["last_year_change"] == ""


def test_coverage_warning_only_below_threshold():
    assert summary.coverage_statement(0.99) is None
    warning = summary.coverage_statement(0.62)
    assert "62.0 %" in warning and "lower bounds" in warning
    assert "not known" in summary.coverage_statement(None)


def test_factor_digest_ignores_row_order_and_changes_with_values():
    rows = [{"site": "a", "pue": 1.3}, {"site": "b", "pue": 1.1}]
    assert summary.factor_digest(rows) == summary.factor_digest(list(reversed(rows)))
    assert summary.factor_digest(rows) != summary.factor_digest(
        [{"site": "a", "pue": 1.31}, {"site": "b", "pue": 1.1}]
    )


def test_unit_names_are_made_singular_for_per_unit_figures():
    assert summary.singular("inferences") == "inference"
    assert summary.singular("training samples") == "training sample"
    assert summary.singular("loss") == "loss"
    assert summary.singular("") == "unit"
