import json

import pytest

from collectors.agent.sources.replay import ReplayLineError, ReplaySource, parse_line


def line(**fields) -> str:
    record = {"device": "GPU-a", "name": "NVIDIA A100", "index": 1, "ts": "2026-11-01T00:00:01Z"}
    record.update({"duration_s": 1.0, "energy_j": 250.0})
    record.update(fields)
    return json.dumps({k: v for k, v in record.items() if v is not None})


def test_line_becomes_a_sample_keeping_its_timestamp():
    sample = parse_line(line(tags=[{"project": "p", "share": 1.0}]), {})
    assert sample.device.uuid == "GPU-a"
    assert (sample.device.name, sample.device.index, sample.device.kind) == (
        "NVIDIA A100",
        1,
        "gpu",
    )
    payload = sample.to_payload()
    assert payload["ts"] == "2026-11-01T00:00:01Z"
    assert payload["energy_j"] == 250.0 and payload["tags"] == [{"project": "p", "share": 1.0}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (line(device=None), "'device'"),
        (line(ts=None), "'ts'"),
        (line(duration_s="1"), "'duration_s'"),
        (line(colour="red"), "unknown field"),
    ],
)
def test_malformed_lines_are_named(text, message):
    with pytest.raises(ReplayLineError, match=message):
        parse_line(text, {})


def test_reads_in_batches_and_resumes_after_the_last_spooled_line(tmp_path):
    trace = tmp_path / "trace.jsonl"
    lines = [line(ts=f"2026-11-01T00:00:{i:02d}Z") for i in range(10)]
    trace.write_text("\n".join(lines) + "\n")
    source = ReplaySource(trace, batch_samples=4)
    source.open()
    assert len(source.read()) == 4
    saved = source.state()
    source.close()
    resumed = ReplaySource(trace, batch_samples=4)
    resumed.open(saved)
    rest = resumed.read() + resumed.read()
    assert [s.ts for s in rest] == [f"2026-11-01T00:00:{i:02d}Z" for i in range(4, 10)]
    assert resumed.exhausted


def test_invalid_lines_are_skipped_and_remembered(tmp_path):
    trace = tmp_path / "trace.jsonl"
    trace.write_text(line() + "\n\nnonsense\n" + line(ts="2026-11-01T00:00:02Z") + "\n")
    source = ReplaySource(trace)
    source.open()
    assert len(source.read()) == 2
    assert [number for number, _ in source.invalid_lines] == [3]
