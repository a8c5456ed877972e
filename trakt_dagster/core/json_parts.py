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
        self._default = default
        self._texts: dict[tuple[Any, ...], tuple[Hashable, str]] = {}

    def _dumps(self, value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=self._default)

    def encode(self, value: Any, path: tuple[Any, ...] = ()) -> str:
        """The compact JSON text of `value` (sorted keys), reusing unchanged versioned parts."""
        if isinstance(value, dict) and not all(isinstance(k, str) for k in value):
            return self._dumps(value)  # (JSON turns other keys into strings: leave that to json)
        if isinstance(value, VersionedDict):
            versions = value.versions
            return "{" + ",".join(self._part((*path, k), versions.get(k), k, value[k]) for k in sorted(value)) + "}"
        if isinstance(value, VersionedList):
            items = zip(value, value.versions, strict=True)
            return "[" + ",".join(self._part((*path, k), v, None, item) for item, (k, v) in items) + "]"
        if isinstance(value, dict) and _holds_parts(value):
            return "{" + ",".join(f"{json.dumps(k)}:{self.encode(value[k], (*path, k))}" for k in sorted(value)) + "}"
        return self._dumps(value)

    def _part(self, path: tuple[Any, ...], version: Hashable, key: str | None, value: Any) -> str:
        """`"key":value` (or the item alone in a list), from the texts of earlier calls while `version` holds."""
        if version is not None:
            known = self._texts.get(path)
            if known is not None and known[0] == version:
                return known[1]
        text = self._dumps(value) if key is None else f"{json.dumps(key)}:{self._dumps(value)}"
        if version is not None:
            self._texts[path] = (version, text)
        return text


def _holds_parts(value: dict) -> bool:
    """Whether a plain dict holds versioned parts (at any depth)."""
    return any(
        isinstance(v, VersionedDict | VersionedList) or (isinstance(v, dict) and _holds_parts(v))
        for v in value.values()
    )
