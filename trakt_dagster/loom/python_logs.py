"""Python log records from loom's threads reach the Dagster log for the whole `run` call, without gaps.

Dagster copies records of its managed Python loggers (`python_logs.managed_python_loggers` in the instance
config, and `dagster.get_dagster_logger()`) into the run's log only while the op's own code is executing: it
attaches its handler when the op's generator resumes and detaches it at every `yield`. loom runs in threads
of its own and keeps logging (your observers, loom's log observer) while the op yields materializations, so
records that fall into those gaps would be lost. For the duration of the call the adapter attaches a small
handler of its own to the same loggers that passes each record to Dagster's handler; Dagster marks a record it
has handled, so a record that Dagster's attached handler already took is not written twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any


class _ToDagster(logging.Handler):
    """Hands every record to Dagster's handler of the op (which skips records it already handled)."""

    def __init__(self, dagster_handler: logging.Handler) -> None:
        super().__init__()
        self.dagster_handler = dagster_handler

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        return bool(self.dagster_handler.handle(record))

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() does the work
        self.dagster_handler.handle(record)


def current_op_log() -> Any:
    """The running op's `context.log` (a `DagsterLogManager`), or None outside an op."""
    try:
        import dagster as dg

        return dg.OpExecutionContext.get().log
    except Exception:  # noqa: BLE001 - not inside an op (e.g. a direct call): nothing to bridge
        return None


def bridge_python_logs(log: Any) -> Callable[[], None]:
    """Attach the bridge to the managed loggers of `log` (an op's `context.log`); returns the detach function.

    Example:
        >>> detach = bridge_python_logs(None)  # outside an op: nothing attached
        >>> detach()
    """
    handler = getattr(log, "_dagster_handler", None)
    loggers = list(getattr(log, "_managed_loggers", None) or ())
    if not isinstance(handler, logging.Handler) or not loggers:
        return lambda: None
    bridge = _ToDagster(handler)
    for logger in loggers:
        logger.addHandler(bridge)

    def detach() -> None:
        for logger in loggers:
            logger.removeHandler(bridge)

    return detach
