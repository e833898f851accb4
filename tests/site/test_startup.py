"""A web process freezes what it loaded (greenai_site.startup), so full collections skip it."""

import gc

from greenai_site.startup import freeze_loaded


def test_the_loaded_app_is_frozen_out_of_the_collectors_reach():
    gc.unfreeze()
    try:
        freeze_loaded()
        frozen = gc.get_freeze_count()
        import assessments.dashboards.views  # noqa: F401 (loaded through the URLconf)

        assert frozen > 10_000  # modules, classes and functions of Django and the app
    finally:
        gc.unfreeze()
