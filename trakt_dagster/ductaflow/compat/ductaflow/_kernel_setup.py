"""Run once inside every flow kernel before the first cell (never imported by the Dagster process).

Inside a kernel nothing configures `logging`, so a flow's `logger.info(...)` would be dropped and
`logger.warning(...)` printed without a timestamp. This file makes records of INFO and above that no
handler of the flow's own takes go to the cell's stderr in the execution log's format
(`2026-01-01 10:00:00 - <logger> - <LEVEL> - <message>`), where the runner picks them up with their level.
A flow that configures logging itself (`logging.basicConfig(...)`, its own handlers) keeps full control:
the fallback is `logging.lastResort`, which Python uses only when no other handler is found.

It runs in a namespace of its own, so nothing of it is visible to the flow.
"""

import logging
import sys

LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
QUIET_LOGGERS = ("papermill", "nbclient", "traitlets", "asyncio", "jupyter_client", "nbconvert")


class KernelLogHandler(logging.Handler):
    """Writes records to the current `sys.stderr` (the kernel's stream of the running cell)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - logging must never break the flow
            self.handleError(record)


def install() -> None:
    handler = KernelLogHandler(logging.INFO)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, DATE_FORMAT))
    logging.lastResort = handler
    root = logging.getLogger()
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    for name in QUIET_LOGGERS:  # the machinery of nested runs (a build running flows) stays quiet
        logging.getLogger(name).setLevel(logging.WARNING)


install()
