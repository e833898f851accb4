"""Command line and environment of the agent (docs/agent.md, "Options").

Every option can also come from GREENAI_<OPTION> (GREENAI_SERVER, GREENAI_TOKEN, GREENAI_SOURCE
(comma-separated), ...); the command line wins. A bad value is a ConfigError naming the option;
the program prints it and exits with status 2.
"""

import argparse
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from collectors.agent import AGENT_VERSION
from collectors.agent.sources import parse_source_spec
from collectors.agent.sources.httpget import HttpOptions

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class AgentConfig:
    server: str
    token: str
    sources: tuple[str, ...]
    interval_s: float
    sample_s: float
    push_every_s: float
    spool_dir: Path
    metrics_port: int
    hostname: str
    once: bool
    spool_max_mb: float
    # On SIGTERM/SIGINT, how long the agent tries to push what is spooled before it exits.
    stop_flush_s: float = 10.0
    # Authentication and TLS of the prometheus: and dcgm: sources.
    http: HttpOptions = field(default_factory=HttpOptions)
    prometheus_selector: str = ""

    @property
    def spool_max_bytes(self) -> int:
        return int(self.spool_max_mb * 1024 * 1024)


def default_spool_dir(environ) -> str:
    if os.geteuid() == 0:
        return "/var/lib/greenai-agent/spool"
    state_home = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(state_home) / "greenai-agent" / "spool")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m collectors.agent",
        description="Measure GPU and CPU energy and push it to a GreenAI server.",
        epilog="Every option may also be set as GREENAI_<OPTION>, e.g. GREENAI_TOKEN.",
    )
    parser.add_argument(
        "--server",
        metavar="URL",
        help="base URL of the GreenAI server, e.g. https://greenai.example.org",
    )
    parser.add_argument(
        "--token",
        metavar="TOKEN",
        help="collector token from `manage.py createcollector NAME` (`ps` shows it: prefer "
        "GREENAI_TOKEN or --token-file)",
    )
    parser.add_argument(
        "--token-file", metavar="FILE", help="read the collector token from this file instead"
    )
    parser.add_argument(
        "--source",
        action="append",
        metavar="SPEC",
        help="nvml (default), rapl, sim:N, replay:PATH, prometheus:URL or dcgm:URL; may be "
        "given several times",
    )
    parser.add_argument(
        "--interval", metavar="SECONDS", help="seconds between reads of the devices (default 1)"
    )
    parser.add_argument(
        "--sample-seconds",
        metavar="N",
        help="one sample per device per N seconds is sent (default 10)",
    )
    parser.add_argument(
        "--push-every", metavar="SECONDS", help="seconds between batches (default 10)"
    )
    parser.add_argument("--spool-dir", metavar="DIR", help="durable queue of unsent batches")
    parser.add_argument(
        "--spool-max-mb", metavar="MIB", help="spool size bound in MiB (default 100)"
    )
    parser.add_argument(
        "--stop-flush-seconds",
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, try this long to push what is spooled before exiting; the rest "
        "stays spooled for the next start (default 10, 0 = spool only; keep it well below the "
        "stop grace period: 30 s in Kubernetes, 90 s in systemd)",
    )
    parser.add_argument(
        "--metrics-port", metavar="PORT", help="Prometheus exporter port; 0 = off (default)"
    )
    parser.add_argument(
        "--hostname", metavar="NAME", help="host the samples belong to (default: this machine)"
    )
    parser.add_argument(
        "--once",
        action="store_const",
        const="1",
        help="take one batch, push it (and anything spooled), exit",
    )
    telemetry = parser.add_argument_group(
        "prometheus: and dcgm: sources", "authentication and TLS, as Prometheus' clients offer"
    )
    telemetry.add_argument("--prometheus-bearer-token", metavar="TOKEN", help="bearer token")
    telemetry.add_argument(
        "--prometheus-bearer-token-file",
        metavar="FILE",
        help="file holding the bearer token, read on every request (rotated tokens)",
    )
    telemetry.add_argument("--prometheus-username", metavar="NAME", help="basic auth user")
    telemetry.add_argument("--prometheus-password", metavar="PASSWORD", help="basic auth password")
    telemetry.add_argument(
        "--prometheus-password-file", metavar="FILE", help="file holding the basic auth password"
    )
    telemetry.add_argument("--prometheus-ca-file", metavar="FILE", help="CA certificates (PEM)")
    telemetry.add_argument(
        "--prometheus-cert-file", metavar="FILE", help="client certificate (PEM) for mutual TLS"
    )
    telemetry.add_argument(
        "--prometheus-key-file", metavar="FILE", help="private key of --prometheus-cert-file"
    )
    telemetry.add_argument(
        "--prometheus-insecure-skip-verify",
        action="store_const",
        const="1",
        help="do not verify the server certificate (tests only)",
    )
    telemetry.add_argument(
        "--prometheus-selector",
        metavar="MATCHERS",
        help='label matchers that narrow the GPUs read, e.g. cluster="prod",Hostname=~"gpu-.*"',
    )
    parser.add_argument("--version", action="version", version=f"greenai-agent {AGENT_VERSION}")
    return parser


def _number(option: str, raw: str, *, minimum: float, maximum: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"--{option} must be a number of seconds, not {raw!r}") from None
    if not minimum <= value <= maximum or value != value:
        raise ConfigError(f"--{option} must be between {minimum:g} and {maximum:g}, not {raw!r}")
    return value


def read_token(args: argparse.Namespace, environ) -> str:
    """The token from --token or --token-file, else GREENAI_TOKEN or GREENAI_TOKEN_FILE."""
    for token, path, names in (
        (args.token, args.token_file, "--token and --token-file"),
        (
            environ.get("GREENAI_TOKEN"),
            environ.get("GREENAI_TOKEN_FILE"),
            "GREENAI_TOKEN and GREENAI_TOKEN_FILE",
        ),
    ):
        token = (token or "").strip()
        path = (path or "").strip()
        if token and path:
            raise ConfigError(f"give one of {names}, not both")
        if token:
            return token
        if path:
            try:
                token = Path(path).expanduser().read_text().strip()
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise ConfigError(f"--token-file: cannot read {path!r}: {reason}") from None
            if not token:
                raise ConfigError(f"--token-file: {path!r} is empty")
            if any(char.isspace() or not char.isprintable() for char in token):
                raise ConfigError(f"--token-file: {path!r} must hold the token alone, on one line")
            return token
    raise ConfigError(
        "a token is required: --token-file FILE (or GREENAI_TOKEN_FILE), GREENAI_TOKEN or --token"
    )


def parse_config(argv: list[str], environ: dict[str, str] | None = None) -> AgentConfig:
    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)

    def pick(option: str, default: str | None = None) -> str | None:
        value = getattr(args, option.replace("-", "_"))
        if value is None:
            value = environ.get("GREENAI_" + option.upper().replace("-", "_"))
        return default if value is None else value

    server = (pick("server") or "").strip()
    if not server:
        raise ConfigError("--server (or GREENAI_SERVER) is required")
    parsed = urlparse(server)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"--server must be an http:// or https:// URL, not {server!r}")
    token = read_token(args, environ)

    if args.source:
        specs = [spec for value in args.source for spec in value.split(",")]
    else:
        specs = (environ.get("GREENAI_SOURCE") or "nvml").split(",")
    specs = [spec.strip() for spec in specs if spec.strip()]
    names, keys = [], []
    for spec in specs:
        try:
            name, argument = parse_source_spec(spec)
        except ValueError as exc:
            raise ConfigError(f"--source: {exc}") from None
        names.append(name)
        # Several Prometheus servers or exporters may be read at once, each once.
        keys.append(f"{name}:{argument.rstrip('/')}" if name in ("prometheus", "dcgm") else name)
    if len(set(keys)) != len(keys):
        raise ConfigError(f"--source: each source may be given once (got {', '.join(specs)})")
    if "replay" in names and len(names) > 1:
        raise ConfigError("--source: replay:PATH cannot be combined with other sources")
    for spec in specs:
        name, argument = parse_source_spec(spec)
        if name == "replay" and not Path(argument).is_file():
            raise ConfigError(f"--source: replay file {argument!r} does not exist")

    interval = _number("interval", pick("interval", "1"), minimum=0.05, maximum=3600)
    # Reads are never split, so a sample shorter than the interval is simply one read.
    sample_s = _number("sample-seconds", pick("sample-seconds", "10"), minimum=0.05, maximum=3600)
    push_every = _number("push-every", pick("push-every", "10"), minimum=0.05, maximum=86400)
    if push_every < interval:
        raise ConfigError(
            f"--push-every ({push_every:g} s) must be at least --interval ({interval:g} s)"
        )
    spool_max_mb = _number("spool-max-mb", pick("spool-max-mb", "100"), minimum=0.01, maximum=1e6)
    stop_flush_s = _number(
        "stop-flush-seconds", pick("stop-flush-seconds", "10"), minimum=0, maximum=3600
    )

    raw_port = pick("metrics-port", "0")
    if not raw_port.strip().isdigit() or int(raw_port) > 65535:
        raise ConfigError(
            f"--metrics-port must be a port number 0-65535 (0 = off), not {raw_port!r}"
        )

    raw_once = (pick("once", "0") or "").strip().lower()
    if raw_once not in TRUE | FALSE:
        raise ConfigError(f"GREENAI_ONCE must be 1/0, true/false or yes/no, not {raw_once!r}")

    hostname = (pick("hostname") or socket.gethostname()).strip()
    if not hostname or len(hostname) > 255:
        raise ConfigError("--hostname must be 1 to 255 characters")

    http, selector = _http_options(pick)

    return AgentConfig(
        server=server.rstrip("/"),
        token=token,
        sources=tuple(specs),
        interval_s=interval,
        sample_s=sample_s,
        push_every_s=push_every,
        spool_dir=Path(pick("spool-dir") or default_spool_dir(environ)).expanduser(),
        metrics_port=int(raw_port),
        hostname=hostname,
        once=raw_once in TRUE,
        spool_max_mb=spool_max_mb,
        stop_flush_s=stop_flush_s,
        http=http,
        prometheus_selector=selector,
    )


def _http_options(pick) -> tuple[HttpOptions, str]:
    def text(option: str) -> str:
        return (pick(option) or "").strip()

    def existing_file(option: str) -> str:
        path = text(option)
        if path and not Path(path).expanduser().is_file():
            raise ConfigError(f"--{option}: no such file {path!r}")
        return str(Path(path).expanduser()) if path else ""

    options = HttpOptions(
        bearer_token=text("prometheus-bearer-token"),
        bearer_token_file=existing_file("prometheus-bearer-token-file"),
        username=text("prometheus-username"),
        password=pick("prometheus-password") or "",
        password_file=existing_file("prometheus-password-file"),
        ca_file=existing_file("prometheus-ca-file"),
        cert_file=existing_file("prometheus-cert-file"),
        key_file=existing_file("prometheus-key-file"),
        insecure_skip_verify=_flag(pick, "prometheus-insecure-skip-verify"),
    )
    if options.bearer_token and options.bearer_token_file:
        raise ConfigError(
            "give --prometheus-bearer-token or --prometheus-bearer-token-file, not both"
        )
    if (options.bearer_token or options.bearer_token_file) and options.username:
        raise ConfigError("give a bearer token or a username and password, not both")
    if options.password and options.password_file:
        raise ConfigError("give --prometheus-password or --prometheus-password-file, not both")
    if (options.password or options.password_file) and not options.username:
        raise ConfigError("--prometheus-password needs --prometheus-username")
    if options.key_file and not options.cert_file:
        raise ConfigError("--prometheus-key-file needs --prometheus-cert-file")
    selector = text("prometheus-selector")
    if selector.startswith("{") and selector.endswith("}"):
        selector = selector[1:-1].strip()
    if any(char in selector for char in "{}"):
        raise ConfigError(
            f'--prometheus-selector takes label matchers like a="b", not {selector!r}'
        )
    return options, selector


def _flag(pick, option: str) -> bool:
    raw = (pick(option, "0") or "").strip().lower()
    if raw not in TRUE | FALSE:
        env = "GREENAI_" + option.upper().replace("-", "_")
        raise ConfigError(f"{env} must be 1/0, true/false or yes/no, not {raw!r}")
    return raw in TRUE
