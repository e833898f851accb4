"""A small ingest server for the agent's tests: answers scripted statuses, records requests.

It speaks just enough of the ingest API (docs/ingest.md): 202 {"accepted": N} for a new
batch_id, 200 duplicate for a known one; a script of (status, headers, body) answers, consumed
one per request, overrides that.
Every request, whatever its method or path, is listed in `hits` (a redirect followed lands there).
"""

import gzip
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict
    payload: dict | None
    raw: bytes
    at: float


@dataclass
class FakeIngest:
    script: list[tuple[int, dict, str]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    stored_batches: dict[str, dict] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    delay_s: float = 0.0  # a slow server, to catch the agent in the middle of a replay

    def answer(self, headers: dict, raw: bytes) -> tuple[int, dict, str]:
        body = gzip.decompress(raw) if headers.get("Content-Encoding") == "gzip" else raw
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if self.delay_s:
            time.sleep(self.delay_s)
        with self.lock:
            self.received.append(Received(headers, payload, raw, time.monotonic()))
            if self.script:
                return self.script.pop(0)
            if payload is None:
                return 400, {}, json.dumps({"error": "not JSON", "details": []})
            if payload["batch_id"] in self.stored_batches:
                return 200, {}, json.dumps({"accepted": 0, "duplicate": True})
            self.stored_batches[payload["batch_id"]] = payload
            return 202, {}, json.dumps({"accepted": len(payload["samples"]), "duplicate": False})

    @property
    def stored_samples(self) -> list[dict]:
        return [sample for batch in self.stored_batches.values() for sample in batch["samples"]]


class FakeServer:
    def __init__(self, port: int = 0):
        self.ingest = FakeIngest()
        self.hits: list[tuple[str, str]] = []
        ingest, hits = self.ingest, self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                hits.append(("GET", self.path))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):  # noqa: N802
                hits.append(("POST", self.path))
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/api/v1/ingest":
                    status, headers, text = 404, {}, "not found"
                else:
                    status, headers, text = ingest.answer(dict(self.headers), raw)
                data = text.encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the agent gave up waiting (a timeout test)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
