"""Compact JSON of a large document rewritten often, re-encoding only the parts that changed.

A run's manifest is rewritten as its tasks start and end; encoding all of it every time costs O(tasks) per
write (O(tasks²) per run). Mappings and lists whose entries carry a version (`VersionedDict`,
`VersionedList`) are encoded entry by entry, and an entry whose version did not change since the last
encoding reuses its text. The result is byte for byte what `json.dumps(data, sort_keys=True,
separators=(",", ":"))` gives.

Example:
    >>> cache = PartsEncoder()
    >>> tasks = VersionedDict({"a": {"status": "running"}}, versions={"a": 1})
    >>> cache.encode({"status": "running", "tasks": tasks})
    '{"status":"running","tasks":{"a":{"status":"running"}}}'
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping
from typing import Any


class VersionedDict(dict):
    """A dict whose entries carry versions (`versions[key]`); an entry is re-encoded only when its version
    changes. An entry without a version is always encoded. It is a plain dict for everything else."""

    __slots__ = ("versions",)

    def __init__(self, items: Mapping[str, Any], versions: Mapping[str, Hashable]) -> None:
        super().__init__(items)
        self.versions = versions


class VersionedList(list):
    """A list whose items carry `(cache key, version)` pairs in `versions` (same length as the list)."""

    __slots__ = ("versions",)

    def __init__(self, items: list[Any], versions: list[tuple[Hashable, Hashable]]) -> None:
        super().__init__(items)
        self.versions = versions


class PartsEncoder:
    """Encodes documents holding `VersionedDict`/`VersionedList` parts, remembering the parts' texts.

    `default` is passed to `json.dumps` (for values JSON cannot hold). Nested plain dicts are walked only
    when they hold versioned parts (`flowrun_report.tasks`); anything else is encoded whole.
    """

    def __init__(self, default: Callable[[Any], Any] | None = None) -> None:
        self._json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=default)
        """One encoder for every part (`json.dumps` with options builds a new one per call)."""
        self._texts: dict[tuple[Any, ...], dict[Hashable, tuple[Hashable, str]]] = {}
        """Per path of a versioned part: entry → (version, text)."""

    def _dumps(self, value: Any) -> str:
        return self._json.encode(value)

    def encode(self, value: Any, path: tuple[Any, ...] = ()) -> str:
        """The compact JSON text of `value` (sorted keys), reusing unchanged versioned parts."""
        if isinstance(value, dict) and not all(isinstance(k, str) for k in value):
            return self._dumps(value)  # (JSON turns other keys into strings: leave that to json)
        if isinstance(value, VersionedDict):
            texts = self._texts.setdefault(path, {})
            versions = value.versions
            parts = []
            for key in sorted(value):
                version = versions.get(key)
                known = texts.get(key)
                if known is None or known[0] != version or version is None:
                    known = (version, f"{self._json.encode(key)}:{self._dumps(value[key])}")
                    texts[key] = known
                parts.append(known[1])
            return "{" + ",".join(parts) + "}"
        if isinstance(value, VersionedList):
            texts = self._texts.setdefault(path, {})
            parts = []
            for item, (key, version) in zip(value, value.versions, strict=True):
                known = texts.get(key)
                if known is None or known[0] != version or version is None:
                    known = (version, self._dumps(item))
                    texts[key] = known
                parts.append(known[1])
            return "[" + ",".join(parts) + "]"
        if isinstance(value, dict) and _holds_parts(value):
            parts = (f"{self._json.encode(k)}:{self.encode(value[k], (*path, k))}" for k in sorted(value))
            return "{" + ",".join(parts) + "}"
        return self._dumps(value)


def _holds_parts(value: dict) -> bool:
    """Whether a plain dict holds versioned parts (at any depth)."""
    return any(
        isinstance(v, VersionedDict | VersionedList) or (isinstance(v, dict) and _holds_parts(v))
        for v in value.values()
    )
