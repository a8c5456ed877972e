"""Your own loom observers on Dagster: the module attribute `loom_observers`.

Outside Dagster, loom takes custom `LifecycleObserver`s only from Python
(`ETLRunner.from_yaml(path, extra_observers=[...])`); its YAML config has no place for them. A pipeline module
lists them for trakt-dagster the same way, as a module attribute beside the pipeline classes:

    loom_observers = [AuditObserver()]        # the same objects for every run, as `extra_observers` would be
    loom_observers = make_observers           # or a callable returning a list: called once per run

Every run's `ETLRunner` then gets them after the adapter's own observer, so they see every lifecycle event of
the call, from loom's own threads (parallel groups emit from pool threads), exactly as with loom alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

OBSERVERS_ATTRIBUTE = "loom_observers"

ObserverSpec = Sequence[Any] | Callable[[], Sequence[Any]] | None
"""What a module may set: a list of observers, a callable returning one, or nothing."""


def observers_problem(value: Any) -> str | None:
    """What is wrong with a module's `loom_observers` value, or None when it is usable.

    Example:
        >>> observers_problem(None) is None
        True
        >>> observers_problem([object()])
        'loom_observers[0] (object) has no on_event(event) method: loom calls it for every lifecycle event.'
    """
    if value is None or (callable(value) and not isinstance(value, type)):
        return None
    if not isinstance(value, list | tuple):
        return f"loom_observers must be a list of observers or a callable returning one, not {type(value).__name__}."
    for index, item in enumerate(value):
        problem = _item_problem(item, f"loom_observers[{index}]")
        if problem:
            return problem
    return None


def run_observers(spec: ObserverSpec) -> list[Any]:
    """The user observers for one run: the list, or what the callable returns (checked like the list)."""
    if spec is None:
        return []
    if not callable(spec):
        return list(spec)
    try:
        made = spec()
    except Exception as exc:
        raise RuntimeError(f"loom_observers() raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(made, list | tuple):
        raise TypeError(f"loom_observers() returned {type(made).__name__}, not a list of observers.")
    for index, item in enumerate(made):
        problem = _item_problem(item, f"loom_observers()[{index}]")
        if problem:
            raise TypeError(problem)
    return list(made)


def _item_problem(item: Any, label: str) -> str | None:
    if isinstance(item, type):
        return f"{label} is the class {item.__name__}, not an observer: write {item.__name__}()."
    if not callable(getattr(item, "on_event", None)):
        return (
            f"{label} ({type(item).__name__}) has no on_event(event) method: loom calls it for every lifecycle event."
        )
    return None
