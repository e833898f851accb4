"""What a web process does once the app is loaded (greenai_site.wsgi)."""

import gc


def freeze_loaded() -> None:
    """Import every view (through the URLconf), then move every object loaded so far out of the
    garbage collector's reach (gc.freeze). Modules, classes and settings live as long as the
    process; without this, each full collection scans them all again, a pause of tens of
    milliseconds in whichever request triggers it (benchmarks/RESULTS.md, "Ranges read per
    host and day")."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (loading the URLconf imports the views)
    gc.collect()
    gc.freeze()
