"""How flowrun reads a task function's signature and calls it: one invoker for every execution mode.

The rules are those of the README `Pipeline` API (spec §2.8, decision N1): the `RunContext` parameter
is found by its *resolved* annotation (`typing.get_type_hints`, so postponed annotations work), keyword-only
context parameters count, the context is passed **by name** (positionally only to a positional-only
parameter), dependencies named by parameters are passed as keywords (positionally to positional-only
parameters, N4), and an `upstream` parameter receives every parent's result instead.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from inspect import CO_COROUTINE, CO_VARARGS, CO_VARKEYWORDS
from types import FunctionType
from typing import Annotated, Any, get_args, get_origin

from flowrun import RunContext

_KINDS_NAMED = (
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
    inspect.Parameter.KEYWORD_ONLY,
)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
_STRING_CONTEXT = re.compile(r"^\s*(?:Annotated\[\s*)?(?:[A-Za-z_][\w]*\.)*RunContext\b")


def missing_context_message(task_name: str) -> str:
    """flowrun's text for a task that requires a `RunContext` when the run has none (a `RuntimeError`, a task
    failure retried like any other).

    Example:
        >>> missing_context_message("fetch")
        "Task 'fetch' requires a RunContext but none was provided."
    """
    return f"Task '{task_name}' requires a RunContext but none was provided."


@dataclass(frozen=True)
class CallShape:
    """What a task function accepts, computed once per task.

    Example:
        >>> def second(first, context: RunContext[dict]): ...
        >>> shape = call_shape(second, ["first"])
        >>> shape.context_param, shape.named_deps, shape.accepts_upstream
        ('context', ('first',), False)
    """

    context_param: str | None
    context_positional_only: bool
    context_required: bool
    accepts_upstream: bool
    named_deps: tuple[str, ...]
    is_async: bool
    func: Callable[..., Any] = field(compare=False, repr=False, kw_only=True)
    """The task function: its parameters are read from it when a call first needs them (a load reads only
    what the shape's other fields need)."""

    @property
    def accepts_context(self) -> bool:
        return self.context_param is not None

    @functools.cached_property
    def parameters(self) -> tuple[inspect.Parameter, ...]:
        """The function's parameters (`inspect.signature`'s), read once."""
        return parameters_of(self.func)


def is_run_context(annotation: Any) -> bool:
    """Whether an annotation means `RunContext` (bare, generic, `Annotated`, or such a string).

    Example:
        >>> is_run_context(RunContext[dict]), is_run_context("RunContext[Deps]"), is_run_context(dict)
        (True, True, False)
    """
    if annotation is inspect.Parameter.empty or annotation is None:
        return False
    if isinstance(annotation, str):
        return bool(_STRING_CONTEXT.match(annotation))
    if annotation is RunContext:
        return True
    origin = get_origin(annotation)
    if origin is RunContext:
        return True
    if origin is Annotated:
        args = get_args(annotation)
        return bool(args) and is_run_context(args[0])
    return False


def resolved_annotations(func: Callable[..., Any]) -> dict[str, Any]:
    """Parameter annotations with postponed (string) annotations evaluated where possible."""
    try:
        return typing.get_type_hints(func, include_extras=True)
    except Exception:  # noqa: BLE001 - unresolvable names: fall back to the raw annotations (strings)
        try:
            return dict(inspect.get_annotations(func))
        except Exception:  # noqa: BLE001 - objects without annotations
            return {}


def _signature(func: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(func)


_NOT_PLAIN = frozenset({"__wrapped__", "__signature__", "_partialmethod", "__text_signature__"})
"""Function attributes that make `inspect.signature` look elsewhere than the function's own code."""
_empty = inspect.Parameter.empty


def parameters_of(func: Callable[..., Any]) -> tuple[inspect.Parameter, ...]:
    """`tuple(inspect.signature(func).parameters.values())`: for a plain function (not wrapped, no
    `__signature__`) built from its code object, defaults and annotations the way `inspect` builds them,
    without the `Signature` around them; anything else through `inspect.signature`.

    Example:
        >>> def load(first, /, second=2, *rest, context: RunContext, **options): ...
        >>> parameters_of(load) == tuple(inspect.signature(load).parameters.values())
        True
    """
    if type(func) is not FunctionType or not _NOT_PLAIN.isdisjoint(func.__dict__):
        return tuple(_signature(func).parameters.values())
    code = func.__code__
    names = code.co_varnames
    positional, keyword_only = code.co_argcount, code.co_kwonlyargcount
    annotations = func.__annotations__
    if not isinstance(annotations, dict):
        return tuple(_signature(func).parameters.values())
    defaults = func.__defaults__ or ()
    first_default = positional - len(defaults)
    param = inspect.Parameter
    found = []
    for index in range(positional):
        name = names[index]
        kind = param.POSITIONAL_ONLY if index < code.co_posonlyargcount else param.POSITIONAL_OR_KEYWORD
        default = defaults[index - first_default] if index >= first_default else _empty
        found.append(param(name, kind, default=default, annotation=annotations.get(name, _empty)))
    index = positional + keyword_only
    if code.co_flags & CO_VARARGS:
        name = names[index]
        found.append(param(name, param.VAR_POSITIONAL, annotation=annotations.get(name, _empty)))
        index += 1
    kwdefaults = func.__kwdefaults__ or {}
    for name in names[positional : positional + keyword_only]:
        default, annotation = kwdefaults.get(name, _empty), annotations.get(name, _empty)
        found.append(param(name, param.KEYWORD_ONLY, default=default, annotation=annotation))
    if code.co_flags & CO_VARKEYWORDS:
        name = names[index]
        found.append(param(name, param.VAR_KEYWORD, annotation=annotations.get(name, _empty)))
    return tuple(found)


def is_coroutine_function(func: Callable[..., Any]) -> bool:
    """`inspect.iscoroutinefunction(func)`, read from the code flags of a plain function.

    Example:
        >>> async def fetch(): ...
        >>> is_coroutine_function(fetch), is_coroutine_function(len)
        (True, False)
    """
    if type(func) is FunctionType and "_is_coroutine_marker" not in func.__dict__:
        return bool(func.__code__.co_flags & CO_COROUTINE)  # what inspect reads, without unwrapping
    return inspect.iscoroutinefunction(func)


def _context_parameter(
    func: Callable[..., Any], params: tuple[inspect.Parameter, ...] | None = None
) -> inspect.Parameter | None:
    params = parameters_of(func) if params is None else params
    annotated = getattr(func, "__annotations__", None) or any(p.annotation is not _empty for p in params)
    if not annotated:
        return None  # no annotation anywhere: nothing can name RunContext
    hints = resolved_annotations(func)
    for param in params:
        if param.kind not in _KINDS_NAMED or param.name in ("self", "cls"):
            continue
        if is_run_context(hints.get(param.name, param.annotation)):
            return param
    return None


def _is_injectable_required(param: inspect.Parameter, context: inspect.Parameter | None) -> bool:
    """A required parameter flowrun must fill: not variadic, not self/cls, not the context, not `upstream`."""
    if param.kind in _VARIADIC or param.name in ("self", "cls"):
        return False
    if param.default is not inspect.Parameter.empty:
        return False
    return not (context is not None and param.name == context.name) and param.name != "upstream"


def inferred_deps(func: Callable[..., Any], known: Sequence[str] | Mapping[str, Any]) -> list[str]:
    """Deps inferred from required parameters named after already registered tasks (decoration time).

    Example:
        >>> def transform(extract, base=5): ...
        >>> inferred_deps(transform, ["extract", "base"])
        ['extract']
    """
    params = parameters_of(func)
    context = _context_parameter(func, params)
    return [p.name for p in params if _is_injectable_required(p, context) and p.name in known]


def unsatisfied_parameters(func: Callable[..., Any], deps: Sequence[str]) -> list[str]:
    """Required parameters that are neither a dep, the context, nor `upstream` (a registration error)."""
    params = parameters_of(func)
    context = _context_parameter(func, params)
    return [p.name for p in params if _is_injectable_required(p, context) and p.name not in deps]


def call_shape(
    func: Callable[..., Any],
    deps: Sequence[str],
    *,
    named_deps: Sequence[str] | None = None,
    accepts_upstream: bool | None = None,
) -> CallShape:
    """The call shape of `func` for a task with `deps` (`named_deps` / `accepts_upstream` as flowrun recorded
    them in its `TaskSpec`, when known; else computed with flowrun's rules)."""
    if (
        named_deps is not None
        and accepts_upstream is not None
        and type(func) is FunctionType
        and not func.__annotations__
        and _NOT_PLAIN.isdisjoint(func.__dict__)
    ):
        params, context = None, None  # a plain function without annotations: no parameter names RunContext
    else:
        params = parameters_of(func)
        context = _context_parameter(func, params)
    if accepts_upstream is None:
        accepts_upstream = any(p.name == "upstream" and p.kind in _KINDS_NAMED for p in params)
    if named_deps is None:
        named_deps = [] if accepts_upstream else [p.name for p in params if p.kind in _KINDS_NAMED and p.name in deps]
    shape = CallShape(
        context_param=context.name if context is not None else None,
        context_positional_only=context is not None and context.kind is inspect.Parameter.POSITIONAL_ONLY,
        context_required=context is not None and context.default is inspect.Parameter.empty,
        accepts_upstream=bool(accepts_upstream),
        named_deps=tuple(named_deps),
        is_async=is_coroutine_function(func),
        func=func,
    )
    if params is not None:
        shape.__dict__["parameters"] = params  # read already: kept (what `parameters` would read)
    return shape


def bind_call(
    shape: CallShape, task_name: str, context: Any, upstream: Mapping[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """The positional and keyword arguments of one call.

    Example:
        >>> def pos_only(base, /): ...
        >>> bind_call(call_shape(pos_only, ["base"]), "pos_only", None, {"base": 7})
        ([7], {})
    """
    values: dict[str, Any] = {}
    if shape.context_param is not None:
        if context is not None:
            values[shape.context_param] = context
        elif shape.context_required:
            raise RuntimeError(missing_context_message(task_name))
    if shape.accepts_upstream:
        values["upstream"] = dict(upstream)
    else:
        for name in shape.named_deps:
            if name not in upstream:
                raise RuntimeError(f"Task '{task_name}' expects upstream result '{name}', but it was not provided.")
            values[name] = upstream[name]
    positional = [p for p in shape.parameters if p.kind is inspect.Parameter.POSITIONAL_ONLY]
    last = max((i for i, p in enumerate(positional) if p.name in values), default=-1)
    args: list[Any] = []
    for param in positional[: last + 1]:
        if param.name in values:
            args.append(values[param.name])
        elif param.default is not inspect.Parameter.empty:
            args.append(param.default)
        else:
            break  # Python reports the missing argument itself
    kwargs = {
        p.name: values[p.name]
        for p in shape.parameters
        if p.kind is not inspect.Parameter.POSITIONAL_ONLY and p.name in values
    }
    return args, kwargs
