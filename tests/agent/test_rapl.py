import shutil
from pathlib import Path

import pytest

from collectors.agent.sources import SourceError
from collectors.agent.sources.rapl import RaplSource, find_packages

FIXTURE = Path(__file__).parent / "testdata" / "powercap"


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def powercap(tmp_path) -> Path:
    root = tmp_path / "powercap"
    shutil.copytree(FIXTURE, root)
    return root


def set_energy(root: Path, domain: str, value: int) -> None:
    (root / domain / "energy_uj").write_text(f"{value}\n")


def test_only_package_domains_are_devices(powercap):
    packages = find_packages(powercap)
    assert [(p.name, p.package) for p in packages] == [("intel-rapl:0", 0), ("intel-rapl:1", 1)]
    assert packages[0].max_power_w == 250.0


def test_energy_is_the_counter_difference(powercap):
    clock = Clock()
    source = RaplSource(hostname="h", root=powercap, clock=clock)
    source.open()
    set_energy(powercap, "intel-rapl:0", 123456789 + 95_000_000)  # 95 J
    set_energy(powercap, "intel-rapl:1", 987654321 + 40_000_000)
    clock.now += 1.0
    package0, package1 = source.read()
    assert package0.device.kind == "cpu" and package0.device.index == 0
    assert package0.energy_j == pytest.approx(95.0)
    assert package0.power_w == pytest.approx(95.0)
    assert package1.energy_j == pytest.approx(40.0)
    assert package0.device.uuid.startswith("CPU-")


def test_counter_wrap_at_max_energy_range(powercap):
    clock = Clock()
    max_range = 262143328850
    set_energy(powercap, "intel-rapl:0", max_range - 10_000_000)
    source = RaplSource(hostname="h", root=powercap, clock=clock)
    source.open()
    set_energy(powercap, "intel-rapl:0", 30_000_000)
    clock.now += 1.0
    package0 = source.read()[0]
    assert package0.energy_j == pytest.approx(40.0)


def test_missing_powercap_names_the_fix(tmp_path):
    with pytest.raises(SourceError, match="no RAPL.*modprobe intel_rapl_msr"):
        RaplSource(hostname="h", root=tmp_path / "absent").open()


def test_tree_without_packages_names_the_fix(tmp_path):
    (tmp_path / "intel-rapl").mkdir()
    with pytest.raises(SourceError, match="no intel-rapl package domain"):
        RaplSource(hostname="h", root=tmp_path).open()


def test_permission_denied_fails_at_open_with_the_fix_never_zero(powercap, monkeypatch):
    real_read_text = Path.read_text

    def read_text(self, *args, **kwargs):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    with pytest.raises(SourceError, match="permission denied.*root.*chmod.*udev"):
        RaplSource(hostname="h", root=powercap).open()


def test_restart_in_the_same_boot_back_fills_a_short_gap(powercap):
    clock = Clock()
    first = RaplSource(hostname="h", root=powercap, clock=clock)
    first.open()
    saved = first.state()
    clock.now += 100.0
    set_energy(powercap, "intel-rapl:0", 123456789 + 10_000_000_000)  # 10 kJ in 100 s
    second = RaplSource(hostname="h", root=powercap, clock=clock)
    second.open(saved)
    sample = second.read()[0]
    assert sample.duration_s == pytest.approx(100.0)
    assert sample.energy_j == pytest.approx(10_000.0)


def test_gap_longer_than_one_counter_wrap_is_not_guessed(powercap):
    clock = Clock()
    first = RaplSource(hostname="h", root=powercap, clock=clock)
    first.open()
    saved = first.state()
    clock.now += 3 * 3600.0  # 262 kJ range at 250 W wraps every ~17 minutes
    second = RaplSource(hostname="h", root=powercap, clock=clock)
    second.open(saved)
    assert second.unmeasured_gap_s == pytest.approx(2 * 3 * 3600.0)  # two packages
    clock.now += 1.0
    assert second.read()[0].duration_s == pytest.approx(1.0)
