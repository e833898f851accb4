"""The agent's own Prometheus exporter (--metrics-port), on a registry of its own."""

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

PREFIX = "greenai_agent"


class AgentMetrics:
    def __init__(self):
        self.registry = registry = CollectorRegistry(auto_describe=True)
        device = ["device", "kind", "index"]
        self.power_w = Gauge(
            f"{PREFIX}_device_power_watts",
            "Mean power of the device over its last sampling interval, in watts.",
            device,
            registry=registry,
        )
        self.energy_j = Counter(
            f"{PREFIX}_device_energy_joules",
            "Energy measured on the device since the agent started, in joules.",
            device,
            registry=registry,
        )
        self.samples_taken = Counter(
            f"{PREFIX}_samples_taken", "Samples read from the sources.", registry=registry
        )
        self.samples_sent = Counter(
            f"{PREFIX}_samples_sent",
            "Samples in batches the server answered with 2xx.",
            registry=registry,
        )
        self.samples_dropped = Counter(
            f"{PREFIX}_samples_dropped",
            "Samples lost, by reason: spool_full (oldest batches dropped), rejected (4xx), "
            "invalid (replay lines that are not samples).",
            ["reason"],
            registry=registry,
        )
        self.energy_dropped_j = Counter(
            f"{PREFIX}_gap_energy_dropped_joules",
            "Energy of restart gaps longer than the back-fill bound (7 days), in joules.",
            registry=registry,
        )
        self.counter_resets = Counter(
            f"{PREFIX}_energy_counter_resets",
            "Times a GPU energy counter went down (driver reload).",
            registry=registry,
        )
        self.spool_batches = Gauge(
            f"{PREFIX}_spool_batches", "Batches waiting in the spool.", registry=registry
        )
        self.spool_bytes = Gauge(
            f"{PREFIX}_spool_bytes",
            "Size of the batches waiting in the spool, in bytes.",
            registry=registry,
        )
        self.push_failures = Counter(
            f"{PREFIX}_push_failures",
            "Failed pushes by cause: network, timeout, server_error, rate_limited, auth, "
            "not_found, redirect, bad_answer, rejected, agent_error.",
            ["cause"],
            registry=registry,
        )
        self.spool_set_aside = Gauge(
            f"{PREFIX}_spool_set_aside_batches",
            "Spooled batches set aside after repeated 5xx or timeouts, retried later.",
            registry=registry,
        )
        self.rejected_batches = Gauge(
            f"{PREFIX}_rejected_batches",
            "Batches the server refused that are kept in the spool's rejected/ folder.",
            registry=registry,
        )
        self.rejected_deleted = Counter(
            f"{PREFIX}_rejected_deleted",
            "Refused batches deleted from rejected/ to keep it within its bound, oldest first.",
            registry=registry,
        )
        self.source_last_success = Gauge(
            f"{PREFIX}_source_last_success_timestamp_seconds",
            "Unix time of each source's last successful read.",
            ["source"],
            registry=registry,
        )
        self.source_read_duration = Gauge(
            f"{PREFIX}_source_read_duration_seconds",
            "How long each source's last read took, in seconds.",
            ["source"],
            registry=registry,
        )
        self.source_errors = Counter(
            f"{PREFIX}_source_errors", "Failed reads by source.", ["source"], registry=registry
        )
        self._server = None

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        self._server, _thread = start_http_server(port, addr=addr, registry=self.registry)

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
