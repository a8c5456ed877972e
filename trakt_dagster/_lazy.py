"""Package attributes imported on first use (PEP 562), so importing a package stays cheap.

Example:
    >>> namespace = {"__name__": "pkg"}
    >>> get, names = lazy_exports(namespace, {"dumps": "json"})
    >>> get("dumps").__name__, "dumps" in names()
    ('dumps', True)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    namespace: dict[str, Any], exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's `__getattr__` and `__dir__` for `exports` (attribute name -> module that defines it)."""

    def get(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def names() -> list[str]:
        return sorted({*namespace, *exports})

    return get, names
