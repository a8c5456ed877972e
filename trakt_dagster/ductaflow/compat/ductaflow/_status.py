"""Red/amber/green from execution logs: the marker scan of `*_execution_output.txt` files.

A line counts by its *message*: when it starts with the log prefix `YYYY-MM-DD HH:MM:SS - <name> - <LEVEL> - `
the prefix is removed first, so timestamped lines are judged by what they say. Markers are looked for in the
first 15 characters of the message, case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

WARNING_MARKERS = ("⚠️", "warning:")
ERROR_MARKERS = ("❌", "error:", "exception:", "failed:")
SCAN_WIDTH = 15
LOG_LINE = re.compile(
    r"^(?P<stamp>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) - (?P<name>.+?) - "
    r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) - (?P<message>.*)$"
)
OUTPUT_GLOB = "*_execution_output.txt"


def message_part(line: str) -> str:
    """The message of a log line (the line without its log prefix, when it has one).

    Example:
        >>> message_part("2026-01-01 10:00:00 - flow:x - WARNING - ⚠️ y")
        '⚠️ y'
        >>> message_part("  ⚠️ indented")
        '  ⚠️ indented'
    """
    found = LOG_LINE.match(line)
    return found.group("message") if found else line


def classify_line(line: str) -> str | None:
    """`'error'`, `'warning'` or None for one line.

    Example:
        >>> classify_line("Warning: low"), classify_line("Failed: x"), classify_line("Processing data with warning: x")
        ('warning', 'error', None)
    """
    head = message_part(line.rstrip("\r\n"))[:SCAN_WIDTH].lower()
    if any(marker in head for marker in ERROR_MARKERS):
        return "error"
    if any(marker in head for marker in WARNING_MARKERS):
        return "warning"
    return None


@dataclass
class ScanResult:
    """What a scan found: the lines with warning markers and with error markers, and unreadable files."""

    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """`error` beats `warning` beats `success`."""
        if self.errors or self.unreadable:
            return "error"
        return "warning" if self.warnings else "success"

    def add_lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            kind = classify_line(line)
            if kind == "error":
                self.errors.append(line.rstrip("\r\n"))
            elif kind == "warning":
                self.warnings.append(line.rstrip("\r\n"))


def scan_file(path: Path, result: ScanResult | None = None) -> ScanResult:
    """Scan one execution log; an unreadable file counts as an error."""
    result = result or ScanResult()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        result.unreadable.append(f"{path}: {exc}")
        return result
    result.add_lines(text.splitlines())
    return result


def scan_tree(folder: Path) -> ScanResult:
    """Scan every `*_execution_output.txt` under `folder` (recursively); a missing folder is clean."""
    result = ScanResult()
    folder = Path(folder)
    if not folder.is_dir():
        return result
    for path in sorted(folder.rglob(OUTPUT_GLOB)):
        scan_file(path, result)
    return result


def analyze_execution_logs(output_dir: str | Path) -> str:
    """`'success'`, `'warning'` or `'error'` for the execution logs under `output_dir`.

    Example:
        >>> import tempfile
        >>> analyze_execution_logs(tempfile.mkdtemp())
        'success'
    """
    return scan_tree(Path(output_dir)).status
