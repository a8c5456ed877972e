"""Make `from flowrun import Pipeline` work in the pipeline modules trakt-dagster loads.

flowrun-dag 1.0.0 has no `Pipeline` (spec §4): README-style modules fail with `ImportError`. Unless the
installed flowrun has its own `Pipeline` (then the real one wins), `install()` makes `flowrun.Pipeline`
trakt-dagster's compatible implementation in this process, imported when a module first asks for it. Nothing
is written to site-packages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flowrun

NATIVE_PIPELINE: type | None = getattr(flowrun, "Pipeline", None)
"""flowrun's own `Pipeline` class, when the installed version has one (detected before `install()`)."""


def install() -> bool:
    """Provide `flowrun.Pipeline` if flowrun lacks it; returns True when the compatible one is in place.

    The class is imported on first use (`from flowrun import Pipeline`, `flowrun.Pipeline`), so a load of
    modules that use flowrun's own engines never imports it.

    Example:
        >>> install()
        True
        >>> import flowrun
        >>> flowrun.Pipeline.__module__
        'trakt_dagster.flowrun.pipeline'
    """
    if NATIVE_PIPELINE is not None:
        return False
    if "Pipeline" not in flowrun.__all__:
        flowrun.__all__.append("Pipeline")
    found = vars(flowrun).get("__getattr__")
    if "Pipeline" not in vars(flowrun) and not getattr(found, "provides_pipeline", False):
        flowrun.__getattr__ = _pipeline_on_first_use(found)  # type: ignore[attr-defined]
    return True


def _pipeline_on_first_use(previous: Callable[[str], Any] | None) -> Callable[[str], Any]:
    """A module `__getattr__` (PEP 562) for flowrun that imports the compatible `Pipeline` when asked for it,
    and leaves every other name to flowrun's own `__getattr__` (`previous`), if it has one."""

    def get(name: str) -> Any:
        if name == "Pipeline":
            from trakt_dagster.flowrun.pipeline import Pipeline

            flowrun.Pipeline = Pipeline  # type: ignore[attr-defined]
            return Pipeline
        if previous is not None:
            return previous(name)
        raise AttributeError(f"module 'flowrun' has no attribute {name!r}")

    get.provides_pipeline = True  # type: ignore[attr-defined]
    return get
