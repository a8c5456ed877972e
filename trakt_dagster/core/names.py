"""Dagster-safe names for foreign names, the same way everywhere, with collisions detected."""

from __future__ import annotations

import hashlib
import keyword
import re

_VALID = re.compile(r"^[A-Za-z0-9_]+$")
_INVALID_RUN = re.compile(r"[^A-Za-z0-9_]+")
# Names Dagster reserves for jobs and ops (dagster._core.definitions.utils.DISALLOWED_NAMES).
RESERVED = frozenset(
    {"context", "conf", "config", "meta", "arg_dict", "dict", "input_arg_dict", "output_arg_dict"}
    | {"int", "str", "float", "bool", "input", "output", "type"}
    | set(keyword.kwlist)
)


def dagster_name(name: str) -> str:
    """A name Dagster accepts (`^[A-Za-z0-9_]+$`) for `name`.

    Valid names are kept; anything else has its invalid characters replaced by `_` and a short hash
    of the original appended, so `normalize-v2` and `normalize_v2` never collide. Names Dagster
    reserves (`meta`, `input`, `type`, Python keywords) get the hash too.

    Example:
        >>> dagster_name("clean_orders")
        'clean_orders'
        >>> dagster_name("normalize-v2")
        'normalize_v2_0fd5a4'
        >>> dagster_name("meta").startswith("meta_")
        True
    """
    if _VALID.match(name) and name not in RESERVED:
        return name
    cleaned = _INVALID_RUN.sub("_", name).strip("_") or "unnamed"
    digest = hashlib.md5(name.encode("utf-8")).hexdigest()[:6]
    return f"{cleaned}_{digest}"


def find_collisions(originals: list[str]) -> dict[str, list[str]]:
    """Map each Dagster name that several different originals turn into to those originals.

    Example:
        >>> find_collisions(["a", "b", "a"])
        {}
    """
    seen: dict[str, list[str]] = {}
    for original in originals:
        bucket = seen.setdefault(dagster_name(original), [])
        if original not in bucket:
            bucket.append(original)
    return {name: found for name, found in seen.items() if len(found) > 1}
