"""`@step_contract`: declare a step handler's inputs, outputs and batch/stream capability."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from trakt_dagster.trakt.errors import StepBindingError

F = TypeVar("F", bound=Callable[..., Any])
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def parse_flag(value: Any, name: str) -> bool:
    """A capability flag: a bool, or one of the strings true/1/yes, false/0/no.

    Example:
        >>> parse_flag("yes", "supports_stream"), parse_flag(False, "supports_batch")
        (True, False)
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return True
    if isinstance(value, str) and value.strip().lower() in _FALSE:
        return False
    raise ValueError(f"step_contract '{name}' must be a boolean or one of true/1/yes/false/0/no, got {value!r}.")


def _names(value: Sequence[str] | None, kind: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"step_contract {kind} must be a sequence of strings.")
    names: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"step_contract {kind} must contain only strings, got {type(item).__name__}.")
        name = item.strip()
        if not name:
            raise ValueError(f"step_contract {kind} contains an empty name.")
        if name in names:
            raise ValueError(f"step_contract {kind} contains duplicate name '{name}'.")
        names.append(name)
    return names


def step_contract(
    *,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    supports_batch: bool | str = True,
    supports_stream: bool | str = False,
) -> Callable[[F], F]:
    """Declare what a step handler reads and writes; checked against `with:` when pipelines load.

    Example:
        >>> @step_contract(inputs=["input"], outputs=["output"])
        ... def run(ctx, input):
        ...     return {"output": input}
        >>> run.declared_inputs, run.declared_outputs, run.supports_stream
        (['input'], ['output'], False)
    """
    declared_inputs = _names(inputs, "inputs")
    declared_outputs = _names(outputs, "outputs")
    batch = parse_flag(supports_batch, "supports_batch")
    stream = parse_flag(supports_stream, "supports_stream")

    def decorate(handler: F) -> F:
        if declared_inputs:
            accepted = _parameters_after_ctx(handler)
            if accepted is not None:
                missing = [name for name in declared_inputs if name not in accepted]
                if missing:
                    raise StepBindingError(
                        f"@step_contract declares inputs {declared_inputs} but handler "
                        f"'{handler.__name__}' is missing parameters: {missing}. Add them to the handler "
                        "signature or accept **kwargs."
                    )
        handler.declared_inputs = declared_inputs  # type: ignore[attr-defined]
        handler.declared_outputs = declared_outputs  # type: ignore[attr-defined]
        handler.supports_batch = batch  # type: ignore[attr-defined]
        handler.supports_stream = stream  # type: ignore[attr-defined]
        return handler

    return decorate


def _parameters_after_ctx(handler: Callable[..., Any]) -> set[str] | None:
    """Names of the handler's parameters after the first (`ctx`), None when it takes `**kwargs`. A plain
    function's are read from its code object (what `inspect.signature` reads, without building a signature
    object for each step module imported); anything else goes through `inspect.signature`."""
    code = getattr(handler, "__code__", None)
    plain = type(handler) is types.FunctionType and code is not None
    if plain and not hasattr(handler, "__wrapped__") and not hasattr(handler, "__signature__"):
        if code.co_flags & inspect.CO_VARKEYWORDS:
            return None
        positional, keyword_only = code.co_argcount, code.co_kwonlyargcount
        names = list(code.co_varnames[:positional])  # in the signature's order: positional, *args, keyword-only
        if code.co_flags & inspect.CO_VARARGS:
            names.append(code.co_varnames[positional + keyword_only])
        names += code.co_varnames[positional : positional + keyword_only]
        return set(names[1:])
    params = list(inspect.signature(handler).parameters.values())[1:]  # skip ctx
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


def handler_contract(handler: Callable[..., Any]) -> tuple[list[str] | None, list[str] | None, bool, bool]:
    """Read a handler's contract: (declared inputs or None, declared outputs or None, batch, stream).

    Works for handlers decorated by this `step_contract`, by the original trakt, or given the
    attributes by hand. `None` means "not declared".
    """
    has_contract = hasattr(handler, "declared_inputs") or hasattr(handler, "declared_outputs")
    inputs = list(getattr(handler, "declared_inputs", []) or []) if has_contract else None
    outputs = list(getattr(handler, "declared_outputs", []) or []) if has_contract else None
    batch = parse_flag(getattr(handler, "supports_batch", True), "supports_batch")
    stream = parse_flag(getattr(handler, "supports_stream", False), "supports_stream")
    return inputs, outputs, batch, stream
