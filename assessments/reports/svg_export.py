"""Plotly figures to SVG (vector) with kaleido, driving the system's Chromium.

kaleido 1.x renders in a Chromium it finds itself; we name the browser explicitly
(settings.CHROMIUM_PATH, Debian's /usr/bin/chromium) so nothing is ever downloaded, and turn off
MathJax, whose default is a CDN. choreographer starts Chromium with --no-sandbox unless asked
for a sandbox, which is what running as root in a container needs. One browser serves all the
figures of a report: starting Chromium costs about two seconds, a figure a fraction of that.
"""

import asyncio
import logging
import os
import threading

from django.conf import settings

# kaleido and choreographer narrate every browser step at INFO; a report needs only problems.
for _name in ("kaleido", "choreographer"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class ChartRenderingError(RuntimeError):
    """The charts could not be drawn; the message says what to fix."""


def figures_to_svg(figures: list, *, width: int = 700, height: int = 360) -> list[str]:
    """SVG markup for each figure, in order, from one Chromium session.

    A figure whose layout sets a height keeps it (bar charts grow with their rows)."""
    if not figures:
        return []
    browser_path = settings.CHROMIUM_PATH
    if not (os.path.isfile(browser_path) and os.access(browser_path, os.X_OK)):
        raise ChartRenderingError(
            f"No Chromium at CHROMIUM_PATH={browser_path!r}: the report's charts need it. "
            "Install it with scripts/install-system-packages.sh or set CHROMIUM_PATH."
        )
    jobs = [
        (figure, {"format": "svg", "width": width, "height": _height(figure) or height})
        for figure in figures
    ]
    try:
        return _run_async(_render_all(jobs, browser_path))
    except ChartRenderingError:
        raise
    except Exception as exc:  # kaleido/choreographer raise many kinds; name the cause plainly
        raise ChartRenderingError(
            f"Chromium at {browser_path!r} could not render the report's charts: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _height(figure) -> int | None:
    layout = getattr(figure, "layout", None)
    return getattr(layout, "height", None) if layout is not None else None


async def _render_all(jobs: list, browser_path: str) -> list[str]:
    from kaleido import Kaleido  # imported here: it pulls in the browser machinery

    timeout = settings.REPORT_CHART_TIMEOUT_SECONDS
    results = []
    # One tab, figures in turn: a second tab costs more to open than it saves (measured with
    # a report's 11 figures).
    async with Kaleido(path=browser_path, mathjax=False, timeout=timeout) as kaleido:
        for figure, opts in jobs:
            svg = await kaleido.calc_fig(figure, opts=opts)
            results.append(svg.decode() if isinstance(svg, bytes) else svg)
    return results


def _run_async(coroutine):
    """asyncio.run, also from a thread that already runs an event loop (ASGI, notebooks)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    outcome = {}

    def target():
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
