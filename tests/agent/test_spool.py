import gzip
import json
import uuid

import pytest

from collectors.agent.spool import Spool, SpoolError, decode_batch


def payload(samples: int = 2) -> dict:
    return {
        "batch_id": str(uuid.uuid4()),
        "host": {"hostname": "h", "agent_version": "0"},
        "devices": [{"uuid": "GPU-a", "kind": "gpu", "index": 0, "name": "x"}],
        "samples": [
            {"device": "GPU-a", "ts": 1_795_000_000 + i, "duration_s": 1.0, "energy_j": 300.0}
            for i in range(samples)
        ],
    }


@pytest.fixture
def spool(tmp_path):
    spool = Spool(tmp_path / "spool", max_bytes=10 * 1024 * 1024)
    spool.open()
    yield spool
    spool.close()


def test_batch_is_on_disk_with_gzip_body_before_anyone_sends_it(spool):
    body = payload()
    batch = spool.put(body, {"sim": {"last_end": {"GPU-a": 5.0}}})
    assert batch.path.exists()
    meta, gzip_body = decode_batch(batch.path.read_bytes())
    assert json.loads(gzip.decompress(gzip_body)) == body
    assert meta["batch_id"] == body["batch_id"] and meta["samples"] == 2
    assert not list(spool.batches_dir.glob(".*"))  # no temporary file left behind


def test_batches_come_out_oldest_first_and_delete_removes(spool):
    first = spool.put(payload(), {})
    second = spool.put(payload(), {})
    assert spool.pending() == [first.path, second.path]
    spool.delete(first.path)
    assert spool.oldest() == second.path
    assert spool.count() == 1 and spool.total_bytes() == second.size


def test_reopened_spool_continues_after_the_batches_left_behind(tmp_path):
    spool = Spool(tmp_path, max_bytes=10**7)
    spool.open()
    old = spool.put(payload(), {})
    spool.close()
    (tmp_path / "batches" / ".half-written.batch.tmp").write_bytes(b"GREENAI")
    reopened = Spool(tmp_path, max_bytes=10**7)
    reopened.open()
    new = reopened.put(payload(), {})
    assert reopened.pending() == [old.path, new.path]
    assert new.seq > old.seq
    assert not (tmp_path / "batches" / ".half-written.batch.tmp").exists()
    reopened.close()


def test_full_spool_drops_the_oldest_whole_batches_and_counts_them(tmp_path, caplog):
    probe = Spool(tmp_path / "probe", max_bytes=10**9)
    probe.open()
    size = probe.put(payload(50), {}).size
    probe.close()
    spool = Spool(tmp_path / "spool", max_bytes=int(size * 2.5))
    spool.open()
    batches = [spool.put(payload(50), {}) for _ in range(4)]
    assert spool.pending() == [b.path for b in batches[2:]]
    assert spool.dropped_batches == 2
    assert spool.dropped_samples == 100
    assert "dropped the oldest batch" in caplog.text
    spool.close()


def test_the_newest_batch_is_kept_even_when_alone_over_the_bound(tmp_path):
    spool = Spool(tmp_path, max_bytes=10)
    spool.open()
    spool.put(payload(), {})
    newest = spool.put(payload(), {})
    assert spool.pending() == [newest.path]
    spool.close()


def test_rejected_batch_moves_aside_with_the_answer(spool):
    batch = spool.put(payload(), {})
    answer = '{"error": "invalid batch", "details": [{"field": "samples[0].power_w"}]}'
    target = spool.reject(batch.path, status=400, answer=answer)
    assert spool.count() == 0
    assert target.parent == spool.rejected_dir and target.exists()
    record = json.loads(target.with_suffix(".answer.json").read_text())
    assert record["status"] == 400 and record["answer"] == answer


def test_state_comes_from_the_newest_batch_when_state_file_is_behind(spool):
    spool.put(payload(), {"sim": {"n": 1}})
    spool.put(payload(), {"sim": {"n": 2}})
    # As if killed after writing the batch but before writing state.json:
    spool.state_path.write_text(json.dumps({"seq": 1, "state": {"sim": {"n": 1}}}))
    assert spool.load_state() == {"sim": {"n": 2}}


def test_state_file_wins_once_its_batches_were_sent(spool):
    first = spool.put(payload(), {"sim": {"n": 1}})
    spool.put(payload(), {"sim": {"n": 2}})
    spool.delete(spool.oldest())
    spool.delete(spool.oldest())
    assert first.seq == 1
    assert spool.load_state() == {"sim": {"n": 2}}


def test_two_agents_cannot_share_a_spool_directory(spool):
    other = Spool(spool.directory, max_bytes=10**7)
    with pytest.raises(SpoolError, match="another agent"):
        other.open()


def test_unusable_spool_directory_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(SpoolError, match="cannot use spool directory"):
        Spool(tmp_path / "file" / "spool", max_bytes=10).open()


def test_a_rejected_batch_moved_back_by_hand_is_sent_again_after_a_restart(tmp_path):
    spool = Spool(tmp_path, max_bytes=10**7)
    spool.open()
    batch = spool.put(payload(), {})
    target = spool.reject(batch.path, status=400, answer="clock skew")
    spool.close()
    target.rename(tmp_path / "batches" / target.name)  # what docs/agent.md tells the user
    reopened = Spool(tmp_path, max_bytes=10**7)
    reopened.open()
    assert reopened.pending() == [batch.path]
    meta, _ = reopened.load(batch.path)
    assert meta["batch_id"] == batch.batch_id
    reopened.close()


def test_a_batch_set_aside_lets_newer_ones_go_first_until_it_is_due(spool):
    first = spool.put(payload(), {}).path
    second = spool.put(payload(), {}).path
    assert spool.note_failure(first) == 1
    assert spool.oldest() == first  # a failure alone does not reorder anything
    spool.set_aside(first, retry_at=1000.0)
    assert spool.is_aside(first) and spool.aside_count() == 1
    assert spool.next_to_send(now=999.0) == second
    spool.delete(second)
    assert spool.next_to_send(now=999.0) is None
    assert spool.next_retry_at() == 1000.0
    assert spool.next_to_send(now=1000.0) == first
    assert spool.count() == 1  # still counted as waiting


def test_set_aside_state_survives_a_restart_and_is_forgotten_once_sent(tmp_path):
    spool = Spool(tmp_path / "spool", max_bytes=10 * 1024 * 1024)
    spool.open()
    first = spool.put(payload(), {}).path
    second = spool.put(payload(), {}).path
    for _ in range(3):
        spool.note_failure(first)
    spool.set_aside(first, retry_at=2000.0)
    spool.note_failure(second)
    spool.close()
    again = Spool(tmp_path / "spool", max_bytes=10 * 1024 * 1024)
    again.open()
    assert again.is_aside(first) and again.failures(first) == 3
    assert again.failures(second) == 1 and not again.is_aside(second)
    assert again.next_to_send(now=0) == second
    again.delete(first)
    assert first.name not in json.loads((tmp_path / "spool" / "retries.json").read_text())
    again.close()


def test_an_unreadable_retries_file_only_loses_the_order(tmp_path, caplog):
    spool = Spool(tmp_path / "spool", max_bytes=10 * 1024 * 1024)
    spool.open()
    first = spool.put(payload(), {}).path
    spool.set_aside(first, retry_at=2000.0)
    spool.close()
    (tmp_path / "spool" / "retries.json").write_text("{not json")
    again = Spool(tmp_path / "spool", max_bytes=10 * 1024 * 1024)
    again.open()
    assert again.oldest() == first and not again.is_aside(first)
    assert "ignoring unreadable" in caplog.text
    again.close()


def test_rejected_keeps_only_the_newest_batches(tmp_path, caplog):
    spool = Spool(tmp_path / "spool", max_bytes=10 * 1024 * 1024, rejected_max_batches=3)
    spool.open()
    paths = [spool.put(payload(), {}).path for _ in range(5)]
    for path in paths:
        spool.reject(path, status=400, answer='{"error": "x"}')
    kept = sorted(p.name for p in (tmp_path / "spool" / "rejected").glob("*.batch"))
    assert kept == [p.name for p in paths[2:]]
    answers = list((tmp_path / "spool" / "rejected").glob("*.answer.json"))
    assert len(answers) == 3
    assert spool.rejected_dropped == 2 and spool.rejected_count() == 3
    assert "rejected/ holds more than 3 batches" in caplog.text
    spool.close()


def test_rejected_is_bounded_in_bytes_but_keeps_the_batch_just_refused(tmp_path):
    spool = Spool(tmp_path / "spool", max_bytes=10 * 1024 * 1024, rejected_max_bytes=100)
    spool.open()
    first = spool.put(payload(50), {}).path
    second = spool.put(payload(50), {}).path
    spool.reject(first, status=400, answer="x")
    spool.reject(second, status=400, answer="x")
    (kept,) = (tmp_path / "spool" / "rejected").glob("*.batch")
    assert kept.name == second.name
    assert spool.rejected_dropped == 1
    spool.close()


def test_an_oversized_rejected_folder_left_by_an_older_agent_is_trimmed_at_start(tmp_path):
    spool = Spool(tmp_path / "spool", max_bytes=10 * 1024 * 1024)
    spool.open()
    for _ in range(4):
        spool.reject(spool.put(payload(), {}).path, status=400, answer="x")
    spool.close()
    smaller = Spool(tmp_path / "spool", max_bytes=10 * 1024 * 1024, rejected_max_batches=1)
    smaller.open()
    assert smaller.rejected_count() == 1 and smaller.rejected_dropped == 3
    smaller.close()


def test_the_state_inside_a_batch_is_compressed_and_older_plain_states_still_read(tmp_path):
    from collectors.agent.spool import encode_batch, read_meta

    spool = Spool(tmp_path / "spool", max_bytes=10 * 1024 * 1024)
    spool.open()
    state = {"sim": {"last_end": {f"GPU-{i}": 1_795_000_000.0 + i for i in range(8)}}}
    path = spool.put(payload(), state).path
    meta = read_meta(path)
    assert "state" not in meta and len(meta["state_gz"]) < len(json.dumps(state))
    # A batch spooled by an agent from before the compression, newer than state.json:
    older = {"seq": 7, "batch_id": "b7", "samples": 2, "state": {"sim": {"n": 7}}}
    (spool.batches_dir / "000000000007-b7.batch").write_bytes(encode_batch(older, payload()))
    spool.close()
    again = Spool(tmp_path / "spool", max_bytes=10 * 1024 * 1024)
    again.open()
    assert again.load_state() == {"sim": {"n": 7}}
    again.delete(again.batches_dir / "000000000007-b7.batch")
    assert again.load_state() == state
    again.close()
