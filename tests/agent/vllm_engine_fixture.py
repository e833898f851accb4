"""A stand-in for a vLLM engine's /metrics page in the agent's tests: the request and token
counters in vLLM's exposition form (HELP/TYPE lines, `vllm:` names, model_name and
finished_reason labels), growing at a known rate.

Each counter is computed at the moment of the request from the time since the engine started,
so the increase between two scrapes is known. `restart()` starts every counter from zero again,
as a restarted engine does.
"""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# finished_reason -> share of the requests (requests are counted per reason).
REASONS = (("stop", 0.75), ("length", 0.25))


class VllmEngineFixture:
    def __init__(
        self,
        *,
        model_name: str,
        requests_per_s: float,
        prompt_tokens_per_request: int,
        output_tokens_per_request: int,
        clock=time.time,
    ):
        self.model_name = model_name
        self.requests_per_s = requests_per_s
        self.prompt_tokens = prompt_tokens_per_request
        self.output_tokens = output_tokens_per_request
        self.clock = clock
        self.lock = threading.Lock()
        self.started = clock()
        self.httpd = None
        self.thread = None

    def restart(self) -> None:
        with self.lock:
            self.started = self.clock()

    def counters(self, now: float) -> dict[str, float]:
        seconds = max(0.0, now - self.started)
        requests = {reason: int(self.requests_per_s * share * seconds) for reason, share in REASONS}
        done = sum(requests.values())
        return {
            **{f"requests:{reason}": float(n) for reason, n in requests.items()},
            "prompt": float(done * self.prompt_tokens),
            "generation": float(done * self.output_tokens),
        }

    def render(self) -> str:
        with self.lock:
            values = self.counters(self.clock())
        model = f'model_name="{self.model_name}"'
        lines = [
            "# HELP vllm:num_requests_running Number of requests currently running on GPU.",
            "# TYPE vllm:num_requests_running gauge",
            f"vllm:num_requests_running{{{model}}} 3.0",
            "# HELP vllm:request_success_total Count of successfully processed requests.",
            "# TYPE vllm:request_success_total counter",
        ]
        for reason, _ in REASONS:
            lines.append(
                f'vllm:request_success_total{{finished_reason="{reason}",{model}}} '
                f"{values[f'requests:{reason}']}"
            )
        lines += [
            "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.",
            "# TYPE vllm:prompt_tokens_total counter",
            f"vllm:prompt_tokens_total{{{model}}} {values['prompt']}",
            "# HELP vllm:generation_tokens_total Number of generation tokens processed.",
            "# TYPE vllm:generation_tokens_total counter",
            f"vllm:generation_tokens_total{{{model}}} {values['generation']}",
        ]
        return "\n".join(lines) + "\n"

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def __enter__(self):
        fixture = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                if self.path != "/metrics":
                    self.send_error(404)
                    return
                data = fixture.render().encode()
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
