"""Calling one task attempt: async timeouts, errors as flowrun reports them, exits that must not escape.

Shared by the `Pipeline` compatibility runner and the Dagster task callables, so both behave the same:

* only a real `timeout_s` expiry is reported as `Timeout after <timeout_s>s` (N2); a `TimeoutError`
  raised by task code keeps its type, message and traceback;
* `SystemExit` / `KeyboardInterrupt` raised by task code fail the task (`TaskExitError`) instead of
  escaping and leaving the run half done (N3).
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable, Sequence
from typing import Any


class TaskTimeoutError(TimeoutError):
    """An async task attempt ran longer than its `timeout_s` (message as flowrun: `Timeout after 0.05s`).

    Example:
        >>> str(TaskTimeoutError(0.05))
        'Timeout after 0.05s'
    """

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"Timeout after {timeout_s}s")
        self.timeout_s = timeout_s


class TaskExitError(RuntimeError):
    """Task code raised `SystemExit` or `KeyboardInterrupt`: the task fails, the process and run go on.

    Example:
        >>> str(TaskExitError.wrap(SystemExit(3)))
        'task raised SystemExit: 3'
    """

    @classmethod
    def wrap(cls, exc: BaseException) -> TaskExitError:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        error = cls(f"task raised {text}")
        error.__cause__ = exc
        return error


def call_sync(func: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """Call a sync task function; exits become `TaskExitError`."""
    try:
        return func(*args, **kwargs)
    except (SystemExit, KeyboardInterrupt) as exc:
        raise TaskExitError.wrap(exc) from exc


async def call_async(
    func: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any], timeout_s: float | None
) -> Any:
    """Await an async task function with flowrun's per-attempt `timeout_s` (cooperative cancellation)."""
    try:
        if timeout_s is None:
            return await func(*args, **kwargs)
        scope = asyncio.timeout(timeout_s)
        try:
            async with scope:
                return await func(*args, **kwargs)
        except TimeoutError:
            if scope.expired():
                raise TaskTimeoutError(timeout_s) from None
            raise
    except (SystemExit, KeyboardInterrupt) as exc:
        raise TaskExitError.wrap(exc) from exc


def error_text(exc: BaseException) -> str:
    """The `error` of a failed attempt in a flowrun run report: `Timeout after Ns`, else the traceback.

    Example:
        >>> error_text(TaskTimeoutError(5))
        'Timeout after 5s'
    """
    if isinstance(exc, TaskTimeoutError):
        return str(exc)
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
