import pytest

from collectors.agent.model import build_payload
from collectors.agent.sources import SourceError
from collectors.agent.sources.nvml import NvmlSource
from tests.agent import fake_pynvml as nvml
from tests.agent.fake_pynvml import FakeGpu, FakeMig

BOOT = "boot-1"


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float, *gpus: FakeGpu, power_w: float | None = None) -> None:
        self.now += seconds
        for gpu in gpus:
            gpu.advance(seconds, power_w)


def make_source(clock, tmp_path, boot_id=BOOT, interval_s=1.0) -> NvmlSource:
    return NvmlSource(
        interval_s=interval_s, nvml=nvml, proc_root=tmp_path, clock=clock, boot_id=boot_id
    )


def write_environ(tmp_path, pid: int, **env: str) -> None:
    (tmp_path / str(pid)).mkdir()
    raw = b"".join(f"{name}={value}".encode() + b"\0" for name, value in env.items())
    (tmp_path / str(pid) / "environ").write_bytes(raw)


def test_energy_is_the_counter_difference_in_joules(tmp_path):
    gpu = FakeGpu("GPU-a", power_mw=300_000, memory_used=2 * 1024**3)
    nvml.configure([gpu])
    clock = Clock()
    source = make_source(clock, tmp_path)
    source.open()
    clock.advance(1.0, gpu)
    (sample,) = source.read()
    assert sample.device.uuid == "GPU-a"
    assert sample.device.power_limit_w == 700.0
    assert sample.energy_j == pytest.approx(300.0)
    assert sample.duration_s == pytest.approx(1.0)
    assert sample.power_w == pytest.approx(300.0)
    assert sample.ts == clock.now
    assert sample.util_pct == 50.0
    assert sample.mem_used_mib == 2048.0
    assert sample.tags is None  # no process, no tag
    source.close()


def test_nvml_is_initialised_once_and_handles_are_cached(tmp_path, monkeypatch):
    gpus = [FakeGpu("GPU-a"), FakeGpu("GPU-b")]
    nvml.configure(gpus)
    calls = {"init": 0, "handle": 0}
    real_init, real_handle = nvml.nvmlInit, nvml.nvmlDeviceGetHandleByIndex

    def counting_init():
        calls["init"] += 1
        real_init()

    def counting_handle(index):
        calls["handle"] += 1
        return real_handle(index)

    monkeypatch.setattr(nvml, "nvmlInit", counting_init)
    monkeypatch.setattr(nvml, "nvmlDeviceGetHandleByIndex", counting_handle)
    clock = Clock()
    source = make_source(clock, tmp_path)
    source.open()
    for _ in range(5):
        clock.advance(1.0, *gpus)
        assert len(source.read()) == 2
    assert calls == {"init": 1, "handle": 2}
    source.close()


def test_gpu_without_energy_counter_integrates_polled_power(tmp_path):
    gpu = FakeGpu("GPU-old", name="Tesla P100-PCIE-16GB", energy_mj=None, power_mw=100_000)
    nvml.configure([gpu])
    clock = Clock()
    source = make_source(clock, tmp_path, interval_s=1000.0)  # the poll thread stays asleep
    source.open()
    clock.now += 0.5
    gpu.power_mw = 200_000
    source._poll_power()
    clock.now += 0.5
    (sample,) = source.read()  # polls once more at read time
    # trapezoids: 0.5 s * (100+200)/2 + 0.5 s * 200 = 75 + 100
    assert sample.energy_j == pytest.approx(175.0)
    assert sample.duration_s == pytest.approx(1.0)
    assert source.state()["counters"] == {}  # nothing to resume without a counter
    source.close()


def test_counter_reset_is_detected_and_counted_from_the_new_value(tmp_path):
    gpu = FakeGpu("GPU-a", energy_mj=50_000_000)
    nvml.configure([gpu])
    clock = Clock()
    source = make_source(clock, tmp_path)
    source.open()
    clock.now += 1.0
    gpu.energy_mj = 250_000  # driver reloaded: counts from zero again
    (sample,) = source.read()
    assert sample.energy_j == pytest.approx(250.0)
    assert source.counter_resets == 1
    clock.advance(1.0, gpu, power_w=400.0)
    (sample,) = source.read()
    assert sample.energy_j == pytest.approx(400.0)
    source.close()


def test_restart_in_the_same_boot_reports_the_gap_as_hour_pieces(tmp_path):
    gpu = FakeGpu("GPU-a", power_mw=250_000, processes=[100])
    write_environ(tmp_path, 100, GREENAI_PROJECT="p1")
    nvml.configure([gpu])
    clock = Clock()
    first = make_source(clock, tmp_path)
    first.open()
    clock.advance(1.0, gpu)
    first.read()
    saved = first.state()
    first.close()

    clock.advance(7200.0, gpu)  # the agent was down for two hours
    second = make_source(clock, tmp_path)
    second.open(saved)
    clock.advance(1.0, gpu)
    samples = second.read()
    assert [s.duration_s for s in samples] == pytest.approx([3600.0, 3600.0, 1.0])
    assert sum(s.energy_j for s in samples) == pytest.approx(250.0 * 7201.0)
    assert samples[-1].ts == clock.now
    assert all(s.tags is None for s in samples)  # who ran during the gap is unknown
    clock.advance(1.0, gpu)
    (sample,) = second.read()
    assert sample.tags == [{"project": "p1", "share": 1.0}]
    second.close()


def test_restart_after_a_reboot_does_not_back_fill(tmp_path):
    gpu = FakeGpu("GPU-a")
    nvml.configure([gpu])
    clock = Clock()
    first = make_source(clock, tmp_path, boot_id="boot-1")
    first.open()
    saved = first.state()
    clock.advance(600.0, gpu)
    second = make_source(clock, tmp_path, boot_id="boot-2")
    second.open(saved)
    clock.advance(1.0, gpu)
    (sample,) = second.read()
    assert sample.duration_s == pytest.approx(1.0)


def test_counter_lower_than_saved_at_restart_is_a_reset_without_back_fill(tmp_path):
    gpu = FakeGpu("GPU-a", energy_mj=90_000_000)
    nvml.configure([gpu])
    clock = Clock()
    first = make_source(clock, tmp_path)
    first.open()
    saved = first.state()
    clock.now += 60
    gpu.energy_mj = 5_000  # the driver was reloaded while the agent was stopped
    second = make_source(clock, tmp_path)
    second.open(saved)
    assert second.counter_resets == 1
    clock.advance(1.0, gpu)
    (sample,) = second.read()
    assert sample.duration_s == pytest.approx(1.0)
    assert sample.energy_j == pytest.approx(300.0)


def test_processes_share_the_gpu_by_sm_utilisation(tmp_path):
    gpu = FakeGpu("GPU-a", processes=[100, 200, 300], process_sm_util={100: 60, 200: 20, 300: 0})
    write_environ(tmp_path, 100, GREENAI_PROJECT="llm", GREENAI_PHASE="training")
    write_environ(tmp_path, 200, SLURM_JOB_ID="77")
    write_environ(tmp_path, 300, PATH="/usr/bin")
    nvml.configure([gpu])
    clock = Clock()
    source = make_source(clock, tmp_path)
    source.open()
    clock.advance(1.0, gpu)
    (sample,) = source.read()
    # The Slurm process's share travels as its job, not as a tag.
    assert sample.tags == [{"project": "llm", "phase": "training", "share": 0.75}]
    assert sample.job == [{"id": "77", "share": 0.25}]


def test_processes_share_equally_when_nvml_has_no_process_samples(tmp_path):
    gpu = FakeGpu("GPU-a", processes=[100, 200], process_sm_util=None)  # NotFound
    write_environ(tmp_path, 100, GREENAI_PROJECT="a")
    write_environ(tmp_path, 200, GREENAI_PROJECT="b")
    nvml.configure([gpu])
    clock = Clock()
    source = make_source(clock, tmp_path)
    source.open()
    clock.advance(1.0, gpu)
    (sample,) = source.read()
    assert sample.tags == [{"project": "a", "share": 0.5}, {"project": "b", "share": 0.5}]


def test_mig_slices_are_declared_and_their_processes_share_the_parent_energy(tmp_path):
    gib = 1024**3
    gpu = FakeGpu(
        "GPU-a100",
        name="NVIDIA A100-SXM4-80GB",
        memory_total=80 * gib,
        mig=[
            FakeMig("MIG-1", "NVIDIA A100-SXM4-80GB MIG 1g.10gb", 10 * gib, processes=[100]),
            FakeMig("MIG-2", "NVIDIA A100-SXM4-80GB MIG 3g.40gb", 40 * gib, processes=[]),
        ],
    )
    write_environ(tmp_path, 100, GREENAI_PROJECT="small-model")
    nvml.configure([gpu])
    clock = Clock()
    source = make_source(clock, tmp_path)
    source.open()
    clock.advance(1.0, gpu)
    (sample,) = source.read()
    assert sample.util_pct is None  # NVML has no GPU utilisation in MIG mode
    assert sample.tags == [{"project": "small-model", "share": 0.125}]
    payload = build_payload(batch_id="b", hostname="h", agent_version="0", samples=[sample])
    assert [d["uuid"] for d in payload["devices"]] == ["GPU-a100", "MIG-1", "MIG-2"]
    assert payload["devices"][1] == {
        "uuid": "MIG-1",
        "kind": "gpu",
        "index": 0,
        "name": "NVIDIA A100-SXM4-80GB MIG 1g.10gb",
        "is_mig": True,
        "parent_uuid": "GPU-a100",
    }
    assert [s["device"] for s in payload["samples"]] == ["GPU-a100"]


def test_missing_driver_fails_at_open_with_the_fix(tmp_path):
    nvml.configure([FakeGpu("GPU-a")], init_error=nvml.NVML_ERROR_DRIVER_NOT_LOADED)
    with pytest.raises(SourceError, match="Driver Not Loaded.*NVIDIA driver"):
        make_source(Clock(), tmp_path).open()


def test_machine_without_gpu_fails_at_open(tmp_path):
    nvml.configure([])
    with pytest.raises(SourceError, match="no GPU"):
        make_source(Clock(), tmp_path).open()


def test_a_lost_gpu_does_not_stop_the_others_and_all_lost_is_an_error(tmp_path):
    gpus = [FakeGpu("GPU-a"), FakeGpu("GPU-b")]
    nvml.configure(gpus)
    clock = Clock()
    source = make_source(clock, tmp_path)
    source.open()
    clock.advance(1.0, *gpus)
    gpus[0].lost = True
    assert [s.device.uuid for s in source.read()] == ["GPU-b"]
    gpus[1].lost = True
    clock.advance(1.0, *gpus)
    with pytest.raises(SourceError, match="GPU is lost"):
        source.read()
    gpus[0].lost = gpus[1].lost = False
    clock.advance(1.0, *gpus)
    samples = source.read()
    # The energy of the failing seconds is not lost: the counter difference covers them.
    assert [s.energy_j for s in samples] == pytest.approx([900.0, 600.0])


def test_driver_older_than_the_bindings_falls_back_to_the_v2_process_list(tmp_path):
    gpu = FakeGpu("GPU-a", processes=[100])
    write_environ(tmp_path, 100, GREENAI_PROJECT="p1")
    nvml.configure([gpu], old_driver=True)
    clock = Clock()
    source = make_source(clock, tmp_path)
    source.open()
    clock.advance(1.0, gpu)
    (sample,) = source.read()
    assert sample.tags == [{"project": "p1", "share": 1.0}]


def test_attribution_failure_leaves_the_sample_untagged_but_keeps_its_energy(
    tmp_path, monkeypatch, caplog
):
    gpu = FakeGpu("GPU-a", processes=[100])
    nvml.configure([gpu])
    clock = Clock()
    source = make_source(clock, tmp_path)
    source.open()

    def broken(pid):
        raise UnicodeDecodeError("utf-8", b"", 0, 1, "bad")

    monkeypatch.setattr(source.projects, "project_of", broken)
    for _ in range(2):
        clock.advance(1.0, gpu)
        (sample,) = source.read()
        assert sample.energy_j == pytest.approx(300.0) and sample.tags is None
    assert caplog.text.count("process attribution failed") == 1


def test_after_a_driver_reload_nvml_is_started_again_and_the_reset_counted(tmp_path):
    gpus = [FakeGpu("GPU-a"), FakeGpu("GPU-b")]
    nvml.configure(gpus)
    clock = Clock()
    source = make_source(clock, tmp_path)
    source.open()
    clock.advance(1.0, *gpus)
    assert len(source.read()) == 2
    nvml.reload_driver()
    for _ in range(3):  # the old handles fail; after the third failure NVML starts again
        clock.advance(1.0, *gpus)
        with pytest.raises(SourceError, match="GPU is lost"):
            source.read()
    clock.advance(1.0, *gpus)
    samples = source.read()
    # The counters restarted at the reload: what they counted since is reported.
    assert [s.energy_j for s in samples] == pytest.approx([1200.0, 1200.0])
    assert source.counter_resets == 2


def test_fake_matches_the_real_pynvml_for_every_name_the_source_uses():
    import inspect
    import re
    from pathlib import Path

    import pynvml

    import collectors.agent.sources.nvml as module

    code = Path(module.__file__).read_text()
    names = set(re.findall(r"\bnvml\.((?:nvml|NVML)\w+)", code))
    assert "nvmlDeviceGetTotalEnergyConsumption" in names
    for name in sorted(names):
        real, fake = getattr(pynvml, name), getattr(nvml, name)
        if inspect.isfunction(real):
            real_params = list(inspect.signature(real).parameters)
            assert list(inspect.signature(fake).parameters) == real_params, name
        else:
            assert issubclass(fake, Exception) and issubclass(real, Exception), name
    assert pynvml.NVML_DEVICE_MIG_ENABLE == nvml.NVML_DEVICE_MIG_ENABLE == 1
    assert pynvml.NVML_ERROR_NOT_SUPPORTED == nvml.NVML_ERROR_NOT_SUPPORTED
    assert pynvml.NVML_ERROR_NOT_FOUND == nvml.NVML_ERROR_NOT_FOUND
    assert pynvml.NVMLError_NotSupported.__name__ == nvml.NVMLError_NotSupported.__name__


def test_real_pynvml_without_a_driver_fails_at_open_with_the_fix(tmp_path):
    import ctypes.util

    if ctypes.util.find_library("nvidia-ml"):
        pytest.skip("this machine has an NVIDIA driver")
    source = NvmlSource(interval_s=1.0, proc_root=tmp_path)
    with pytest.raises(SourceError, match="NVML Shared Library Not Found.*NVIDIA driver"):
        source.open()
