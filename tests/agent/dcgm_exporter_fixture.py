"""A stand-in for NVIDIA dcgm-exporter in the agent's tests: the same /metrics page, byte for
byte in form (metric HELP/TYPE lines, label names and order, number formatting; compare
tests/agent/testdata/dcgm-exporter-metrics.txt), for GPUs that draw a known constant power.

Each GPU's DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION (mJ) is computed at the moment of the request,
so any interval between two scrapes holds exactly power x time. `reset(uuid)` restarts a
counter from zero, as a driver reload does.
"""

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DRIVER_VERSION = "550.90.07"

# (metric, type, help) in dcgm-exporter's default-counters order.
FAMILIES = (
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    (
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        "counter",
        "Total energy consumption since boot (in mJ).",
    ),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."),
)


@dataclass
class ExportedGpu:
    uuid: str
    index: int
    power_w: float
    model: str = "NVIDIA H100 80GB HBM3"
    pci_bus_id: str = ""
    # (namespace, pod, container) of each pod holding the GPU; several with time-slicing.
    pods: tuple[tuple[str, str, str], ...] = ()
    util_pct: int = 0
    fb_used_mib: int = 0
    fb_total_mib: int = 81559
    energy_counter: bool = True
    counter_base_mj: int = 0
    counter_since: float = 0.0

    def counter_mj(self, now: float) -> int:
        return self.counter_base_mj + int(self.power_w * (now - self.counter_since) * 1000)


class DcgmExporterFixture:
    def __init__(self, gpus: list[ExportedGpu], *, hostname: str, clock=time.time):
        self.gpus = gpus
        self.hostname = hostname
        self.clock = clock
        self.lock = threading.Lock()
        self.scrapes = 0
        start = clock()
        for gpu in gpus:
            gpu.pci_bus_id = gpu.pci_bus_id or f"00000000:{0x18 + 0x10 * gpu.index:02X}:00.0"
            # A counter since boot: far from zero, like a GPU that has run for days.
            gpu.counter_base_mj = gpu.counter_base_mj or 5_551_899_580 + 1_000_000 * gpu.index
            gpu.counter_since = start
        self.httpd = None
        self.thread = None
        # An exporter behind an authenticating proxy: the Authorization header it requires.
        self.required_authorization: str | None = None
        self.redirect_to: str | None = None

    def reset(self, uuid: str) -> None:
        with self.lock:
            gpu = next(gpu for gpu in self.gpus if gpu.uuid == uuid)
            gpu.counter_base_mj, gpu.counter_since = 0, self.clock()

    def _labels(self, gpu: ExportedGpu, pod: tuple[str, str, str] | None) -> str:
        labels = [
            ("gpu", str(gpu.index)),
            ("UUID", gpu.uuid),
            ("pci_bus_id", gpu.pci_bus_id),
            ("device", f"nvidia{gpu.index}"),
            ("modelName", gpu.model),
            ("Hostname", self.hostname),
            ("DCGM_FI_DRIVER_VERSION", DRIVER_VERSION),
        ]
        if pod:
            labels += [("container", pod[2]), ("namespace", pod[0]), ("pod", pod[1])]
        return ",".join(f'{name}="{value}"' for name, value in labels)

    def _value(self, metric: str, gpu: ExportedGpu, now: float) -> str | None:
        values = {
            "DCGM_FI_DEV_SM_CLOCK": "1980",
            "DCGM_FI_DEV_MEM_CLOCK": "2619",
            "DCGM_FI_DEV_GPU_TEMP": "41",
            "DCGM_FI_DEV_POWER_USAGE": f"{gpu.power_w:f}",
            "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": (
                str(gpu.counter_mj(now)) if gpu.energy_counter else None
            ),
            "DCGM_FI_DEV_GPU_UTIL": str(gpu.util_pct),
            "DCGM_FI_DEV_FB_FREE": str(gpu.fb_total_mib - gpu.fb_used_mib),
            "DCGM_FI_DEV_FB_USED": str(gpu.fb_used_mib),
        }
        return values[metric]

    def render(self) -> str:
        with self.lock:
            now = self.clock()
            lines = []
            for metric, kind, help_text in FAMILIES:
                lines.append(f"# HELP {metric} {help_text}")
                lines.append(f"# TYPE {metric} {kind}")
                for gpu in self.gpus:
                    value = self._value(metric, gpu, now)
                    if value is None:
                        continue
                    for pod in gpu.pods or (None,):
                        lines.append(f"{metric}{{{self._labels(gpu, pod)}}} {value}")
            return "\n".join(lines) + "\n"

    # --- HTTP ----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def __enter__(self):
        fixture = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                if self.path != "/metrics":
                    self.send_error(404)
                    return
                if fixture.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", fixture.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                wanted = fixture.required_authorization
                if wanted and self.headers.get("Authorization") != wanted:
                    self.send_error(401, "Unauthorized")
                    return
                data = fixture.render().encode()
                fixture.scrapes += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
