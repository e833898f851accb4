"""HTTP GET for the telemetry sources, with the authentication Prometheus' own clients offer:
a bearer token (inline or from a file, re-read on every request so a rotated Kubernetes service
account token is picked up), basic auth, a CA file, a client certificate and, for tests only,
skipping certificate verification. Redirects are not followed: they would carry the credentials
to wherever the redirect points.
"""

import base64
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from collectors.agent import AGENT_VERSION
from collectors.agent.sources import SourceError


@dataclass(frozen=True)
class HttpOptions:
    bearer_token: str = ""
    bearer_token_file: str = ""
    username: str = ""
    password: str = ""
    password_file: str = ""
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    insecure_skip_verify: bool = False
    timeout_s: float = 30.0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx status


def _secret(inline: str, path: str, what: str) -> str:
    if inline:
        return inline
    if not path:
        return ""
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise SourceError(f"cannot read the {what} file {path}: {exc.strerror}") from None


class HttpGetter:
    def __init__(self, options: HttpOptions | None = None):
        self.options = options or HttpOptions()
        self._opener = None

    def _build_opener(self):
        options = self.options
        handlers: list = [_NoRedirect()]
        try:
            context = ssl.create_default_context(cafile=options.ca_file or None)
            if options.cert_file:
                context.load_cert_chain(options.cert_file, options.key_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise SourceError(f"cannot load the TLS files: {exc}") from None
        if options.insecure_skip_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        handlers.append(urllib.request.HTTPSHandler(context=context))
        # No proxy from the environment: the telemetry endpoints are cluster-internal.
        handlers.append(urllib.request.ProxyHandler({}))
        return urllib.request.build_opener(*handlers)

    def headers(self) -> dict[str, str]:
        options = self.options
        headers = {"User-Agent": f"greenai-agent/{AGENT_VERSION}"}
        token = _secret(options.bearer_token, options.bearer_token_file, "bearer token")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif options.username:
            password = _secret(options.password, options.password_file, "password")
            credentials = f"{options.username}:{password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode()
        return headers

    def get(self, url: str, params: dict | None = None, accept: str = "*/*") -> bytes:
        """The body of a 200 answer; any other outcome is a SourceError naming the cause."""
        return self.timed_get(url, params, accept)[0]

    def timed_get(
        self, url: str, params: dict | None = None, accept: str = "*/*", clock=time.time
    ) -> tuple[bytes, float]:
        """(body, the time halfway through the exchange), not counting the local set-up."""
        if self._opener is None:
            self._opener = self._build_opener()
        if params:
            url = f"{url}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, headers={**self.headers(), "Accept": accept})
        try:
            started = clock()
            with self._opener.open(request, timeout=self.options.timeout_s) as response:
                body = response.read()
            return body, (started + clock()) / 2
        except urllib.error.HTTPError as exc:
            detail = exc.read(500).decode("utf-8", "replace").strip()
            hint = ""
            if exc.code in (401, 403):
                hint = " (check the bearer token or username/password options)"
            elif 300 <= exc.code < 400:
                hint = f" (redirects are not followed: use {exc.headers.get('Location')} instead)"
            raise SourceError(f"GET {url}: HTTP {exc.code}{hint} {detail[:300]}") from None
        except urllib.error.URLError as exc:
            raise SourceError(f"GET {url}: {exc.reason}") from None
        except (OSError, ValueError) as exc:
            raise SourceError(f"GET {url}: {exc}") from None
