"""Lines for a Dagster run log, written in batches.

Every Dagster log call is one event stored in the instance's event log (a database write, about as costly
as an asset materialization), so a pipeline-granularity run whose tasks each log a start, a few tool lines
and an end would spend more on its log than on its materializations. `RunLogBatcher` gathers debug and info
lines and writes them as one entry per level (lines in order, joined by newlines) at most every
`interval` seconds, when `max_lines` gathered, and whenever it is flushed (the bridge flushes at the end of
the run). Warnings and errors are written at once, each its own entry, after the lines gathered before them.

Example:
    >>> written = []
    >>> log = RunLogBatcher(lambda level, text: written.append((level, text)), interval=60)
    >>> log.line("info", "[a] started"); log.line("debug", "[a] event x"); log.line("info", "[a] succeeded")
    >>> written
    []
    >>> log.line("warning", "[b] skipped")
    >>> written
    [('info', '[a] started\\n[a] succeeded'), ('debug', '[a] event x'), ('warning', '[b] skipped')]
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

FLUSH_INTERVAL_S = 0.5
"""The longest a gathered line waits before it is written to the run log."""
MAX_LINES = 500
"""Lines of one batch (across levels) at most; a full batch is written at once."""
MAX_CHARS = 200_000
"""Characters of one batch at most (Dagster's UI shows a long entry folded)."""
IMMEDIATE_LEVELS = frozenset({"warning", "error", "critical"})


class RunLogBatcher:
    """Gathers run-log lines and writes them through `write(level, text)` in batches (thread-safe)."""

    def __init__(
        self,
        write: Callable[[str, str], None],
        *,
        interval: float = FLUSH_INTERVAL_S,
        max_lines: int = MAX_LINES,
        max_chars: int = MAX_CHARS,
    ) -> None:
        self._write = write
        self.interval = interval
        self.max_lines = max_lines
        self.max_chars = max_chars
        self._lines: dict[str, list[str]] = {}
        self._count = 0
        self._chars = 0
        self._since: float | None = None
        self._lock = threading.RLock()

    def line(self, level: str, text: str) -> None:
        """Add one line at `level` (debug, info, warning, error, critical)."""
        with self._lock:
            if level in IMMEDIATE_LEVELS:
                self.flush()
                self._write(level, text)
                return
            if self._since is None:
                self._since = time.monotonic()
            self._lines.setdefault(level, []).append(text)
            self._count += 1
            self._chars += len(text)
            if self._count >= self.max_lines or self._chars >= self.max_chars:
                self.flush()

    def due(self) -> float | None:
        """Seconds until the gathered lines are due (0: now); None when none are waiting."""
        since = self._since
        if since is None:
            return None
        return max(0.0, since + self.interval - time.monotonic())

    def flush_if_due(self) -> float | None:
        """Write the gathered lines if they are due; returns `due()` afterwards."""
        if self.due() == 0.0:
            self.flush()
        return self.due()

    def flush(self) -> None:
        """Write every gathered line now: one entry per level, levels in the order they first came."""
        with self._lock:
            batches, self._lines = self._lines, {}
            self._count = self._chars = 0
            self._since = None
            for level, lines in batches.items():
                self._write(level, "\n".join(lines))
