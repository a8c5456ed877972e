"""Make `from flowrun import Pipeline` work in the pipeline modules trakt-dagster loads.

flowrun-dag 1.0.0 has no `Pipeline` (spec §4): README-style modules fail with `ImportError`. Unless the
installed flowrun has its own `Pipeline` (then the real one wins), `install()` sets `flowrun.Pipeline`
to trakt-dagster's compatible implementation in this process. Nothing is written to site-packages.
"""

from __future__ import annotations

import flowrun

NATIVE_PIPELINE: type | None = getattr(flowrun, "Pipeline", None)
"""flowrun's own `Pipeline` class, when the installed version has one (detected before `install()`)."""


def install() -> bool:
    """Provide `flowrun.Pipeline` if flowrun lacks it; returns True when the compatible one is in place.

    Example:
        >>> install()
        True
        >>> import flowrun
        >>> flowrun.Pipeline.__module__
        'trakt_dagster.flowrun.pipeline'
    """
    if NATIVE_PIPELINE is not None:
        return False
    from trakt_dagster.flowrun.pipeline import Pipeline

    flowrun.Pipeline = Pipeline  # type: ignore[attr-defined]
    if "Pipeline" not in flowrun.__all__:
        flowrun.__all__.append("Pipeline")
    return True
