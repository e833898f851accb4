"""`python -m collectors.agent`: see collectors/agent/config.py for the options."""

import logging
import signal
import sys

import prometheus_client

from collectors.agent import AGENT_VERSION
from collectors.agent.config import AgentConfig, ConfigError, parse_config
from collectors.agent.metrics import AgentMetrics
from collectors.agent.push import Poster, plain_http_warning
from collectors.agent.runner import Agent
from collectors.agent.sources import create_source
from collectors.agent.spool import Spool, SpoolError

log = logging.getLogger("greenai.agent")


def build_agent(config: AgentConfig) -> tuple[Agent, Spool, AgentMetrics]:
    spool = Spool(config.spool_dir, max_bytes=config.spool_max_bytes)
    sources = [
        create_source(
            spec,
            hostname=config.hostname,
            interval_s=config.interval_s,
            push_every_s=config.push_every_s,
            http=config.http,
            prometheus_selector=config.prometheus_selector,
        )
        for spec in config.sources
    ]
    metrics = AgentMetrics()
    agent = Agent(
        config=config,
        sources=sources,
        spool=spool,
        poster=Poster(config.server, config.token),
        metrics=metrics,
    )
    return agent, spool, metrics


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s greenai-agent: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = parse_config(sys.argv[1:] if argv is None else argv)
    except ConfigError as exc:
        print(f"greenai-agent: error: {exc}", file=sys.stderr)
        print("Run `python -m collectors.agent --help` for the options.", file=sys.stderr)
        return 2
    # The *_created series only clutter a scrape of this small exporter.
    prometheus_client.disable_created_metrics()
    agent, spool, metrics = build_agent(config)
    try:
        spool.open()
    except SpoolError as exc:
        log.error("%s", exc)
        return 1
    if config.metrics_port:
        try:
            metrics.serve(config.metrics_port)
        except OSError as exc:
            log.error("cannot serve metrics on port %d: %s", config.metrics_port, exc)
            spool.close()
            return 1

    def on_signal(signum, _frame):
        log.info(
            "%s received: spooling the current batch, pushing the spool for up to %g s, stopping",
            signal.Signals(signum).name,
            config.stop_flush_s,
        )
        agent.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info(
        "greenai-agent %s: host %s, sources %s, read every %g s, one sample per %g s, pushing "
        "every %g s to %s, spool %s",
        AGENT_VERSION,
        config.hostname,
        ",".join(config.sources),
        config.interval_s,
        config.sample_s,
        config.push_every_s,
        config.server,
        config.spool_dir,
    )
    if warning := plain_http_warning(config.server):
        log.warning("%s", warning)
    try:
        return agent.run()
    finally:
        metrics.stop()
        spool.close()


if __name__ == "__main__":
    sys.exit(main())
