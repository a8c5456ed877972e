"""Resolve a step's `uses`: an entry-point alias first, else a module (relative to the pipeline) with `run`."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

from trakt_dagster.core.modules import ModuleNamespace

STEP_ENTRY_POINT_GROUP = "trakt.steps"


def installed_entry_points(group: str) -> tuple[metadata.EntryPoint, ...]:
    """The entry points of `group` in the distributions on the current `sys.path`, read once per process and
    path for every group (reading every installed distribution's metadata costs tens of milliseconds; a run
    asks for the step and the artifact groups, a load once per pipeline).

    Example:
        >>> installed_entry_points("no.such.group")
        ()
    """
    return _entry_points(tuple(sys.path)).get(group, ())


@functools.lru_cache(maxsize=8)
def _entry_points(path: tuple[str, ...]) -> dict[str, tuple[metadata.EntryPoint, ...]]:
    """Every entry point on `path` by group (one pass over the distributions for all groups)."""
    groups: dict[str, list[metadata.EntryPoint]] = {}
    for entry_point in metadata.entry_points():
        groups.setdefault(entry_point.group, []).append(entry_point)
    return {group: tuple(found) for group, found in groups.items()}


class StepRegistry:
    """Step aliases (trakt's `StepRegistry`): names usable in `uses:` mapped to handlers.

    Example:
        >>> registry = StepRegistry({"double": lambda ctx, input: {"output": input * 2}})
        >>> registry.resolve_uses("double")(None, input=2)
        {'output': 4}
    """

    def __init__(self, aliases: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self._aliases: dict[str, Callable[..., Any]] = dict(aliases or {})
        self._lazy: dict[str, metadata.EntryPoint] = {}

    def register(self, name: str, handler: Callable[..., Any]) -> None:
        self._aliases[name] = handler

    def has(self, name: str) -> bool:
        return name in self._aliases or name in self._lazy

    def get(self, name: str) -> Callable[..., Any]:
        if name not in self._aliases and name in self._lazy:
            self._aliases[name] = self._lazy.pop(name).load()
        return self._aliases[name]

    @classmethod
    def from_entry_points(cls, group: str = STEP_ENTRY_POINT_GROUP) -> StepRegistry:
        """Aliases from installed distributions' `trakt.steps` entry points (loaded on first use)."""
        registry = cls()
        for entry_point in installed_entry_points(group):
            registry._lazy.setdefault(entry_point.name, entry_point)
        return registry

    def resolve_uses(self, uses: str, namespace: ModuleNamespace | None = None) -> Callable[..., Any]:
        """The handler for `uses`: a registered alias, else `<module>.run` imported in `namespace`."""
        if self.has(uses):
            return self.get(uses)
        module = namespace.import_module(uses) if namespace is not None else __import__(uses, fromlist=["run"])
        handler = getattr(module, "run", None)
        if not callable(handler):
            raise AttributeError(f"Module '{uses}' must define a callable 'run(ctx, **kwargs)'.")
        return handler
