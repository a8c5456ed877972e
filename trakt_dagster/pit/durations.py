"""Go duration strings (`45m`, `1h30m`, `300ms`, `1.5h`), as pit.toml uses them for timeouts and delays."""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


MAX_SECONDS = (2**63 - 1) / 1e9
"""The longest Go duration (an int64 of nanoseconds)."""


class DurationError(ValueError):
    """A text that is not a Go duration (the message says what Go accepts)."""


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration: a sign, then number+unit pairs (`ns us ms s m h`; no `d`); `0` alone is 0.

    Example:
        >>> parse_go_duration("1h30m"), parse_go_duration("300ms"), parse_go_duration("-5s")
        (5400.0, 0.3, -5.0)
        >>> parse_go_duration("1d")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        trakt_dagster.pit.durations.DurationError: invalid duration "1d": ...; there is no "d" unit
    """
    raw = text.strip()
    body = raw[1:] if raw[:1] in "+-" else raw
    sign = -1.0 if raw.startswith("-") else 1.0
    if body == "0":
        return 0.0
    position = 0
    total = 0.0
    while position < len(body):
        match = _PART.match(body, position)
        if match is None:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    shown = text if len(text) <= 40 else f"{text[:40]}..."
    if not body or position != len(body):
        hint = '; there is no "d" unit' if re.search(r"\dd", body) else ""
        raise DurationError(
            f'invalid duration "{shown}": use a number and one of the units ns, us, ms, s, m, h '
            f'(e.g. "90s", "1h30m"){hint}'
        )
    if total > MAX_SECONDS:
        raise DurationError(f'invalid duration "{shown}": out of range (Go durations reach about 292 years)')
    return sign * total


def optional_timeout(text: str | None) -> float | None:
    """pit's rule for timeouts: empty, zero or negative means no limit.

    Example:
        >>> optional_timeout("1.5h"), optional_timeout(""), optional_timeout("0"), optional_timeout("-5s")
        (5400.0, None, None, None)
    """
    if text is None or not str(text).strip():
        return None
    seconds = parse_go_duration(str(text))
    return seconds if seconds > 0 else None
