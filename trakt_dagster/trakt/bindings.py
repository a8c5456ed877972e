"""trakt's binding rules (`with:` values): references, literals, consts, and mapping a step's result.

Input bindings: a bare string is an artifact reference; `{const: X}` (the only key) is the literal X;
numbers, bools, null and dates are literals; lists, tuples and mappings are resolved member by member.
Output bindings: a string, a list of strings or a mapping of strings, never a const.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping
from typing import Any

from trakt_dagster.trakt.errors import StepBindingError
from trakt_dagster.trakt.model import Const

_LITERALS = (int, float, bool, type(None), dt.date, dt.datetime, dt.time)
_SCALARS = (str, *_LITERALS)
OUTPUT_KEYS_WITHOUT_CONTRACT = ("output", "outputs")


def normalize_binding(value: Any, *, step_id: str, key: str) -> Any:
    """Turn a YAML/Python `with:` value into binding form (`{const: X}` → `Const(X)`).

    Example:
        >>> normalize_binding({"const": "usd"}, step_id="s", key="currency")
        Const(value='usd')
        >>> normalize_binding({"const": "usd", "note": "x"}, step_id="s", key="extra")
        {'const': 'usd', 'note': 'x'}
    """
    if isinstance(value, Const):
        return value
    if isinstance(value, Mapping) and len(value) == 1 and "const" in value:
        return Const(value["const"])
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, list):
        return [normalize_binding(v, step_id=step_id, key=key) for v in value]
    if isinstance(value, tuple):
        return tuple(normalize_binding(v, step_id=step_id, key=key) for v in value)
    if isinstance(value, Mapping):
        return {k: normalize_binding(v, step_id=step_id, key=key) for k, v in value.items()}
    raise StepBindingError(f"Step '{step_id}' binding '{key}' has unsupported type {type(value).__name__}.")


def references(value: Any) -> list[str]:
    """Artifact names an input binding refers to (strings, recursively, never inside a const).

    Example:
        >>> references({"records": "r", "lookup": ["l", 3, Const("x")]})
        ['r', 'l']
    """
    if isinstance(value, str):
        return [value]
    if isinstance(value, (Const, *_LITERALS)):
        return []
    if isinstance(value, list | tuple):
        return [name for item in value for name in references(item)]
    if isinstance(value, Mapping):
        return [name for item in value.values() for name in references(item)]
    return []


def resolve(value: Any, artifacts: Mapping[str, Any]) -> Any:
    """The value a handler receives for an input binding, given the artifacts available.

    Example:
        >>> resolve({"frames": ["a", Const("a")], "n": 3}, {"a": [1, 2]})
        {'frames': [[1, 2], 'a'], 'n': 3}
    """
    if isinstance(value, str):
        return artifacts[value]
    if isinstance(value, Const):
        return value.value
    if isinstance(value, list):
        return [resolve(v, artifacts) for v in value]
    if isinstance(value, tuple):
        return tuple(resolve(v, artifacts) for v in value)
    if isinstance(value, Mapping):
        return {k: resolve(v, artifacts) for k, v in value.items()}
    return value


def output_names(value: Any) -> list[str]:
    """Artifact names an (already validated) output binding produces."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    if isinstance(value, Mapping):
        return [v for v in value.values() if isinstance(v, str)]
    return []


def output_binding_error(key: str, value: Any) -> str | None:
    """Why an output binding is not acceptable, or None."""
    if isinstance(value, Const):
        return f"output binding '{key}' cannot use const literals."
    if isinstance(value, str):
        return None
    if isinstance(value, list | tuple):
        if all(isinstance(v, str) for v in value):
            return None
        return f"output binding '{key}' must contain only strings."
    if isinstance(value, Mapping):
        if all(isinstance(v, str) for v in value.values()):
            return None
        return f"output binding '{key}' must map to string values."
    return f"output binding '{key}' must be a string, list, or mapping."


def split_bindings(
    step_id: str,
    bindings: Mapping[str, Any],
    declared_inputs: list[str] | None,
    declared_outputs: list[str] | None,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Which `with:` keys are inputs and which are outputs; raises `StepBindingError` with trakt's text.

    Without a contract only `output` / `outputs` are outputs; every other key is an input.

    Example:
        >>> split_bindings("s", {"input": "src", "result": "r", "output": "x"}, None, None)
        (('input', 'result'), ('output',))
    """
    if declared_inputs is None and declared_outputs is None:
        outputs = tuple(k for k in bindings if k in OUTPUT_KEYS_WITHOUT_CONTRACT)
        inputs = tuple(k for k in bindings if k not in OUTPUT_KEYS_WITHOUT_CONTRACT)
        return inputs, outputs
    declared_inputs = declared_inputs or []
    declared_outputs = declared_outputs or []
    both = [name for name in declared_inputs if name in declared_outputs]
    if both:
        raise StepBindingError(f"Step '{step_id}' cannot declare the same name as input and output: {', '.join(both)}.")
    declared = declared_inputs + declared_outputs
    parts: list[str] = []
    missing_in = [n for n in declared_inputs if n not in bindings]
    missing_out = [n for n in declared_outputs if n not in bindings]
    unknown = [k for k in bindings if k not in declared]
    if missing_in:
        parts.append("missing input bindings=" + ", ".join(missing_in))
    if missing_out:
        parts.append("missing output bindings=" + ", ".join(missing_out))
    if unknown:
        described = []
        for name in unknown:
            close = difflib.get_close_matches(str(name), declared, n=1, cutoff=0.6)
            described.append(f"{name} (did you mean '{close[0]}'?)" if close else str(name))
        parts.append("unknown bindings=" + ", ".join(described))
    if parts:
        raise StepBindingError(f"Step '{step_id}' binding error: " + "; ".join(parts))
    return tuple(declared_inputs), tuple(declared_outputs)


def map_step_result(
    step_id: str, output_bindings: Mapping[str, Any], result: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Map a handler's return value to artifacts; returns `(artifacts, metrics)`.

    Example:
        >>> map_step_result("s", {"output": "o"}, {"output": 1, "__metrics__": {"k": 2}, "extra": 3})
        ({'o': 1}, {'k': 2})
    """
    if not isinstance(result, dict):
        raise TypeError(f"Step '{step_id}' must return a dict, got {type(result).__name__}.")
    result = dict(result)
    metrics: dict[str, Any] = {}
    if "__metrics__" in result:
        raw = result.pop("__metrics__")
        if not isinstance(raw, Mapping):
            raise TypeError(
                f"Step '{step_id}' returned '__metrics__' of type {type(raw).__name__}; it must be a mapping."
            )
        metrics = {str(k): v for k, v in raw.items()}
    if not output_bindings:
        return {str(k): v for k, v in result.items()}, metrics
    artifacts: dict[str, Any] = {}
    for key, binding in output_bindings.items():
        if key not in result:
            raise KeyError(f"Step '{step_id}' did not return expected output key '{key}'.")
        value = result[key]
        if isinstance(binding, str):
            artifacts[binding] = value
        elif isinstance(binding, list | tuple):
            if not isinstance(value, list | tuple):
                raise TypeError(
                    f"Step '{step_id}' output '{key}' must be a list or tuple for {len(binding)} output "
                    f"targets, got {type(value).__name__}."
                )
            if len(value) != len(binding):
                raise ValueError(
                    f"Step '{step_id}' output '{key}' returned {len(value)} values for {len(binding)} output targets."
                )
            artifacts.update(zip(binding, value))
        else:
            if not isinstance(value, Mapping):
                raise TypeError(f"Step '{step_id}' output '{key}' must be a mapping, got {type(value).__name__}.")
            for nested_key, name in binding.items():
                if nested_key not in value:
                    raise KeyError(f"Step '{step_id}' output '{key}': missing nested output key '{nested_key}'.")
                artifacts[name] = value[nested_key]
    return artifacts, metrics


def count_rows(value: Any) -> int | None:
    """trakt's row count: frames by rows, containers by the sum of their members, else None.

    Example:
        >>> count_rows({"a": {1, 2}, "b": "text", "c": range(3)}), count_rows([1, 2, 3])
        (5, None)
    """
    if value is None or isinstance(value, str | bytes):
        return None
    if isinstance(value, Mapping):
        return _sum_counts(value.values())
    if isinstance(value, list | tuple):
        return _sum_counts(value)
    try:
        return len(value)
    except TypeError:
        return None


def _sum_counts(values: Any) -> int | None:
    counts = [c for c in (count_rows(v) for v in values) if c is not None]
    return sum(counts) if counts else None
