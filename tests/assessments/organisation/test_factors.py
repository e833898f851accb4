"""Factor lookups: each value with its source, documented fallbacks flagged as data gaps."""

from datetime import UTC, datetime

import pytest

from assessments.footprint.footprint_math import embodied_kg_per_hour
from assessments.models import GridIntensityHour, GridZone, HardwareModel, Organisation, Site
from assessments.organisation.factors import (
    EmbodiedFactor,
    device_embodied,
    embodied_for_devices,
    gpu_model_for,
    hourly_intensities,
    site_price,
    site_pue,
    zone_annual_intensity,
)
from assessments.organisation.gpu_names import match_gpu_name, name_key
from assessments.organisation.reference_data import FALLBACK_GPU_NAME, shipped_hardware
from collectors.models import Device, Host

# --- Pure embodied arithmetic, checked by hand ---------------------------------------------------


def test_sci_spec_example_one_hour_of_a_whole_machine_is_28_5_g():
    # TE 1000 kg, 4-year life, 1 hour reserved, whole machine: 1000 / (4 * 8760) kg.
    grams = embodied_kg_per_hour(0, None, 1000, 4, 1) * 1000
    assert grams == pytest.approx(28.54, abs=0.01)


def test_gsf_eshoppen_m_is_4_305_g():
    # M = 1205.52 kg x (1/35040) x (2/16): 35040 h = 4 years; resource share 2/16 = 1/8.
    grams = embodied_kg_per_hour(0, None, 1205.52, 4, 8) * 1000
    assert grams == pytest.approx(1205.52 / 35040 * 2 / 16 * 1000)  # 4.3005 g exactly
    # The case study prints 4.305 g; its own inputs give 4.3005 g, within 0.11 %.
    assert grams == pytest.approx(4.305, rel=0.0011)


def test_gpu_and_host_share_add_up():
    # 575.1 kg over 3 y plus 4600 kg over 4 y shared by 8 GPUs.
    expected = 575.1 / (3 * 8760) + 4600 / (8 * 4 * 8760)
    assert embodied_kg_per_hour(575.1, 3, 4600, 4, 8) == pytest.approx(expected)


@pytest.mark.parametrize(
    "args",
    [(100, 0, 0, None, 1), (0, None, 100, None, 1), (0, None, 100, 4, 0)],
)
def test_embodied_arithmetic_refuses_impossible_inputs(args):
    with pytest.raises(ValueError):
        embodied_kg_per_hour(*args)


# --- GPU name matching (pure) -------------------------------------------------------------------

REFERENCE_GPUS = [row.name for row in shipped_hardware() if row.kind == "gpu"]


def match(name, names=REFERENCE_GPUS):
    return match_gpu_name(name, [(n, [n]) for n in names])


@pytest.mark.parametrize(
    "nvml_name, expected",
    [
        ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM 80GB"),
        ("NVIDIA H100 PCIe", "NVIDIA H100 PCIe 80GB"),
        ("NVIDIA H100 NVL", "NVIDIA H100 NVL 94GB"),
        ("NVIDIA A100-SXM4-40GB", "NVIDIA A100 SXM4 40GB"),
        ("NVIDIA A100-SXM4-80GB", "NVIDIA A100 SXM4 80GB"),
        ("NVIDIA A100-PCIE-40GB", "NVIDIA A100 PCIe 40GB"),
        ("NVIDIA A100 80GB PCIe", "NVIDIA A100 PCIe 80GB"),
        ("NVIDIA A100-SXM4-40GB MIG 1g.5gb", "NVIDIA A100 SXM4 40GB"),
        ("Tesla V100-SXM2-16GB", "NVIDIA Tesla V100 SXM2 16GB"),
        ("Tesla V100S-PCIE-32GB", "NVIDIA Tesla V100S PCIe 32GB"),
        ("Tesla T4", "NVIDIA T4"),
        ("Tesla P100-PCIE-16GB", "NVIDIA P100"),
        ("NVIDIA A10", "NVIDIA A10"),
        ("NVIDIA L40S", "NVIDIA L40S 48GB"),
        ("NVIDIA H200", "NVIDIA H200 SXM 141GB"),
        ("NVIDIA GeForce GTX 1080 Ti", "NVIDIA GTX 1080 Ti"),
        ("nvidia  h100 sxm 80gb", "NVIDIA H100 SXM 80GB"),
        ("AMD Instinct MI300X", "AMD Instinct MI300X 192GB"),
    ],
)
def test_nvml_names_match_the_reference_model(nvml_name, expected):
    assert match(nvml_name) == expected


@pytest.mark.parametrize("nvml_name", ["NVIDIA GH200 480GB", "NVIDIA A1000", "", "MIG 1g.5gb"])
def test_unknown_names_match_nothing(nvml_name):
    assert match(nvml_name) is None


def test_a10_is_not_taken_for_an_a100():
    assert match("NVIDIA A10", ["NVIDIA A100 PCIe 40GB"]) is None


def test_contradicting_memory_size_is_no_match():
    assert match("NVIDIA H100 94GB", ["NVIDIA H100 SXM 80GB"]) is None


def test_an_exact_name_wins_over_a_better_normalised_fit():
    candidates = [("generic", ["NVIDIA H100"]), ("exact", ["nvidia h100 80gb hbm3"])]
    assert match_gpu_name("NVIDIA H100 80GB HBM3", candidates) == "exact"


def test_a_tie_goes_to_the_earlier_candidate():
    candidates = [("mine", ["H100 80GB"]), ("shipped", ["NVIDIA H100 SXM 80GB"])]
    assert match_gpu_name("NVIDIA H100 80GB HBM3", candidates) == "mine"


def test_name_key_reads_model_form_factor_and_memory():
    key = name_key("NVIDIA A100-SXM4-80GB")
    assert (key.model, key.form_factor, key.memory_gb) == (("a100",), "sxm", 80)


# --- PUE, price and grid lookups ---------------------------------------------------------------


@pytest.mark.django_db
def test_site_pue_with_its_source():
    site = Site(name="paris-dc1", grid_zone="FRA", pue=1.3, pue_source="Operator audit 2025")
    factor = site_pue(site)
    assert (factor.value, factor.source, factor.is_fallback) == (1.3, "Operator audit 2025", False)


@pytest.mark.django_db
def test_missing_pue_falls_back_to_the_uptime_2024_average_flagged(settings):
    factor = site_pue(Site(name="lab", grid_zone="FRA"))
    assert factor.value == 1.56
    assert factor.is_fallback and factor.year == 2024
    assert "Uptime Institute" in factor.source and "lab" in factor.note
    no_site = site_pue(None)
    assert no_site.value == 1.56 and no_site.is_fallback and "no site" in no_site.note
    settings.DEFAULT_PUE = 1.4
    assert site_pue(None).value == 1.4


@pytest.mark.django_db
def test_site_price_in_the_organisations_currency():
    Organisation.objects.update_or_create(pk=1, defaults={"currency": "USD"})
    factor = site_price(Site(name="iowa", grid_zone="USA", energy_price_per_kwh=0.08))
    assert (factor.value, factor.unit, factor.is_fallback) == (0.08, "USD/kWh", False)


@pytest.mark.django_db
def test_missing_price_is_zero_cost_flagged_as_a_data_gap():
    factor = site_price(Site(name="lab", grid_zone="FRA"))
    assert factor.value == 0.0 and factor.is_fallback
    assert "lab" in factor.note and "data gap" in factor.note


@pytest.mark.django_db
def test_zone_intensity_comes_from_the_shipped_reference_data():
    factor = zone_annual_intensity("FRA")
    zone = GridZone.objects.get(code="FRA")
    assert factor.value == zone.gco2e_per_kwh and factor.year == zone.year
    assert "Ember" in factor.source and not factor.is_fallback
    cloud = zone_annual_intensity("gcp:europe-west9")
    assert cloud.value == 34 and "cloud.google.com" in cloud.source


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["XXX", "", None])
def test_unknown_zone_falls_back_to_the_world_average_flagged(code):
    factor = zone_annual_intensity(code)
    assert factor.value == 475.0 and factor.is_fallback
    assert "CodeCarbon" in factor.source and factor.note


def _utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.django_db
def test_hourly_series_where_imported_and_annual_value_elsewhere():
    zone = GridZone.objects.get(code="FRA")
    GridIntensityHour.objects.create(
        zone=zone, hour=_utc(2026, 11, 2, 1), gco2e_per_kwh=80.0, source="EM FR 2026"
    )
    hours = hourly_intensities("FRA", _utc(2026, 11, 2, 0, 30), _utc(2026, 11, 2, 3))
    assert list(hours) == [_utc(2026, 11, 2, h) for h in (0, 1, 2)]
    assert hours[_utc(2026, 11, 2, 1)].value == 80.0
    assert hours[_utc(2026, 11, 2, 1)].source == "EM FR 2026 (life cycle)"
    assert hours[_utc(2026, 11, 2, 0)].value == zone.gco2e_per_kwh
    assert "missing from the imported hourly series" in hours[_utc(2026, 11, 2, 2)].note


@pytest.mark.django_db
def test_hourly_lookup_without_a_series_is_the_annual_value():
    hours = hourly_intensities("DEU", _utc(2026, 11, 2), _utc(2026, 11, 2, 2))
    annual = zone_annual_intensity("DEU")
    assert list(hours.values()) == [annual, annual]


@pytest.mark.django_db
def test_hourly_lookup_for_an_unknown_zone_is_the_flagged_world_average():
    hours = hourly_intensities("nowhere", _utc(2026, 11, 2), _utc(2026, 11, 2, 1))
    assert [f.value for f in hours.values()] == [475.0]
    assert all(f.is_fallback for f in hours.values())


# --- Devices: GPU model and embodied carbon ------------------------------------------------------


def _host(hostname="gpu-node-01", **fields):
    return Host.objects.create(hostname=hostname, **fields)


def _device(host, index, name="NVIDIA H100 80GB HBM3", kind="gpu", **fields):
    return Device.objects.create(
        uuid=f"{host.hostname}-{kind}-{index}-{fields.get('parent_uuid', '')}",
        host=host,
        index=index,
        name=name,
        kind=kind,
        **fields,
    )


@pytest.mark.django_db
def test_gpu_model_for_matches_by_name_and_honours_the_override():
    host = _host()
    device = _device(host, 0)
    assert gpu_model_for(device).name == "NVIDIA H100 SXM 80GB"
    override = HardwareModel.objects.get(kind="gpu", name="NVIDIA H100 PCIe 80GB")
    device.gpu_model_override = override
    device.save()
    assert gpu_model_for(device) == override


@pytest.mark.django_db
def test_the_organisations_gpu_model_beats_the_shipped_one():
    mine = HardwareModel.objects.create(
        kind="gpu", name="H100 80GB", embodied_kgco2e=700, lifetime_years=5, source="Our LCA"
    )
    assert gpu_model_for(_device(_host(), 0)) == mine


@pytest.mark.django_db
def test_nvml_names_of_a_model_are_matched_exactly():
    model = HardwareModel.objects.get(kind="gpu", name="NVIDIA L4")
    model.nvml_names = "Custom Board X\n"
    model.save()
    assert gpu_model_for(_device(_host(), 0, name="custom board x")) == model


@pytest.mark.django_db
def test_embodied_of_a_gpu_with_its_share_of_the_host_by_hand():
    host = _host(embodied_kgco2e=4600, lifetime_years=4, embodied_source="Vendor PCF")
    devices = [_device(host, i) for i in range(8)]
    _device(host, 0, name="Intel Xeon", kind="cpu")
    factor = device_embodied(devices[3])
    assert isinstance(factor, EmbodiedFactor)
    # H100 SXM 575.1 kg over 3 years, host 4600 kg over 4 years shared by its 8 GPUs.
    assert factor.kgco2e_per_hour == pytest.approx(575.1 / 26280 + 4600 / (8 * 35040))
    assert (factor.te_gpu, factor.l_gpu) == (575.1, 3)
    assert (factor.te_host_share, factor.l_host, factor.n_sharing_host) == (575.0, 4, 8)
    assert factor.gpu_model == "NVIDIA H100 SXM 80GB"
    assert any("BoaviztAPI" in s for s in factor.sources)
    assert any("Vendor PCF" in s for s in factor.sources)
    assert factor.gaps == ()


@pytest.mark.django_db
def test_cpu_packages_of_a_host_with_gpus_carry_no_host_share():
    host = _host(embodied_kgco2e=4600, lifetime_years=4)
    _device(host, 0)
    cpu = _device(host, 0, name="Intel Xeon", kind="cpu")
    factor = device_embodied(cpu)
    assert factor.kgco2e_per_hour == 0 and factor.n_sharing_host == 0


@pytest.mark.django_db
def test_a_host_without_gpus_shares_its_embodied_among_its_cpu_packages():
    host = _host(embodied_kgco2e=1000, lifetime_years=4)
    cpus = [_device(host, i, name="AMD EPYC", kind="cpu") for i in range(2)]
    factor = device_embodied(cpus[1])
    assert factor.kgco2e_per_hour == pytest.approx(1000 / (2 * 4 * 8760))
    assert factor.te_gpu == 0 and factor.n_sharing_host == 2


@pytest.mark.django_db
def test_host_class_gives_embodied_and_lifetime_when_the_host_has_none():
    host_class = HardwareModel.objects.get(kind="host", name__startswith="2-socket HGX-class")
    host = _host(hardware_model=host_class)
    device = _device(host, 0)
    factor = device_embodied(device)
    assert factor.te_host_share == 4600 and factor.l_host == 4
    assert any("HGX-class" in s for s in factor.sources) and factor.gaps == ()


@pytest.mark.django_db
def test_unknown_gpu_and_host_use_the_impact_framework_defaults_flagged():
    host = _host()
    device = _device(host, 0, name="Mystery Accelerator 9000")
    factor = device_embodied(device)
    # any GPU 150 kg over 4 years + baseline server 1000 kg over 4 years, one GPU.
    assert factor.kgco2e_per_hour == pytest.approx(150 / 35040 + 1000 / 35040)
    assert factor.gpu_model == FALLBACK_GPU_NAME
    assert factor.is_fallback and len(factor.gaps) == 2
    assert any("Mystery Accelerator 9000" in gap for gap in factor.gaps)
    assert any("baseline server" in gap for gap in factor.gaps)
    assert all("Impact Framework" in s for s in factor.sources)


@pytest.mark.django_db
def test_defaults_hold_even_without_the_reference_rows():
    HardwareModel.objects.all().delete()
    factor = device_embodied(_device(_host(), 0))
    assert factor.kgco2e_per_hour == pytest.approx(1150 / 35040)


@pytest.mark.django_db
def test_a_host_embodied_value_without_lifetime_assumes_four_years_flagged():
    host = _host(embodied_kgco2e=2000)
    factor = device_embodied(_device(host, 0))
    assert factor.l_host == 4 and any("lifetime" in gap for gap in factor.gaps)


@pytest.mark.django_db
def test_a_mig_gpu_carries_its_embodied_carbon_and_its_slices_none():
    # The agent reports a MIG GPU's energy on the physical GPU (slices send no samples), so
    # only the physical GPU may carry embodied carbon, once.
    host = _host(embodied_kgco2e=4600, lifetime_years=4)
    parent = _device(host, 0, name="NVIDIA A100-SXM4-40GB")
    _device(host, 1, name="NVIDIA A100-SXM4-40GB")
    slices = [
        _device(
            host, i, name="NVIDIA A100-SXM4-40GB MIG 3g.20gb", is_mig=True, parent_uuid=parent.uuid
        )
        for i in (0, 1)
    ]
    factors = embodied_for_devices([parent, *slices])
    whole_gpu = 319.3 / (3 * 8760) + 4600 / (2 * 4 * 8760)
    assert factors[parent.pk].kgco2e_per_hour == pytest.approx(whole_gpu)
    assert factors[slices[0].pk].kgco2e_per_hour == 0
    assert "parent GPU" in factors[slices[1].pk].note


@pytest.mark.django_db
def test_bulk_embodied_lookup_uses_a_bounded_number_of_queries(django_assert_max_num_queries):
    hosts = [_host(f"node-{n}", embodied_kgco2e=2500, lifetime_years=4) for n in range(5)]
    devices = [_device(host, i) for host in hosts for i in range(4)]
    with django_assert_max_num_queries(4):
        factors = embodied_for_devices(devices)
    assert len(factors) == 20
