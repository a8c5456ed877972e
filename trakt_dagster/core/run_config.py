"""A pipeline's run config on its op(s): the Dagster config schema of its `Config` class, inferred once per class.

An op whose function takes `config: SomeConfig` makes Dagster infer the config schema from the class for every
op it decorates (about half a millisecond each: a code location of 500 pipelines pays it 500 times, in step
granularity once per task). Here the schema is inferred once per class with Dagster's own function and given
to each op as `config_schema`; the op builds the `Config` object from its `op_config` with Dagster's own
function, exactly as Dagster does for a `config:` argument, so run config, the launchpad and the value the
pipeline receives are the same.

Example:
    >>> import dagster as dg
    >>> class Settings(dg.Config):
    ...     limit: int = 10
    >>> config_schema_of(Settings) is config_schema_of(Settings)
    True
"""

from __future__ import annotations

import functools
from typing import Any

import dagster as dg

# Dagster's own inference (what `@op` runs for a `config:` argument) and construction (what it runs before
# calling the op); not exported at the top level in Dagster 1.13.
from dagster._config.pythonic_config.config import infer_schema_from_config_class
from dagster._core.execution.plan.compute_generator import construct_config_from_context


def shares_schema(config_class: type | None) -> bool:
    """Whether `config_class` is a Dagster `Config` class (whose schema `config_schema_of` can share)."""
    return isinstance(config_class, type) and issubclass(config_class, dg.Config)


@functools.lru_cache(maxsize=256)
def config_schema_of(config_class: type[dg.Config]) -> Any:
    """The config schema (a Dagster `Field`) Dagster infers for an op argument `config: config_class`."""
    return infer_schema_from_config_class(config_class)


def config_fields_of(config_class: type[dg.Config]) -> dict[str, Any]:
    """`config_schema_of` as the mapping of fields a multi-asset's `config_schema` takes (Dagster wraps it in
    the same shape: the same run config, defaults and launchpad form)."""
    return dict(config_schema_of(config_class).config_type.fields)


def config_value(config_class: type[dg.Config], context: Any) -> dg.Config:
    """The `config_class` object of a running op (`context`: its asset or op execution context)."""
    op_context = getattr(context, "op_execution_context", context)
    return construct_config_from_context(config_class, op_context)
