"""Optional third-party packages, imported only when an SDK function needs them."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(module: str, package: str, purpose: str) -> ModuleType:
    """Import `module`, or raise a RuntimeError telling which package the project must add.

    Example:
        >>> require("json", "json", "tests").dumps([1])
        '[1]'
        >>> try:
        ...     require("no_such_module_xyz", "no-such-package", "reading")
        ... except RuntimeError as exc:
        ...     print(str(exc).split(":")[0])
        pit_sdk needs the 'no-such-package' package for reading
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise RuntimeError(
            f"pit_sdk needs the '{package}' package for {purpose}: add it to the project's dependencies "
            f"(e.g. `uv add {package}`)"
        ) from None
