"""GreenAI collector agent: a standalone program that measures GPU and CPU energy and pushes it.

It never imports Django; it needs only the standard library, nvidia-ml-py (module `pynvml`, for
the nvml source) and prometheus-client. Run it with `python -m collectors.agent --help`.
"""

AGENT_VERSION = "0.1.0"
