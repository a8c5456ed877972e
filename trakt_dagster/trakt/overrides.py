"""Run-time overrides: `--input NAME=PATH` and `--param STEP.PARAM=VALUE` with trakt's rules and messages.

Differences from trakt (spec N11, N12): an input override for an unknown input is rejected with the
list of inputs, and malformed strings are clear `ConfigError`s instead of tracebacks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from trakt_dagster.trakt.errors import ConfigError
from trakt_dagster.trakt.model import Const, PipelineSpec


def parse_input_overrides(items: Iterable[str]) -> dict[str, str]:
    """`["src=data/a.csv"]` → `{"src": "data/a.csv"}` (split on the first `=`, both sides stripped).

    Example:
        >>> parse_input_overrides(["src = a.csv, b.csv"])
        {'src': 'a.csv, b.csv'}
    """
    parsed: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigError(f"Invalid input override '{item}'. Expected NAME=PATH.")
        parsed[name.strip()] = path.strip()
    return parsed


def parse_param_overrides(items: Iterable[str]) -> dict[str, Any]:
    """`["scale.factor=3"]` → `{"scale.factor": "3"}` (values stay text; YAML-parsed when applied).

    Example:
        >>> parse_param_overrides(["scale.factor=3", "scale.flags={x: 1}"])
        {'scale.factor': '3', 'scale.flags': '{x: 1}'}
    """
    parsed: dict[str, Any] = {}
    for item in items:
        target, sep, value = item.partition("=")
        step_id, dot, param = target.strip().partition(".")
        if not sep or not dot or not step_id.strip() or not param.strip() or not value.strip():
            raise ConfigError(f"Invalid param override '{item}'. Expected STEP_ID.PARAM=VALUE.")
        parsed[f"{step_id.strip()}.{param.strip()}"] = value.strip()
    return parsed


def check_input_overrides(spec: PipelineSpec, overrides: Mapping[str, str]) -> None:
    known = [i.name for i in spec.inputs]
    for name in overrides:
        if name not in known:
            raise ConfigError(
                f"Unknown input '{name}' in input overrides; pipeline '{spec.name}' has inputs: "
                f"{', '.join(known) or '(none)'}."
            )


def apply_const_overrides(spec: PipelineSpec, overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each step's bindings after `{"step.param": value}` overrides (string values parsed as YAML).

    Only top-level `{const: ...}` bindings can be overridden; the new value replaces the whole const.

    Example:
        >>> # apply_const_overrides(spec, {"scale.factor": "3"})["scale"]["factor"] == Const(3)
    """
    bindings = {step.id: dict(step.bindings) for step in spec.steps}
    for target, raw in overrides.items():
        step_id, dot, param = str(target).partition(".")
        if not dot or not step_id or not param:
            raise ConfigError(f"Invalid param override '{target}={raw}'. Expected STEP_ID.PARAM=VALUE.")
        if step_id not in bindings:
            raise ConfigError(f"Unknown step id '{step_id}' in param overrides.")
        if param not in bindings[step_id]:
            raise ConfigError(f"Step '{step_id}' has no binding named '{param}' to override.")
        if not isinstance(bindings[step_id][param], Const):
            raise ConfigError(f"Step '{step_id}' binding '{param}' is not a const binding.")
        bindings[step_id][param] = Const(parse_param_value(raw))
    return bindings


def parse_param_value(raw: Any) -> Any:
    """A `--param` value: text is parsed as YAML (`007` → 7, `'007'` → '007', `yes` → True).

    Example:
        >>> parse_param_value("007"), parse_param_value("'007'"), parse_param_value("{x: 1}")
        (7, '007', {'x': 1})
    """
    if not isinstance(raw, str):
        return raw
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"Param override value {raw!r} is not valid YAML: {exc}") from None
