"""trakt's pipeline validation (spec §2.9): message parts joined like trakt's, in trakt's order.

Steps are walked in list order with the names available so far (inputs first): forward references
are errors, there is no topological sort. Additions: an input used only by an output counts as used
(N4); in stream mode an artifact may have only one consumer (N13).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trakt_dagster.trakt.bindings import references
from trakt_dagster.trakt.model import CombineStrategy, PipelineSpec
from trakt_dagster.trakt.yaml_source import parse_key_text

Problem = tuple[str, tuple[Any, ...], str]
"""(message part, YAML key path of the first offending place, fix hint)"""

MODES = ("batch", "stream")


def validate_pipeline(spec: PipelineSpec, doc: Any = None) -> Iterator[Problem]:
    """Yield each problem part; an empty result means the pipeline is valid.

    Example:
        >>> # for part, where, hint in validate_pipeline(spec): print(part)
    """
    step_where = {s.id: ("steps", s.index - 1) for s in spec.steps}
    if spec.mode not in MODES:
        yield f"invalid execution mode={spec.mode}", ("execution", "mode"), "use 'batch' or 'stream'"

    incompatible = [s for s in spec.steps if not (s.supports_stream if spec.mode == "stream" else s.supports_batch)]
    if incompatible and spec.mode in MODES:
        yield (
            "mode incompatible steps=" + ", ".join(f"{s.id}:{spec.mode}" for s in incompatible),
            step_where[incompatible[0].id],
            f"use steps whose @step_contract sets supports_{spec.mode}=True",
        )
    if spec.mode == "stream":
        bad = [i for i in spec.inputs if i.kind.lower() == "csv" and i.combine_strategy is not CombineStrategy.CONCAT]
        if bad:
            yield (
                "mode incompatible inputs="
                + ", ".join(f"{i.name}:combine_strategy={i.combine_strategy.value}" for i in bad),
                ("inputs", bad[0].name, "combine_strategy"),
                "stream mode reads files one after another: use combine_strategy: concat",
            )

    available: dict[str, str] = {i.name: "pipeline input" for i in spec.inputs}
    consumed: set[str] = set()
    missing: list[tuple[str, str]] = []
    collisions: list[tuple[str, str, str]] = []
    for step in spec.steps:
        for value in step.input_bindings.values():
            for name in references(value):
                consumed.add(name)
                if name not in available:
                    missing.append((step.id, name))
        for name in step.produces:
            if name in available:
                collisions.append((step.id, name, available[name]))
            else:
                available[name] = step.id
    if missing:
        yield (
            "missing inputs=" + ", ".join(f"{s}:{n}" for s, n in missing),
            step_where[missing[0][0]] + ("with",),
            "reference only inputs or artifacts produced by an earlier step; wrap literals as {const: value}",
        )
    used_by_outputs = {o.source for o in spec.outputs}
    unused = sorted(i.name for i in spec.inputs if i.required and i.name not in consumed | used_by_outputs)
    if unused:
        yield (
            "unused inputs=" + ", ".join(unused),
            ("inputs", unused[0]),
            "use the input in a step or output, remove it, or set 'metadata: {required: false}'",
        )
    if collisions:
        yield (
            "output collisions=" + ", ".join(f"{s}:{n} (already defined by {owner})" for s, n, owner in collisions),
            step_where[collisions[0][0]] + ("with",),
            "give each step output a new artifact name",
        )
    unknown_outputs = [o for o in spec.outputs if o.source not in available]
    if unknown_outputs:
        yield (
            "unknown output bindings=" + ", ".join(f"{o.name}<-{o.source}" for o in unknown_outputs),
            _output_where(spec, unknown_outputs[0].name),
            "'from' must name an input or an artifact a step produces",
        )
    literals = [
        (step.id, key, value)
        for step in spec.steps
        for key, value in step.input_bindings.items()
        if isinstance(value, str) and value not in available
    ]
    if literals:
        yield (
            "suspected literal bindings (use {const: value})=" + ", ".join(f"{s}.{k}='{v}'" for s, k, v in literals),
            step_where[literals[0][0]] + ("with", literals[0][1]),
            "a bare string is an artifact reference; write literals as {const: value}",
        )
    if spec.mode == "stream":
        yield from _stream_consumers(spec, step_where)


def _stream_consumers(spec: PipelineSpec, step_where: dict[str, tuple[Any, ...]]) -> Iterator[Problem]:
    consumers: dict[str, list[str]] = {}
    for step in spec.steps:
        for value in step.input_bindings.values():
            for name in dict.fromkeys(references(value)):
                consumers.setdefault(name, []).append(f"step '{step.id}'")
    for output in spec.outputs:
        consumers.setdefault(output.source, []).append(f"output '{output.name}'")
    for name, users in consumers.items():
        if len(users) > 1:
            yield (
                f"stream artifact '{name}' has more than one consumer ({', '.join(users)})",
                ("steps",),
                "a stream can be read only once: let one step consume it and produce separate artifacts",
            )


def _output_where(spec: PipelineSpec, name: str) -> tuple[Any, ...]:
    for output in spec.outputs:
        if output.name == name and output.location is not None and output.location.key:
            return parse_key_text(output.location.key) + ("from",)
    return ("outputs",)
