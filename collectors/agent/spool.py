"""The durable queue of unsent batches: nothing measured is lost while the server is away.

Layout of the spool directory:
  batches/<seq>-<batch_id>.batch  one batch each, oldest (lowest seq) first
  rejected/<name>.batch + .answer.json  batches the server refused (4xx), with its answer;
                                   the newest REJECTED_MAX_BATCHES / REJECTED_MAX_BYTES are kept
  state.json                       the sources' state as of the newest spooled batch
  retries.json                     batches that failed with 5xx or timeouts: failures in a row,
                                   and for a batch set aside, when it is tried again
  lock                             held by the running agent (one agent per spool directory)

A batch file is a header line, a JSON meta line (seq, batch_id, sample count, the sources'
state, gzip-compressed and base64-encoded as "state_gz" because with the partial samples it can
outweigh the body) and the gzip-compressed request body, written to a temporary file, fsynced
and renamed, so a crash leaves either the whole batch or nothing. The sources' state travels
inside the batch file as well as in state.json: after a SIGKILL the newest of the two is used,
which is always the state that matches the last batch on disk, so a restart neither repeats nor
skips an interval.
"""

import base64
import binascii
import fcntl
import gzip
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("greenai.agent")

HEADER = b"GREENAI-SPOOL 1\n"
# rejected/ is for a person to inspect; bounded so that a server refusing everything (a clock
# far off, a revoked device) cannot fill the disk with it.
REJECTED_MAX_BATCHES = 100
REJECTED_MAX_BYTES = 20 * 1024 * 1024


class SpoolError(Exception):
    pass


@dataclass(frozen=True)
class SpooledBatch:
    path: Path
    seq: int
    batch_id: str
    samples: int
    size: int


def write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def encode_batch(meta: dict, payload: dict) -> bytes:
    body = gzip.compress(json.dumps(payload, separators=(",", ":")).encode(), compresslevel=6)
    return HEADER + json.dumps(meta, separators=(",", ":")).encode() + b"\n" + body


def decode_batch(data: bytes) -> tuple[dict, bytes]:
    """(meta, gzip body) of a batch file."""
    if not data.startswith(HEADER):
        raise SpoolError("not a spool batch file")
    meta_line, sep, body = data[len(HEADER) :].partition(b"\n")
    if not sep:
        raise SpoolError("truncated spool batch file")
    return json.loads(meta_line), body


def pack_state(state: dict) -> str:
    data = gzip.compress(json.dumps(state, separators=(",", ":")).encode(), compresslevel=6)
    return base64.b64encode(data).decode("ascii")


def unpack_state(meta: dict) -> dict:
    """The state a batch file carries ("state" as written by agents before "state_gz")."""
    if "state_gz" not in meta:
        return meta.get("state", {})
    try:
        return json.loads(gzip.decompress(base64.b64decode(meta["state_gz"])))
    except (binascii.Error, OSError, EOFError, ValueError, TypeError) as exc:
        log.warning("ignoring the unreadable state of spooled batch %s: %s", meta.get("seq"), exc)
        return {}


def read_meta(path: Path) -> dict:
    with open(path, "rb") as handle:
        header = handle.readline()
        if header != HEADER:
            raise SpoolError(f"{path.name} is not a spool batch file")
        return json.loads(handle.readline())


class Spool:
    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        rejected_max_batches: int = REJECTED_MAX_BATCHES,
        rejected_max_bytes: int = REJECTED_MAX_BYTES,
    ):
        self.directory = directory
        self.batches_dir = directory / "batches"
        self.rejected_dir = directory / "rejected"
        self.state_path = directory / "state.json"
        self.retries_path = directory / "retries.json"
        self.max_bytes = max_bytes
        self.rejected_max_batches = rejected_max_batches
        self.rejected_max_bytes = rejected_max_bytes
        self.dropped_batches = 0
        self.dropped_samples = 0
        self.rejected_dropped = 0
        # batch file name -> {"failures": n, "retry_at": epoch s (only for a batch set aside)}
        self._retries: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._lock_file = None
        self._sizes: dict[Path, int] = {}
        self._next_seq = 1

    def open(self) -> None:
        """Create the directories, take the lock and take stock of what an earlier run left."""
        try:
            self.batches_dir.mkdir(parents=True, exist_ok=True)
            self.rejected_dir.mkdir(exist_ok=True)
            self._lock_file = open(self.directory / "lock", "a+")  # noqa: SIM115
        except OSError as exc:
            raise SpoolError(f"cannot use spool directory {self.directory}: {exc}") from None
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SpoolError(
                f"another agent is running with spool directory {self.directory}; give each "
                "agent its own --spool-dir"
            ) from None
        for leftover in self.batches_dir.glob(".*.tmp"):
            leftover.unlink()  # a write interrupted by a crash: its batch never existed
        seqs = [0]
        for path in self.batches_dir.glob("*.batch"):
            self._sizes[path] = path.stat().st_size
            seqs.append(int(path.name.split("-", 1)[0]))
        saved = self._read_state_file()
        seqs.append(saved.get("seq", 0))
        self._next_seq = max(seqs) + 1
        self._retries = self._read_retries()
        self._bound_rejected(keep=None)

    def close(self) -> None:
        if self._lock_file:
            self._lock_file.close()
            self._lock_file = None

    # --- writing -----------------------------------------------------------------------------

    def put(self, payload: dict, state: dict) -> SpooledBatch:
        """Write one batch durably (and the sources' state with it) before anything sends it."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            meta = {
                "seq": seq,
                "batch_id": payload["batch_id"],
                "samples": len(payload["samples"]),
                "created": time.time(),
                "state_gz": pack_state(state),
            }
            path = self.batches_dir / f"{seq:012d}-{payload['batch_id']}.batch"
            data = encode_batch(meta, payload)
            write_atomically(path, data)
            self._sizes[path] = len(data)
            state_data = json.dumps({"seq": seq, "state": state}).encode()
            write_atomically(self.state_path, state_data)
            self._enforce_bound(keep=path)
            return SpooledBatch(path, seq, payload["batch_id"], meta["samples"], len(data))

    def _enforce_bound(self, keep: Path) -> None:
        # Drop the oldest whole batches; never the one just written, so a spool that is too
        # small for one batch still sends the newest data.
        while self.total_bytes() > self.max_bytes and len(self._sizes) > 1:
            oldest = min(self._sizes)
            if oldest == keep:
                break
            try:
                samples = read_meta(oldest).get("samples", 0)
            except (OSError, SpoolError, ValueError):
                samples = 0
            self._remove(oldest)
            self.dropped_batches += 1
            self.dropped_samples += samples
            log.warning(
                "spool over %.1f MB: dropped the oldest batch %s (%d samples); %d batches "
                "dropped so far",
                self.max_bytes / 1e6,
                oldest.name,
                samples,
                self.dropped_batches,
            )

    # --- reading and settling ----------------------------------------------------------------

    def pending(self) -> list[Path]:
        with self._lock:
            return sorted(self._sizes)

    def oldest(self) -> Path | None:
        """The oldest batch not set aside (names start with the sequence number: name order is
        age order)."""
        with self._lock:
            aside = self._aside_names()
            if not aside:
                return min(self._sizes) if self._sizes else None
            fresh = [path for path in self._sizes if path.name not in aside]
            return min(fresh) if fresh else None

    def next_to_send(self, now: float) -> Path | None:
        """The oldest batch not set aside; else the set-aside batch longest due by `now`."""
        path = self.oldest()
        if path is not None:
            return path
        with self._lock:
            due = [
                (entry["retry_at"], name)
                for name, entry in self._retries.items()
                if entry.get("retry_at", float("inf")) <= now
            ]
            return self.batches_dir / min(due)[1] if due else None

    def next_retry_at(self) -> float | None:
        """When the first set-aside batch is due, or None when none is set aside."""
        with self._lock:
            times = [entry["retry_at"] for entry in self._retries.values() if "retry_at" in entry]
            return min(times) if times else None

    def _aside_names(self) -> set[str]:
        return {name for name, entry in self._retries.items() if "retry_at" in entry}

    # --- batches that keep failing --------------------------------------------------------

    def _retry(self, path: Path) -> dict:
        return self._retries.get(path.name, {})

    def is_aside(self, path: Path) -> bool:
        return "retry_at" in self._retry(path)

    def failures(self, path: Path) -> int:
        return self._retry(path).get("failures", 0)

    def note_failure(self, path: Path) -> int:
        """Count one more failure of this batch in a row; returns the count."""
        with self._lock:
            if path not in self._sizes:
                return 0
            entry = self._retries.setdefault(path.name, {"failures": 0})
            entry["failures"] += 1
            self._write_retries()
            return entry["failures"]

    def set_aside(self, path: Path, retry_at: float) -> None:
        """Send newer batches before this one, and try it again at `retry_at`."""
        with self._lock:
            if path not in self._sizes:
                return
            self._retries.setdefault(path.name, {"failures": 0})["retry_at"] = retry_at
            self._write_retries()

    def aside_count(self) -> int:
        with self._lock:
            return len(self._aside_names())

    def _forget_retries(self, path: Path) -> None:
        if self._retries.pop(path.name, None) is not None:
            self._write_retries()

    def _write_retries(self) -> None:
        try:
            write_atomically(self.retries_path, json.dumps(self._retries).encode())
        except OSError as exc:
            # Only the order of sending depends on it; the batches themselves are safe.
            log.warning("cannot write %s: %s", self.retries_path, exc)

    def _read_retries(self) -> dict[str, dict]:
        try:
            saved = json.loads(self.retries_path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", self.retries_path, exc)
            return {}
        names = {path.name for path in self._sizes}
        retries = {}
        for name, entry in saved.items() if isinstance(saved, dict) else ():
            if name not in names or not isinstance(entry, dict):
                continue
            cleaned = {"failures": int(entry.get("failures", 0))}
            if isinstance(entry.get("retry_at"), int | float):
                cleaned["retry_at"] = float(entry["retry_at"])
            retries[name] = cleaned
        return retries

    def load(self, path: Path) -> tuple[dict, bytes]:
        return decode_batch(path.read_bytes())

    def delete(self, path: Path) -> None:
        with self._lock:
            self._remove(path)

    def reject(self, path: Path, *, status: int, answer: str) -> Path:
        """Move a refused batch to rejected/ with the server's answer; the next batch goes on."""
        with self._lock:
            target = self.rejected_dir / path.name
            try:
                os.replace(path, target)
            except FileNotFoundError:
                pass
            self._sizes.pop(path, None)
            self._forget_retries(path)
            record = {"status": status, "answer": answer, "rejected_at": time.time()}
            write_atomically(
                target.with_suffix(".answer.json"), json.dumps(record, indent=2).encode()
            )
            self._bound_rejected(keep=target)
            return target

    def _bound_rejected(self, keep: Path | None) -> None:
        # Oldest first by name (names start with the spool sequence number); the batch just
        # refused is always kept, so its answer can be read.
        entries = []
        for batch in self.rejected_dir.glob("*.batch"):
            answer = batch.with_suffix(".answer.json")
            try:
                size = batch.stat().st_size + (answer.stat().st_size if answer.exists() else 0)
            except FileNotFoundError:
                continue
            entries.append((batch.name, batch, answer, size))
        entries.sort()
        total = sum(entry[3] for entry in entries)
        count = len(entries)
        for _name, batch, answer, size in entries:
            if count <= self.rejected_max_batches and total <= self.rejected_max_bytes:
                break
            if batch == keep:
                continue
            for path in (batch, answer):
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
            count -= 1
            total -= size
            self.rejected_dropped += 1
            log.warning(
                "rejected/ holds more than %d batches or %.1f MB: deleted the oldest, %s",
                self.rejected_max_batches,
                self.rejected_max_bytes / 1e6,
                batch.name,
            )

    def rejected_count(self) -> int:
        return sum(1 for _ in self.rejected_dir.glob("*.batch"))

    def _remove(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        self._sizes.pop(path, None)
        self._forget_retries(path)

    def total_bytes(self) -> int:
        return sum(self._sizes.values())

    def count(self) -> int:
        return len(self._sizes)

    # --- the sources' state ------------------------------------------------------------------

    def _read_state_file(self) -> dict:
        try:
            return json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", self.state_path, exc)
            return {}

    def load_state(self) -> dict:
        """The sources' state matching the newest batch on disk (sent or not)."""
        best = self._read_state_file()
        for path in self.pending():
            try:
                meta = read_meta(path)
            except (OSError, SpoolError, ValueError):
                continue
            if meta.get("seq", 0) > best.get("seq", 0):
                best = {"seq": meta["seq"], "state": unpack_state(meta)}
        return best.get("state", {})
