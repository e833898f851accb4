"""The agent's loop: read the sources every interval, fold the reads into one sample per device
per --sample-seconds (aggregate.py), spool a batch every push period, and let a sender thread
drain the spool, oldest batch first.

On SIGTERM/SIGINT the batch being gathered, partial samples included, is spooled; then, for at
most --stop-flush-seconds (default 10, well inside Kubernetes' 30 s grace period and systemd's
90 s stop timeout), the sender tries to push what the spool holds, oldest first. It stops at the
first failure (the server is down or slow: no use spending the deadline on retries) and whatever
is left stays spooled for the next start. So a clean stop loses nothing, and a host stopped for
good (a drained or decommissioned node) has its last samples on the server when the server
answers. After a SIGKILL the sources and the partial samples resume from the state spooled with
the last batch.

A batch that fails SET_ASIDE_AFTER times in a row with a 5xx or a timeout is set aside: newer
batches go first, and it is tried again later with its own capped, jittered backoff, so one
batch the server chokes on never holds back the data measured after it.
"""

import dataclasses
import logging
import threading
import time
import uuid

from collectors.agent import AGENT_VERSION
from collectors.agent.aggregate import SampleAggregator
from collectors.agent.config import AgentConfig
from collectors.agent.metrics import AgentMetrics
from collectors.agent.model import Sample, WorkSample, build_payload
from collectors.agent.push import (
    BATCH_FAILURE_CAUSES,
    Backoff,
    Poster,
    PushOutcome,
    backoff_delay,
)
from collectors.agent.sources import Source, SourceError
from collectors.agent.spool import Spool, SpoolError

log = logging.getLogger("greenai.agent")

# A replay reads ahead only this many batches beyond what the server has taken.
REPLAY_MAX_PENDING = 4
# While the spool cannot be written, at most this many samples wait in memory (about a day
# of 8 GPUs at 1 Hz); older ones are dropped and counted.
MAX_UNSPOOLED_SAMPLES = 700_000
# The partial samples travel with the sources' state, under a key no source uses.
AGGREGATOR_STATE_KEY = "sample_aggregator"
SET_ASIDE_AFTER = 3
# A set-aside batch is tried again after 30 s, then 1, 2, 4 ... minutes, at most every 30 min.
ASIDE_RETRY_BASE_S = 30.0
ASIDE_RETRY_CAP_S = 1800.0
# Answers that say the agent is misconfigured, not that the batch or the server is at fault.
CONFIGURATION_CAUSES = {"auth", "not_found", "redirect", "bad_answer"}


class Sender:
    """Sends spooled batches oldest first and settles each by the server's answer."""

    def __init__(
        self,
        spool: Spool,
        poster: Poster,
        metrics: AgentMetrics,
        backoff: Backoff,
        *,
        set_aside_after: int = SET_ASIDE_AFTER,
        aside_base_s: float = ASIDE_RETRY_BASE_S,
        aside_cap_s: float = ASIDE_RETRY_CAP_S,
        clock=time.time,
    ):
        self.spool = spool
        self.poster = poster
        self.metrics = metrics
        self.backoff = backoff
        self.set_aside_after = set_aside_after
        self.aside_base_s = aside_base_s
        self.aside_cap_s = aside_cap_s
        self.clock = clock
        self._rejected_deleted = 0
        self.stop_event = threading.Event()
        self.wake_event = threading.Event()
        self.rejected = 0
        self._thread: threading.Thread | None = None
        self._flush_until = 0.0

    def send(self, path, *, timeout_s: float | None = None) -> PushOutcome:
        try:
            meta, body = self.spool.load(path)
        except FileNotFoundError:
            return PushOutcome("delete", "gone")
        except (OSError, SpoolError, ValueError) as exc:
            self.spool.reject(path, status=0, answer=f"unreadable spool file: {exc}")
            self.metrics.push_failures.labels("rejected").inc()
            return PushOutcome("reject", "unreadable", detail=str(exc))
        outcome = self.poster.post(body, timeout_s=timeout_s)
        samples = meta.get("samples", 0)
        if outcome.action == "delete":
            self.spool.delete(path)
            self.metrics.samples_sent.inc(samples)
            self.backoff.reset()
        elif outcome.action == "reject":
            target = self.spool.reject(path, status=outcome.status, answer=outcome.detail)
            self.rejected += 1
            self.metrics.push_failures.labels("rejected").inc()
            self.metrics.samples_dropped.labels("rejected").inc(samples)
            log.error(
                "server refused batch %s with %s: %s (kept in %s; the next batch goes on)",
                meta.get("batch_id"),
                outcome.status,
                outcome.detail[:300],
                target,
            )
        else:
            self.metrics.push_failures.labels(outcome.cause).inc()
            if outcome.cause in BATCH_FAILURE_CAUSES:
                outcome = self._batch_failed(path, meta, outcome)
        self.update_spool_metrics()
        return outcome

    def _batch_failed(self, path, meta: dict, outcome: PushOutcome) -> PushOutcome:
        """Count the failure; set the batch aside after SET_ASIDE_AFTER in a row."""
        failures = self.spool.note_failure(path)
        was_aside = self.spool.is_aside(path)
        if not was_aside and failures < self.set_aside_after:
            return outcome
        delay = backoff_delay(
            failures - self.set_aside_after, base_s=self.aside_base_s, cap_s=self.aside_cap_s
        )
        self.spool.set_aside(path, self.clock() + delay)
        log.warning(
            "batch %s failed %d times in a row (%s%s)%s; newer batches go first, it is tried "
            "again in %.0f s",
            meta.get("batch_id"),
            failures,
            outcome.cause,
            f" {outcome.status}" if outcome.status else "",
            " and stays set aside" if was_aside else ": set aside",
            delay,
        )
        return dataclasses.replace(outcome, action="aside")

    def update_spool_metrics(self) -> None:
        self.metrics.spool_batches.set(self.spool.count())
        self.metrics.spool_bytes.set(self.spool.total_bytes())
        self.metrics.spool_set_aside.set(self.spool.aside_count())
        self.metrics.rejected_batches.set(self.spool.rejected_count())
        deleted = self.spool.rejected_dropped - self._rejected_deleted
        if deleted > 0:
            self.metrics.rejected_deleted.inc(deleted)
            self._rejected_deleted = self.spool.rejected_dropped

    def log_failure(self, outcome: PushOutcome, delay: float | None = None) -> None:
        level = logging.ERROR if outcome.cause in CONFIGURATION_CAUSES else logging.WARNING
        log.log(
            level,
            "push failed (%s%s): %s; %d batches wait in the spool%s",
            outcome.cause,
            f" {outcome.status}" if outcome.status else "",
            (outcome.detail or "")[:400],
            self.spool.count(),
            f", retrying in {delay:.1f} s" if delay is not None else "",
        )

    def drain_once(self) -> bool:
        """One pass over the spool (for --once): stop at the first retryable failure.

        True when the spool is empty afterwards. A batch set aside now, or earlier and not due
        yet, stays for the next run; the newer batches still go.
        """
        tried = set()
        while (path := self.spool.next_to_send(self.clock())) is not None and path not in tried:
            tried.add(path)
            outcome = self.send(path)
            if outcome.action == "retry":
                self.log_failure(outcome)
                return False
        return self.spool.count() == 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sender", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self.wake_event.set()

    def stop(self, timeout_s: float = 5.0, *, flush_s: float = 0.0) -> None:
        """Stop the thread; with flush_s, it first tries to send the spool for up to flush_s.

        Returns after at most max(timeout_s, flush_s) seconds. A POST still in flight then is
        abandoned: its batch stays spooled and is resent (the server stores a batch id once).
        """
        self._flush_until = time.monotonic() + flush_s
        self.stop_event.set()
        self.wake_event.set()
        if self._thread:
            self._thread.join(max(timeout_s, flush_s))
            if self._thread.is_alive():
                log.warning(
                    "stopping with a push still in flight; %d batches stay in the spool",
                    self.spool.count(),
                )

    def flush(self, until: float) -> None:
        """Send what is spooled until the monotonic time `until`, stopping at the first failure.

        Batches set aside and not due yet stay: their own backoff says when to try them.
        """
        tried = set()
        while (remaining := until - time.monotonic()) > 0:
            path = self.spool.next_to_send(self.clock())
            if path is None or path in tried:
                break
            tried.add(path)
            try:
                outcome = self.send(path, timeout_s=remaining)
            except Exception as exc:
                log.exception("unexpected error while sending %s", path.name)
                self.metrics.push_failures.labels("agent_error").inc()
                outcome = PushOutcome("retry", "agent_error", detail=str(exc))
            if outcome.action == "retry":
                self.log_failure(outcome)
                break
        left = self.spool.count()
        if left:
            log.warning(
                "%d batches stay in %s; the next start sends them", left, self.spool.batches_dir
            )
        else:
            log.info("stopping with an empty spool: every batch was sent")

    def _run(self) -> None:
        self._loop()
        if self._flush_until > time.monotonic():
            self.flush(self._flush_until)

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            path = self.spool.next_to_send(self.clock())
            if path is None:
                self.wake_event.wait(1.0)
                self.wake_event.clear()
                continue
            try:
                outcome = self.send(path)
            except Exception as exc:  # never let the sender die while the agent keeps spooling
                log.exception("unexpected error while sending %s", path.name)
                self.metrics.push_failures.labels("agent_error").inc()
                outcome = PushOutcome("retry", "agent_error", detail=str(exc))
            if outcome.action in ("retry", "aside"):
                # After a set-aside too: the server just failed, so the next batch waits a bit.
                delay = self.backoff.next_delay(outcome.retry_after_s)
                if outcome.action == "retry":
                    self.log_failure(outcome, delay)
                self.stop_event.wait(delay)


class Agent:
    def __init__(
        self,
        *,
        config: AgentConfig,
        sources: list[Source],
        spool: Spool,
        poster: Poster,
        metrics: AgentMetrics,
        backoff: Backoff | None = None,
    ):
        self.config = config
        self.sources = sources
        self.spool = spool
        self.metrics = metrics
        self.sender = Sender(spool, poster, metrics, backoff or Backoff())
        self.aggregator = SampleAggregator(config.sample_s)
        self.stop_event = threading.Event()
        self.samples_taken = 0
        self._failing: set[str] = set()
        self._unspooled: list[Sample] = []
        # Serving work read and not spooled yet: it travels with the agent's own host's batch.
        self._work: list[WorkSample] = []
        self._reported: dict[tuple[str, str], float] = {}

    def stop(self) -> None:
        self.stop_event.set()

    # --- entry -------------------------------------------------------------------------------

    def run(self) -> int:
        state = self.spool.load_state()
        for source in self.sources:
            try:
                source.open(state.get(source.key))
            except SourceError as exc:
                log.error("source %s cannot start: %s", source.key, exc)
                return 1
        self.aggregator.restore(state.get(AGGREGATOR_STATE_KEY))
        self.sender.update_spool_metrics()
        try:
            if any(source.finite for source in self.sources):
                return self._run_replay()
            if self.config.once:
                return self._run_once()
            return self._run_live()
        finally:
            for source in self.sources:
                source.close()
            log.info("agent stopped: %d samples taken in this run", self.samples_taken)

    def _run_live(self) -> int:
        self.sender.start()
        interval, push_every = self.config.interval_s, self.config.push_every_s
        batch: list[Sample] = []
        next_tick = time.monotonic() + interval
        batch_started = time.monotonic()
        while not self.stop_event.wait(max(0.0, next_tick - time.monotonic())):
            now = time.monotonic()
            next_tick += interval
            if next_tick < now:  # suspended or overloaded: skip the missed ticks
                next_tick = now + interval
            batch.extend(self.aggregator.add(self._read_all()))
            batch.extend(self.aggregator.flush_due(time.time()))
            if now - batch_started >= push_every - 1e-3:
                self._spool(batch)
                batch, batch_started = [], now
        # SIGTERM/SIGINT: nothing gathered is lost, partial samples included; what the spool
        # holds is pushed now if the server answers within the stop deadline.
        self._spool(batch + self.aggregator.flush_all())
        self.sender.wake()
        self.sender.stop(flush_s=self.config.stop_flush_s)
        return 0

    def _run_once(self) -> int:
        self.stop_event.wait(self.config.interval_s)
        self._spool(self.aggregator.add(self._read_all()) + self.aggregator.flush_all())
        if not self.sender.drain_once():
            log.warning(
                "%d batches stay in %s; the next run sends them",
                self.spool.count(),
                self.spool.batches_dir,
            )
            return 1
        return 1 if self.sender.rejected else 0

    def _run_replay(self) -> int:
        (source,) = self.sources
        if not self.config.once:
            self.sender.start()
        while not self.stop_event.is_set():
            if self.config.once:
                if not self.sender.drain_once():
                    return 1
            elif self.spool.count() >= REPLAY_MAX_PENDING:
                self.stop_event.wait(0.05)
                continue
            if not source.exhausted:
                self._spool(self._read_all())
                continue
            if self.spool.count() == 0:
                break
            self.stop_event.wait(0.1)
        self.sender.stop()
        if self.stop_event.is_set():
            return 0
        invalid = getattr(source, "invalid_lines", [])
        for line, message in invalid[:20]:
            log.error("replay line %d skipped: %s", line, message)
        if invalid or self.sender.rejected:
            log.error(
                "replay finished with %d invalid lines and %d refused batches (see %s)",
                len(invalid),
                self.sender.rejected,
                self.spool.rejected_dir,
            )
            return 1
        log.info("replay complete: every sample sent and the spool is empty")
        return 0

    # --- reading and spooling -----------------------------------------------------------------

    def _read_all(self) -> list[Sample]:
        samples: list[Sample] = []
        for source in self.sources:
            started = time.monotonic()
            try:
                read = source.read()
            except Exception as exc:
                # A source that fails is retried next interval; its counters cover the gap.
                self.metrics.source_errors.labels(source.key).inc()
                if source.key not in self._failing:
                    expected = isinstance(exc, SourceError | OSError)
                    log.error(
                        "source %s failed to read: %s", source.key, exc, exc_info=not expected
                    )
                    self._failing.add(source.key)
                continue
            if source.key in self._failing:
                log.info("source %s reads again", source.key)
                self._failing.discard(source.key)
            self.metrics.source_read_duration.labels(source.key).set(time.monotonic() - started)
            self.metrics.source_last_success.labels(source.key).set(time.time())
            self._observe(source, read)
            samples.extend(read)
            self._work.extend(source.take_work())
        return samples

    def _observe(self, source: Source, samples: list[Sample]) -> None:
        self.samples_taken += len(samples)
        self.metrics.samples_taken.inc(len(samples))
        for sample in samples:
            labels = (sample.device.uuid, sample.device.kind, str(sample.device.index))
            if sample.energy_j is not None:
                self.metrics.energy_j.labels(*labels).inc(sample.energy_j)
            if sample.energy_j is not None and sample.duration_s > 0:
                self.metrics.power_w.labels(*labels).set(sample.energy_j / sample.duration_s)
        # Totals the sources keep themselves: add what grew since the last look.
        for attribute, counter in (
            ("counter_resets", self.metrics.counter_resets),
            ("dropped_energy_j", self.metrics.energy_dropped_j),
        ):
            value = getattr(source, attribute, 0)
            grown = value - self._reported.get((source.key, attribute), 0)
            if grown > 0:
                counter.inc(grown)
                self._reported[(source.key, attribute)] = value
        invalid = len(getattr(source, "invalid_lines", ()))
        grown = invalid - self._reported.get((source.key, "invalid"), 0)
        if grown > 0:
            self.metrics.samples_dropped.labels("invalid").inc(grown)
            self._reported[(source.key, "invalid")] = invalid

    def _spool(self, samples: list[Sample]) -> None:
        # Samples a full or failing disk kept out of the spool go with the next batch.
        samples = self._unspooled + samples
        self._unspooled = []
        if not samples and not self._work:
            return
        # One batch per host (telemetry sources read many); each batch's saved state covers
        # the hosts spooled so far, so a crash between two batches re-reads only the rest.
        groups = samples_by_host(samples, self.config.hostname)
        if self._work and (not groups or groups[0][0] != self.config.hostname):
            groups.insert(0, (self.config.hostname, []))  # work only: a batch of its own
        for position, (hostname, host_samples) in enumerate(groups):
            last = position == len(groups) - 1
            hosts = None if last else frozenset(name for name, _ in groups[: position + 1])
            work = self._work if hostname == self.config.hostname else []
            if not self._spool_batch(hostname, host_samples, hosts, work):
                self._keep_unspooled([s for _, group in groups[position:] for s in group])
                return
            if work:
                self._work = []
        for source in self.sources:
            source.spooled()

    def _spool_batch(
        self,
        hostname: str,
        samples: list[Sample],
        hosts: frozenset[str] | None,
        work: list[WorkSample] = (),
    ) -> bool:
        payload = build_payload(
            batch_id=str(uuid.uuid4()),
            hostname=hostname,
            agent_version=AGENT_VERSION,
            samples=samples,
            work=list(work),
        )
        state = {source.key: source.state_for_hosts(hosts) for source in self.sources}
        # A replay sends its recorded samples as they are; live reads are folded (aggregate.py).
        if not any(source.finite for source in self.sources):
            state[AGGREGATOR_STATE_KEY] = self.aggregator.state()
        before = self.spool.dropped_samples
        try:
            self.spool.put(payload, state)
        except OSError as exc:
            log.error(
                "cannot write the spool (%s): %d samples kept in memory until it works again",
                exc,
                len(samples),
            )
            return False
        if self.spool.dropped_samples > before:
            self.metrics.samples_dropped.labels("spool_full").inc(
                self.spool.dropped_samples - before
            )
        self.sender.update_spool_metrics()
        self.sender.wake()
        return True

    def _keep_unspooled(self, samples: list[Sample]) -> None:
        dropped = max(0, len(samples) - MAX_UNSPOOLED_SAMPLES)
        if dropped:
            self.metrics.samples_dropped.labels("spool_full").inc(dropped)
        self._unspooled = samples[dropped:]


def samples_by_host(samples: list[Sample], own_hostname: str) -> list[tuple[str, list[Sample]]]:
    """Samples grouped by the host their device belongs to: this machine's first, then by name."""
    groups: dict[str, list[Sample]] = {}
    for sample in samples:
        groups.setdefault(sample.device.host or own_hostname, []).append(sample)
    return sorted(groups.items(), key=lambda item: (item[0] != own_hostname, item[0]))
