"""Dagster-safe names for foreign names: the obvious valid name, a short hash only on a real collision."""

from __future__ import annotations

import functools
import hashlib
import keyword
import re
import unicodedata
from collections.abc import Iterable

_VALID = re.compile(r"^[A-Za-z0-9_]+$")
_INVALID_RUN = re.compile(r"[^A-Za-z0-9_]+")
# Names Dagster reserves for jobs and ops (dagster._core.definitions.utils.DISALLOWED_NAMES).
RESERVED = frozenset(
    {"context", "conf", "config", "meta", "arg_dict", "dict", "input_arg_dict", "output_arg_dict"}
    | {"int", "str", "float", "bool", "input", "output", "type"}
    | set(keyword.kwlist)
)


def dagster_name(name: str) -> str:
    """The obvious name Dagster accepts (`^[A-Za-z0-9_]+$`) for `name`.

    Valid names are kept; other characters become `_` (accents are dropped first, so `größe` reads
    `groe`, not `gr_e`); names Dagster reserves (`meta`, `input`, Python keywords) get a trailing `_`.
    Two originals of one pipeline that end up the same are told apart by `unique_dagster_names`.

    Example:
        >>> dagster_name("clean_orders"), dagster_name("fetch-orders"), dagster_name("stg.orders")
        ('clean_orders', 'fetch_orders', 'stg_orders')
        >>> dagster_name("meta")
        'meta_'
    """
    if type(name) is str:
        return _text_dagster_name(name)
    return _dagster_name(name)  # not text: fails as it always has (the cache would fail on an unhashable value)


@functools.lru_cache(maxsize=16384)  # a pure function of the text, asked several times for every task of a load
def _text_dagster_name(name: str) -> str:
    return _dagster_name(name)


def _dagster_name(name: str) -> str:
    if _VALID.match(name):
        return f"{name}_" if name in RESERVED else name
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    cleaned = _INVALID_RUN.sub("_", ascii_name).strip("_") or "unnamed"
    return f"{cleaned}_" if cleaned in RESERVED else cleaned


def hashed_name(name: str) -> str:
    """`dagster_name(name)` plus a short hash of the original: the name of one side of a collision.

    Example:
        >>> hashed_name("normalize-v2")
        'normalize_v2_0fd5a4'
    """
    digest = hashlib.md5(name.encode("utf-8")).hexdigest()[:6]
    return f"{dagster_name(name).rstrip('_')}_{digest}"


def unique_dagster_names(originals: Iterable[str]) -> dict[str, str]:
    """The Dagster name of each original, distinct for distinct originals.

    Each original gets `dagster_name`; where several different originals would get the same name, the
    one already spelled that way keeps it and the others get `hashed_name` (all of them when none is).

    Example:
        >>> unique_dagster_names(["fetch-orders", "load_orders"])
        {'fetch-orders': 'fetch_orders', 'load_orders': 'load_orders'}
        >>> unique_dagster_names(["a-b", "a_b"])
        {'a-b': 'a_b_8ca2ed', 'a_b': 'a_b'}
    """
    by_name: dict[str, list[str]] = {}
    for original in originals:
        bucket = by_name.setdefault(dagster_name(original), [])
        if original not in bucket:
            bucket.append(original)
    found: dict[str, str] = {}
    for name, bucket in by_name.items():
        for original in bucket:
            found[original] = name if len(bucket) == 1 or original == name else hashed_name(original)
    return found


def find_collisions(originals: Iterable[str]) -> dict[str, list[str]]:
    """Map each Dagster name that several different originals turn into to those originals.

    Example:
        >>> find_collisions(["a-b", "a_b", "c"])
        {'a_b': ['a-b', 'a_b']}
    """
    seen: dict[str, list[str]] = {}
    for original in originals:
        bucket = seen.setdefault(dagster_name(original), [])
        if original not in bucket:
            bucket.append(original)
    return {name: found for name, found in seen.items() if len(found) > 1}
