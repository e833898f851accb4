"""The shipped bounds: every hardware row has a range around its value with a source that says
where each bound comes from (or that it is an assumption); measurement and fallback bounds are
non-zero and sourced; rows stored by an earlier version are refreshed with the new bounds."""

import pytest

from assessments.models import HardwareModel
from assessments.organisation.reference_data import (
    FALLBACK_GPU_NAME,
    FORMER_SHIPPED_SOURCES,
    fallback_factor_bounds,
    load_reference_data,
    measurement_bounds,
    shipped_hardware,
)


def test_every_hardware_row_has_a_range_around_its_value_and_a_lifetime_range():
    for row in shipped_hardware():
        assert row.min_kgco2e < row.embodied_kgco2e < row.max_kgco2e, row.name
        assert row.lifetime_years_min <= row.lifetime_years <= row.lifetime_years_max, row.name
        assert row.lifetime_years_min < row.lifetime_years_max, row.name
        assert len(row.source) <= 300, row.name


def test_each_bound_names_its_source_or_says_it_is_an_assumption():
    for row in shipped_hardware():
        assert any(word in row.source for word in ("min:", "range:", "ASSUMPTION")), row.name
        assert "life" in row.source, row.name


def test_published_estimates_set_the_low_of_the_gpus_they_measured():
    by_name = {row.name: row for row in shipped_hardware()}
    # NVIDIA HGX H100 PCF: 1,312 kgCO2e per 8-GPU baseboard.
    assert by_name["NVIDIA H100 SXM 80GB"].min_kgco2e == pytest.approx(1312 / 8)
    assert "HGX H100 PCF" in by_name["NVIDIA H100 SXM 80GB"].source
    # Falk et al. 2025, A100 SXM 40GB; Luccioni et al. 2023, A100 80GB (BLOOM).
    assert by_name["NVIDIA A100 SXM4 40GB"].min_kgco2e == 127.6
    assert by_name["NVIDIA A100 SXM4 80GB"].min_kgco2e == 150
    # Without a published estimate: value divided and multiplied by 1.6.
    h200 = by_name["NVIDIA H200 SXM 141GB"]
    assert h200.min_kgco2e == pytest.approx(1067 / 1.6, abs=0.05)
    assert h200.max_kgco2e == pytest.approx(1067 * 1.6, abs=0.05)
    assert by_name[FALLBACK_GPU_NAME].max_kgco2e == pytest.approx(150 * 1.85, abs=0.05)


def test_measurement_and_fallback_bounds_are_sourced_and_not_zero():
    bounds = {**measurement_bounds(), **fallback_factor_bounds()}
    assert set(bounds) == {
        "nvml_gpu",
        "rapl_cpu",
        "codecarbon",
        "simulated",
        "pue_fallback",
        "grid_fallback",
    }
    for key, bound in bounds.items():
        assert bound.low_pct > 0 and bound.high_pct > 0, key
        assert "placeholder" not in bound.source and len(bound.source) > 40, key
    assert (bounds["nvml_gpu"].low_pct, bounds["nvml_gpu"].high_pct) == (5, 5)
    # 1.56 x (1 - 29.5 %) = 1.10 and 1.56 x (1 + 60.3 %) = 2.50
    pue = bounds["pue_fallback"]
    assert 1.56 * pue.low_ratio == pytest.approx(1.10, abs=0.005)
    assert 1.56 * pue.high_ratio == pytest.approx(2.50, abs=0.005)


@pytest.mark.django_db
def test_a_row_stored_by_an_earlier_version_is_refreshed_with_its_bounds():
    former = "BoaviztAPI 2.5.0 component/gpu, criteria gwp, embedded (computed 2026-11)"
    assert former in FORMER_SHIPPED_SOURCES
    HardwareModel.objects.filter(name="NVIDIA H100 SXM 80GB").update(
        min_kgco2e=575.1,
        max_kgco2e=575.1,
        lifetime_years_min=3,
        lifetime_years_max=3,
        source=former,
    )
    HardwareModel.objects.filter(name="NVIDIA L4").update(
        min_kgco2e=100, max_kgco2e=130, source="Our own LCA, 2026"
    )
    load_reference_data()
    h100 = HardwareModel.objects.get(name="NVIDIA H100 SXM 80GB")
    assert (h100.min_kgco2e, h100.lifetime_years_max) == (164, 6)
    assert "HGX H100 PCF" in h100.source
    l4 = HardwareModel.objects.get(name="NVIDIA L4")
    assert (l4.min_kgco2e, l4.max_kgco2e, l4.source) == (100, 130, "Our own LCA, 2026")
