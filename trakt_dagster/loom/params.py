"""A pipeline's `ETLParams` on Dagster: the run config form, and the params object built from it.

The run config of a loom pipeline's op is

```yaml
ops:
  <Pipeline>_pipeline:
    config:
      params: {run_date: "2026-03-30", region: eu}   # the ETLParams fields, with their defaults
      correlation_id: null                            # optional: loom's correlation id for this run
```

Field types follow the params class (`str`, `int`, `float`, `bool`, lists and dicts of them); dates,
datetimes, decimals and other values loom parses from text are strings in the form. The values are turned
into the params object by msgspec (what `ETLParams` is), before loom is called: a wrong value fails the run
with the field named, and loom never runs. With daily partitions the partition key fills the date field.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal

import dagster as dg
import pydantic

from trakt_dagster.core.names import dagster_name
from trakt_dagster.loom.model import LoomPipeline, ParamField

_PRIMITIVES = (str, int, float, bool)
_AT = re.compile(r" - at `\$\.([^`]+)`")


class ParamsError(ValueError):
    """Run config values that do not make a valid params object; names the field."""

    retryable = False


def dagster_type(annotation: Any) -> tuple[Any, str | None]:
    """The run config type of a params field annotation, and a note on the accepted text (or None).

    Example:
        >>> from datetime import date
        >>> dagster_type(date), dagster_type(int)
        ((<class 'str'>, 'a date, YYYY-MM-DD'), (<class 'int'>, None))
    """
    import datetime
    import decimal
    import uuid

    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation in _PRIMITIVES:
        return annotation, None
    if annotation is datetime.date:
        return str, "a date, YYYY-MM-DD"
    if annotation is datetime.datetime:
        return str, "a date and time, ISO 8601 (2026-03-30T06:00:00)"
    if annotation is datetime.time:
        return str, "a time, HH:MM[:SS]"
    if annotation in (decimal.Decimal, uuid.UUID):
        return str, f"a {annotation.__name__} as text"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        values = [member.value for member in annotation]
        return (str if all(isinstance(v, str) for v in values) else Any), f"one of {values}"
    if origin is Literal:
        kinds = {type(a) for a in args}
        only = next(iter(kinds)) if len(kinds) == 1 else None
        base = only if only in _PRIMITIVES else Any
        return base, f"one of {list(args)}"
    if origin in (types.UnionType, typing.Union):
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            inner, note = dagster_type(members[0])
            return inner | None, note
        return Any, None
    if origin in (list, tuple, set, frozenset) and args:
        inner, note = dagster_type(args[0])
        return list[inner], note
    if origin is dict and len(args) == 2 and args[0] is str:
        inner, note = dagster_type(args[1])
        return dict[str, inner], note
    return Any, None


def _builtins(value: Any) -> Any:
    import msgspec

    try:
        return msgspec.to_builtins(value)
    except (TypeError, msgspec.EncodeError):
        return str(value)


def run_config_class(pipeline: LoomPipeline) -> type[dg.Config]:
    """The Dagster `Config` class of a pipeline's op: `params` (the ETLParams fields) and `correlation_id`."""
    partition_field = pipeline.settings.partitions.field if pipeline.settings.partitions else None
    fields: dict[str, Any] = {}
    for field in pipeline.params:
        annotation, note = dagster_type(field.type)
        description = f"ETLParams field {field.name} ({_type_text(field.type)})" + (f": {note}" if note else "")
        if field.name == partition_field:
            fields[field.name] = (
                annotation | None,
                pydantic.Field(default=None, description=description + "; the partition key fills it"),
            )
        elif field.has_default:
            fields[field.name] = (annotation, pydantic.Field(default=_builtins(field.default), description=description))
        elif field.default_factory is not None:
            factory = field.default_factory
            fields[field.name] = (
                annotation,
                pydantic.Field(default_factory=lambda factory=factory: _builtins(factory()), description=description),
            )
        else:
            fields[field.name] = (annotation, pydantic.Field(description=description))
    base = dagster_name(pipeline.name)
    params_model = pydantic.create_model(f"{base}Params", __base__=dg.Config, **fields)
    required = any(f.required and f.name != partition_field for f in pipeline.params)
    params_field = (
        pydantic.Field(description=f"The {pipeline.params_class.__name__} of the run.")
        if required
        else pydantic.Field(
            default_factory=params_model, description=f"The {pipeline.params_class.__name__} of the run."
        )
    )
    return pydantic.create_model(
        f"{base}RunConfig",
        __base__=dg.Config,
        __doc__=f"Run config of the loom pipeline {pipeline.name}: its params and, optionally, a correlation id.",
        params=(params_model, params_field),
        correlation_id=(
            str | None,
            pydantic.Field(
                default=None,
                description="loom's correlation id for this run (default: derived from the root run id or "
                "the configured params field); CORRELATION temps are kept per id.",
            ),
        ),
    )


def build_params(pipeline: LoomPipeline, values: Mapping[str, Any], partition_key: str | None = None) -> Any:
    """The pipeline's params object from run config values (and the partition key); raises `ParamsError`."""
    import msgspec

    data = {k: v for k, v in values.items() if v is not None or _accepts_none(pipeline, k)}
    partitions = pipeline.settings.partitions
    if partitions is not None:
        if partition_key is None:
            raise ParamsError(
                f"Pipeline {pipeline.name} is partitioned by {partitions.field}: launch the run for a partition "
                "(a date, YYYY-MM-DD)."
            )
        data[partitions.field] = partition_key
    try:
        return msgspec.convert(data, pipeline.params_class)
    except msgspec.ValidationError as exc:
        text = str(exc)
        at = _AT.search(text)
        name = at.group(1).split(".")[0].split("[")[0] if at else None
        field = next((f for f in pipeline.params if f.name == name), None)
        message = _AT.sub("", text)
        if field is not None:
            given = data.get(field.name)
            expected = _type_text(field.type)
            raise ParamsError(
                f"Invalid params for {pipeline.name}: field '{field.name}' ({expected}) got {given!r}: {message}. "
                f"Fix params.{field.name} in the run config."
            ) from None
        raise ParamsError(f"Invalid params for {pipeline.name}: {message}.") from None


def coerce_param(pipeline: LoomPipeline, name: str, text: str) -> Any:
    """A `--param NAME=VALUE` value in the run config's type (numbers, booleans, JSON lists); raises `ParamsError`."""
    import msgspec

    field = next((f for f in pipeline.params if f.name == name), None)
    if field is None:
        known = ", ".join(f.name for f in pipeline.params) or "(none)"
        raise ParamsError(f"Pipeline {pipeline.name} has no params field '{name}'. Fields: {known}")
    annotation, _ = dagster_type(field.type)
    if annotation is str or annotation == (str | None):
        return text
    try:
        value = msgspec.json.decode(text) if text[:1] in "[{" else text
        return _builtins(msgspec.convert(value, field.type, strict=False))
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ParamsError(
            f"--param {name}={text}: not a valid {_type_text(field.type)} ({_AT.sub('', str(exc))})"
        ) from None


def _accepts_none(pipeline: LoomPipeline, name: str) -> bool:
    field: ParamField | None = next((f for f in pipeline.params if f.name == name), None)
    if field is None:
        return False
    return type(None) in typing.get_args(field.type) or (field.has_default and field.default is None)


def _type_text(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")
