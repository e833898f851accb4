"""The pure part of the prometheus and dcgm sources, on a dcgm-exporter page of the real format
(tests/agent/testdata/dcgm-exporter-metrics.txt) and hand-checked numbers."""

from pathlib import Path

import pytest

from collectors.agent.sources.telemetry import (
    ENERGY,
    KIND_ENERGY,
    KIND_POWER,
    POWER,
    GpuIdentity,
    GpuPoints,
    Position,
    Series,
    TelemetryError,
    TelemetrySource,
    advance,
    group_by_gpu,
    parse_exposition,
    parse_query_result,
    pod_job,
)
from tests.agent.dcgm_exporter_fixture import DcgmExporterFixture, ExportedGpu

CAPTURED = Path(__file__).parent / "testdata" / "dcgm-exporter-metrics.txt"
GPU0 = "GPU-5a1c3e2b-9f0d-4c55-8e1a-2b7d6f4c9a01"
GPU1 = "GPU-0b8e4d17-6c2a-4f3e-b9d0-71e5a8c3f2d4"
GPU2 = "GPU-c7f29a60-3d14-4b8e-a5c2-e0d96b17f835"


def captured_gpus() -> dict[str, GpuPoints]:
    return group_by_gpu(parse_exposition(CAPTURED.read_text(), 1000.0), "fallback")


def test_exposition_page_gives_each_gpu_its_counter_model_host_and_extras():
    gpus = captured_gpus()
    assert sorted(gpus) == sorted([GPU0, GPU1, GPU2])
    gpu0 = gpus[GPU0]
    assert gpu0.identity == GpuIdentity(GPU0, "gpu-node-07", 0, "NVIDIA H100 80GB HBM3")
    assert gpu0.kind == KIND_ENERGY
    assert gpu0.points == {
        1000.0: (
            41877315226.0,
            frozenset(
                {
                    (
                        ("id", "nlp-research/llama-ft-0"),
                        ("namespace", "nlp-research"),
                        ("pod", "llama-ft-0"),
                        ("container", "trainer"),
                    )
                }
            ),
        )
    }
    assert (gpu0.util_pct, gpu0.mem_used_mib) == (97.0, 80336.0)
    assert gpus[GPU1].identity.index == 1
    assert gpus[GPU1].points[1000.0] == (9023188452.0, frozenset())


def test_counter_families_keep_dcgm_exporter_names_not_the_parsers_total_suffix():
    series = parse_exposition(CAPTURED.read_text(), 5.0)
    names = {item.metric for item in series}
    assert ENERGY in names and "DCGM_FI_DEV_PCIE_REPLAY_COUNTER" in names
    assert not any(name.endswith("_total") for name in names)


def test_gpu_shared_by_two_pods_is_one_gpu_with_two_jobs():
    gpu2 = captured_gpus()[GPU2]
    (value, jobs) = gpu2.points[1000.0]
    assert value == 27650993107.0
    assert sorted(dict(job)["pod"] for job in jobs) == ["resnet-a-7d9f", "resnet-b-5c2k"]


def test_fixture_exporter_writes_the_captured_format():
    exporter = DcgmExporterFixture(
        [ExportedGpu("GPU-x", 0, 100.0, pods=(("ns", "p", "c"),))], hostname="h"
    )
    rendered = exporter.render().splitlines()
    captured = CAPTURED.read_text().splitlines()
    for line in rendered:
        if line.startswith("#"):
            assert line in captured
            continue
        names = [part.split("=")[0] for part in line.split("{")[1].split("}")[0].split(",")]
        assert names == [
            "gpu",
            "UUID",
            "pci_bus_id",
            "device",
            "modelName",
            "Hostname",
            "DCGM_FI_DRIVER_VERSION",
            "container",
            "namespace",
            "pod",
        ]


def test_bad_exposition_text_is_a_telemetry_error():
    with pytest.raises(TelemetryError):
        parse_exposition('DCGM_FI_DEV_POWER_USAGE{gpu="0" 12\n', 1.0)


def test_pod_labels_renamed_by_prometheus_win_over_its_own_target_labels():
    labels = {
        "UUID": "GPU-1",
        "namespace": "gpu-operator",
        "pod": "nvidia-dcgm-exporter-x",
        "exported_namespace": "nlp",
        "exported_pod": "train-0",
        "exported_container": "main",
    }
    assert dict(pod_job(labels)) == {
        "id": "nlp/train-0",
        "namespace": "nlp",
        "pod": "train-0",
        "container": "main",
    }
    assert pod_job({"UUID": "GPU-1", "pod": ""}) is None


def test_host_falls_back_to_the_prometheus_instance_then_the_default():
    series = [
        Series(ENERGY, {"UUID": "GPU-1", "instance": "10.0.0.7:9400"}, [(1.0, 5.0)]),
        Series(ENERGY, {"UUID": "GPU-2"}, [(1.0, 5.0)]),
        Series(ENERGY, {"gpu": "0"}, [(1.0, 5.0)]),  # no UUID: not a GPU series
    ]
    gpus = group_by_gpu(series, "agent-host")
    assert gpus["GPU-1"].identity.host == "10.0.0.7"
    assert gpus["GPU-2"].identity.host == "agent-host"
    assert len(gpus) == 2


def test_power_is_used_only_for_gpus_without_an_energy_counter():
    series = [
        Series(ENERGY, {"UUID": "GPU-1"}, [(1.0, 5.0)]),
        Series(POWER, {"UUID": "GPU-1"}, [(1.0, 300.0)]),
        Series(POWER, {"UUID": "GPU-2"}, [(1.0, 70.0)]),
    ]
    gpus = group_by_gpu(series, "h")
    assert (gpus["GPU-1"].kind, gpus["GPU-1"].points[1.0][0]) == (KIND_ENERGY, 5.0)
    assert (gpus["GPU-2"].kind, gpus["GPU-2"].points[1.0][0]) == (KIND_POWER, 70.0)


def gpu_points(kind, points, jobs=None) -> GpuPoints:
    gpu = GpuPoints(GpuIdentity("GPU-1", "h", 0, "m"), kind)
    for ts, value in points:
        gpu.add(ts, value, (jobs or {}).get(ts))
    return gpu


POD = (("id", "ns/p"), ("namespace", "ns"), ("pod", "p"))


def test_counter_difference_over_points_in_one_run_per_job_set():
    gpu = gpu_points(
        KIND_ENERGY,
        [(10.0, 1_000_000), (11.0, 1_300_000), (12.0, 1_600_000), (13.0, 1_900_000)],
        jobs={12.0: POD, 13.0: POD},
    )
    runs, position, resets = advance(None, gpu, max_attributed_gap_s=300)
    # The first point is the baseline; the pod holds the GPU from the interval ending at 12.
    assert [(r.end_ts, r.duration_s, r.energy_j, r.jobs) for r in runs] == [
        (11.0, 1.0, 300.0, None),
        (13.0, 2.0, 600.0, [{"id": "ns/p", "namespace": "ns", "pod": "p", "share": 1.0}]),
    ]
    assert position == Position(13.0, 1_900_000, KIND_ENERGY)
    assert resets == 0


def test_points_already_counted_are_skipped():
    gpu = gpu_points(KIND_ENERGY, [(10.0, 1_000_000), (11.0, 1_300_000), (12.0, 1_600_000)])
    runs, position, _ = advance(
        Position(11.0, 1_300_000, KIND_ENERGY), gpu, max_attributed_gap_s=300
    )
    assert [(r.duration_s, r.energy_j) for r in runs] == [(1.0, 300.0)]
    assert position.ts == 12.0


def test_counter_reset_counts_the_new_value_never_a_negative_amount():
    gpu = gpu_points(KIND_ENERGY, [(11.0, 2_000_000), (12.0, 250_000), (13.0, 550_000)])
    runs, position, resets = advance(
        Position(10.0, 1_700_000, KIND_ENERGY), gpu, max_attributed_gap_s=300
    )
    (run,) = runs
    assert run.energy_j == pytest.approx(300.0 + 250.0 + 300.0)
    assert resets == 1
    assert position.value == 550_000


def test_power_is_integrated_by_trapezoids():
    gpu = gpu_points(KIND_POWER, [(10.0, 100.0), (12.0, 300.0), (13.0, 300.0)])
    (run,), position, _ = advance(None, gpu, max_attributed_gap_s=300)
    assert run.energy_j == pytest.approx(400.0 + 300.0)
    assert run.duration_s == 3.0
    assert position.kind == KIND_POWER


def test_a_gap_counts_its_energy_without_jobs():
    gpu = gpu_points(KIND_ENERGY, [(1000.0, 1_600_000)], jobs={1000.0: POD})
    (run,), _, _ = advance(Position(10.0, 1_000_000, KIND_ENERGY), gpu, max_attributed_gap_s=300)
    assert (run.duration_s, run.energy_j, run.jobs) == (990.0, 600.0, None)


def test_a_gpu_that_changed_from_power_to_counter_starts_a_new_baseline():
    gpu = gpu_points(KIND_ENERGY, [(12.0, 5_000_000), (13.0, 5_300_000)])
    runs, _, resets = advance(Position(10.0, 300.0, KIND_POWER), gpu, max_attributed_gap_s=300)
    assert [(r.duration_s, r.energy_j) for r in runs] == [(1.0, 300.0)]
    assert resets == 0


def test_prometheus_matrix_vector_and_error_answers():
    matrix = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {"__name__": ENERGY, "UUID": "GPU-1"},
                    "values": [[1.5, "100"], [2.5, "NaN"], [3.5, "400"]],
                }
            ],
        },
    }
    (series,) = parse_query_result(matrix, ENERGY)
    assert series == Series(ENERGY, {"UUID": "GPU-1"}, [(1.5, 100.0), (3.5, 400.0)])
    vector = {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {"UUID": "G"}, "value": [7, "1"]}]},
    }
    assert parse_query_result(vector, "X")[0].points == [(7.0, 1.0)]
    with pytest.raises(TelemetryError, match="parse error"):
        parse_query_result({"status": "error", "error": "parse error"}, "X")
    with pytest.raises(TelemetryError, match="malformed"):
        parse_query_result(
            {"status": "success", "data": {"resultType": "vector", "result": [{"value": [1]}]}},
            "X",
        )


def test_saved_positions_that_are_not_valid_are_ignored():
    assert Position.from_state([1.0, 2.0, KIND_ENERGY]) == Position(1.0, 2.0, KIND_ENERGY)
    assert Position.from_state([1.0, 2.0, "joules"]) is None
    assert Position.from_state("garbage") is None
    assert Position.from_state([1.0, float("nan"), KIND_POWER]) is None


class ListedSource(TelemetrySource):
    key = "listed"

    def __init__(self, polls):
        super().__init__(poll_every_s=1.0, clock=lambda: 100.0)
        self.polls = polls

    def fetch(self):
        return group_by_gpu(self.polls.pop(0), "h")


def test_state_of_a_partly_spooled_read_holds_back_the_hosts_not_yet_spooled():
    def poll(ts, value):
        return [
            Series(ENERGY, {"UUID": "GPU-a", "Hostname": "a"}, [(ts, value)]),
            Series(ENERGY, {"UUID": "GPU-b", "Hostname": "b"}, [(ts, value)]),
        ]

    source = ListedSource([poll(10.0, 1000), poll(11.0, 4000)])
    source.samples_from(source.fetch())
    source.spooled()
    samples = source.samples_from(source.fetch())
    assert {s.device.host for s in samples} == {"a", "b"}
    assert source.state_for_hosts(frozenset({"a"}))["positions"] == {
        "GPU-a": [11.0, 4000.0, KIND_ENERGY],
        "GPU-b": [10.0, 1000.0, KIND_ENERGY],
    }
    assert source.state()["positions"]["GPU-b"] == [11.0, 4000.0, KIND_ENERGY]
    restored = ListedSource([])
    restored.restore(source.state_for_hosts(frozenset({"a"})))
    assert restored.hosts == {"GPU-a": "a", "GPU-b": "b"}
    assert restored.positions["GPU-b"].ts == 10.0


def test_on_a_renamed_target_the_plain_pod_labels_are_the_exporters_own():
    target = {"instance": "10.0.0.9:9400", "namespace": "gpu-operator", "pod": "dcgm-x"}
    series = [
        Series(
            ENERGY,
            {**target, "UUID": "GPU-1", "exported_namespace": "nlp", "exported_pod": "train-0"},
            [(1.0, 5.0)],
        ),
        Series(ENERGY, {**target, "UUID": "GPU-2"}, [(1.0, 5.0)]),
        # Another target scraped with honor_labels: its plain labels are the workload's.
        Series(
            ENERGY,
            {"instance": "10.0.0.10:9400", "UUID": "GPU-3", "namespace": "cv", "pod": "p"},
            [(1.0, 5.0)],
        ),
    ]
    gpus = group_by_gpu(series, "h")
    assert [dict(job)["id"] for job in gpus["GPU-1"].points[1.0][1]] == ["nlp/train-0"]
    assert gpus["GPU-2"].points[1.0][1] == frozenset()
    assert [dict(job)["id"] for job in gpus["GPU-3"].points[1.0][1]] == ["cv/p"]
