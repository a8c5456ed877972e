"""Find the `ETLPipeline` classes of a pipeline module, compile them with loom and read the plans.

A pipeline module exposes its pipelines as module-level classes (subclasses of `ETLPipeline`, not starting
with `_`); `loom_pipelines = [Nightly, ...]` in the module restricts the list. Each is compiled by loom's
own `ETLCompiler`, so every compile-time rule of loom applies at definition load: a compile error becomes
a `LoadError` with loom's message and error code, the class it names, and that class's file and line.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from trakt_dagster.core.errors import LoadError, SourceLocation
from trakt_dagster.core.pymodules import PipelineModule
from trakt_dagster.loom.config import RunnerConfig
from trakt_dagster.loom.datasets import source_dataset, target_dataset
from trakt_dagster.loom.model import DatasetKind, LoomPipeline, LoomSource, LoomStep, ParamField
from trakt_dagster.loom.observers import OBSERVERS_ATTRIBUTE, observers_problem

TOOL = "loom"
PIPELINES_ATTRIBUTE = "loom_pipelines"

_HINTS = {
    "MISSING_GENERIC_PARAM": "declare the params class as the generic argument, e.g. `class X(ETLStep[MyParams])`",
    "MISSING_SOURCE_PARAMS": "add every source name as a keyword-only parameter of execute(), after `*`",
    "EXTRA_SOURCE_PARAMS": "remove the parameter from execute(), or declare a source (or FromConfig) of that name",
    "INVALID_PARAMS_TYPE": "type execute()'s first parameter as the step's params class: `params: MyParams`",
    "INVALID_PARAMS_NAME": "name execute()'s first parameter `params`",
    "MISSING_PARAMS_FIELDS": "add the fields to the pipeline's params class (or give the step a params class "
    "whose fields the pipeline's params have)",
    "TEMP_NOT_PRODUCED": "write the temp (IntoTemp) in an earlier node of the plan: a writer in the same parallel "
    "group, or in a process running in parallel with this one, does not count",
    "DUPLICATE_TEMP_NAME": "give each temp its own name, or write it with append=True in every writer (fan-in)",
    "INVALID_TEMP_APPEND_MIX": "use append=True in every writer of this temp, or in none",
    "MISSING_TARGET": "declare `target = IntoTable(...)` (or IntoFile / IntoTemp / IntoHistory)",
    "INVALID_TARGET_TYPE": "declare `target = IntoTable(...)` (or IntoFile / IntoTemp / IntoHistory)",
    "INVALID_STEP_ITEM": "list ETLStep subclasses in steps (nested lists for parallel groups)",
    "INVALID_PROCESS_ITEM": "list ETLProcess subclasses in processes (nested lists for parallel groups)",
    "UNKNOWN_PARAM_FIELD": "use a field of the params class in the params expression",
    "UNKNOWN_TEMPLATE_FIELD": "use a field of the params class in the {placeholder} of the path",
}


def pipeline_classes(found: PipelineModule) -> list[tuple[str, type]]:
    """`(attribute, class)` of every pipeline a module exposes (module-level `ETLPipeline` subclasses)."""
    from loom.etl import ETLPipeline

    module = found.module
    chosen = getattr(module, PIPELINES_ATTRIBUTE, None)
    found_classes: list[tuple[str, type]] = []
    for attribute, value in vars(module).items():
        if attribute.startswith("_") or not isinstance(value, type) or value is ETLPipeline:
            continue
        if issubclass(value, ETLPipeline):
            found_classes.append((attribute, value))
    if chosen is not None:
        wanted = {id(item) for item in chosen} if isinstance(chosen, list | tuple) else set()
        found_classes = [(a, c) for a, c in found_classes if id(c) in wanted]
    return found_classes


def inspecting(found: PipelineModule) -> AbstractContextManager[None]:
    """While active, the module's folder namespace is importable, so `inspect` finds class sources."""
    return found.namespace.active() if found.namespace is not None else nullcontext()


def defined_in(cls: type, path: Path) -> bool:
    """Whether `cls` is defined in the file `path` (not imported from elsewhere); use inside `inspecting`."""
    file = _source_file(cls)
    return file is not None and file == path


def load_pipeline(
    found: PipelineModule,
    attribute: str,
    cls: type,
    config: RunnerConfig,
) -> tuple[LoomPipeline | None, list[LoadError], list[LoadError]]:
    """Compile one pipeline class; returns the pipeline (or None), its errors and its warnings."""
    with inspecting(found):
        return _load_pipeline(found, attribute, cls, config)


def _load_pipeline(
    found: PipelineModule, attribute: str, cls: type, config: RunnerConfig
) -> tuple[LoomPipeline | None, list[LoadError], list[LoadError]]:
    from loom.etl.compiler import ETLCompilationError, ETLCompiler

    path = found.path
    line = _line(cls) if defined_in(cls, path) else None
    try:
        plan = ETLCompiler().compile(cls)
    except ETLCompilationError as exc:
        return None, [compile_error(exc, cls, path)], []
    except Exception as exc:  # noqa: BLE001 - anything else loom raises while compiling user classes
        return (
            None,
            [
                LoadError(
                    f"loom cannot compile {cls.__qualname__}: {type(exc).__name__}: {exc}",
                    SourceLocation(path, line, cls.__qualname__),
                    "fix the pipeline's classes as the message says",
                    TOOL,
                )
            ],
            [],
        )
    observers = getattr(found.module, OBSERVERS_ATTRIBUTE, None)
    problem = observers_problem(observers)
    if problem is not None:
        return None, [observers_error(problem, found)], []
    steps, processes = read_plan(plan)
    warnings = same_name_warnings(steps, path, line, cls.__qualname__)
    same_names = _same_names(steps)
    doc = inspect.cleandoc(cls.__doc__) if cls.__doc__ else None
    params_class = plan.params_type
    pipeline = LoomPipeline(
        name=cls.__name__,
        pipeline_class=cls,
        plan=plan,
        params_class=params_class,
        params=params_fields(params_class),
        steps=tuple(steps),
        processes=tuple(processes),
        module_path=path,
        attribute=attribute,
        line=line,
        config=config,
        settings=config.settings_for(cls.__name__),
        namespace=found.namespace,
        description=doc.split("\n\n")[0].replace("\n", " ") if doc else None,
        qualname=cls.__qualname__,
        same_name_steps=same_names,
        observers=observers,
    )
    return pipeline, [], warnings


def observers_error(problem: str, found: PipelineModule) -> LoadError:
    """A module's unusable `loom_observers` as a load error at the line that sets it."""
    line = next(
        (
            number
            for number, text in enumerate(found.path.read_text(errors="replace").splitlines(), 1)
            if text.startswith(OBSERVERS_ATTRIBUTE)
        ),
        None,
    )
    return LoadError(
        problem,
        SourceLocation(found.path, line, OBSERVERS_ATTRIBUTE),
        "set loom_observers = [MyObserver(), ...] (objects with an on_event(event) method) or a function "
        "returning such a list",
        TOOL,
    )


def compile_error(exc: Any, pipeline_class: type, module_path: Path) -> LoadError:
    """A loom `ETLCompilationError` as a load error naming the class (its file and line) and the code."""
    code = str(getattr(exc.code, "value", exc.code))
    component = getattr(exc, "component", "") or pipeline_class.__qualname__
    target = _find_component(pipeline_class, component) or pipeline_class
    file = _source_file(target) or module_path
    key = component if not getattr(exc, "field", None) else f"{component}.{exc.field}"
    return LoadError(
        f"loom compile error {code} in {component} (pipeline {pipeline_class.__name__}): {exc}",
        SourceLocation(file, _line(target), key),
        _HINTS.get(code, "fix the class as loom's message says"),
        TOOL,
    )


def read_plan(plan: Any) -> tuple[list[LoomStep], list[tuple[str, tuple[str, ...]]]]:
    """Every step occurrence of a compiled plan, in plan order, with the occurrences it comes after."""
    from loom.etl.compiler import ParallelProcessGroup

    raw: list[dict[str, Any]] = []
    processes: list[tuple[int, str]] = []
    groups = 0
    previous_tail: list[int] = []
    for pnode in plan.nodes:
        procs = pnode.plans if isinstance(pnode, ParallelProcessGroup) else (pnode,)
        node_tail: list[int] = []
        for proc in procs:
            process_index = len(processes)
            processes.append((process_index, proc.process_type.__name__))
            tail = list(previous_tail)
            for snode in proc.nodes:
                members = list(_flatten_steps(snode))
                group = None
                if len(members) > 1 or _is_group(snode):
                    groups += 1
                    group = groups
                here = []
                for step_plan in members:
                    raw.append(
                        {
                            "plan": step_plan,
                            "process": proc.process_type.__name__,
                            "process_index": process_index,
                            "deps": tuple(tail),
                            "group": group,
                        }
                    )
                    here.append(len(raw) - 1)
                if here:
                    tail = here
            node_tail.extend(i for i in tail if i not in node_tail)
        previous_tail = node_tail or previous_tail
    keys = _occurrence_keys(raw)
    steps = [_step(entry, keys[i], tuple(keys[d] for d in entry["deps"])) for i, entry in enumerate(raw)]
    by_process: dict[int, list[str]] = {index: [] for index, _ in processes}
    for entry, key in zip(raw, keys):
        by_process[entry["process_index"]].append(key)
    return steps, [(name, tuple(by_process[index])) for index, name in processes]


def params_fields(params_class: Any) -> tuple[ParamField, ...]:
    """The fields of an `ETLParams` class (a msgspec struct)."""
    import msgspec

    if params_class is None:
        return ()
    try:
        infos = msgspec.structs.fields(params_class)
    except TypeError:
        return ()
    fields = []
    for info in infos:
        has_default = info.default is not msgspec.NODEFAULT
        factory = info.default_factory if info.default_factory is not msgspec.NODEFAULT else None
        fields.append(ParamField(info.name, info.type, info.default if has_default else None, has_default, factory))
    return tuple(fields)


def same_name_warnings(steps: Iterable[LoomStep], path: Path, line: int | None, pipeline: str) -> list[LoadError]:
    """loom's `include` selects by bare class name: different classes sharing a name run together."""
    warnings = []
    for name, classes in _same_names(steps).items():
        warnings.append(
            LoadError(
                f"Pipeline {pipeline}: different step classes are all named {name} ({', '.join(classes)}); loom's "
                "include selects steps by class name, so selecting one of them in Dagster runs all of them.",
                SourceLocation(path, line, pipeline),
                "rename one of the classes if they should run separately",
                TOOL,
            )
        )
    return warnings


# -- helpers ----------------------------------------------------------------------------------
def _same_names(steps: Iterable[LoomStep]) -> dict[str, tuple[str, ...]]:
    by_name: dict[str, dict[str, None]] = {}
    for step in steps:
        by_name.setdefault(step.name, {})[f"{step.module}.{step.qualname}"] = None
    return {name: tuple(classes) for name, classes in by_name.items() if len(classes) > 1}


def _is_group(node: Any) -> bool:
    return type(node).__name__ == "ParallelStepGroup"


def _flatten_steps(node: Any) -> Iterator[Any]:
    if _is_group(node):
        for member in node.plans:
            yield from _flatten_steps(member)
    else:
        yield node


def _occurrence_keys(raw: list[dict[str, Any]]) -> list[str]:
    names = [entry["plan"].step_type.__name__ for entry in raw]
    qualified = [f"{entry['process']}.{name}" for entry, name in zip(raw, names)]
    keys = []
    seen: dict[str, int] = {}
    for name, full in zip(names, qualified):
        base = name if names.count(name) == 1 else full
        if qualified.count(full) > 1:
            seen[full] = seen.get(full, 0) + 1
            base = f"{full}#{seen[full]}"
        keys.append(base)
    return keys


def _step(entry: dict[str, Any], key: str, deps: tuple[str, ...]) -> LoomStep:
    plan = entry["plan"]
    cls = plan.step_type
    doc = inspect.cleandoc(cls.__doc__) if cls.__doc__ else None
    sources = tuple(LoomSource(b.alias, source_dataset(b.spec)) for b in plan.source_bindings)
    target = target_dataset(plan.target_binding.spec)
    return LoomStep(
        key=key,
        name=cls.__name__,
        process=entry["process"],
        process_index=entry["process_index"],
        step_class=cls,
        sources=sources,
        target=target,
        plan_deps=deps,
        parallel_group=entry["group"],
        streaming=bool(plan.streaming),
        step_kind=_step_kind(cls),
        module_path=_source_file(cls),
        line=_line(cls),
        description=doc,
        qualname=cls.__qualname__,
        module=cls.__module__,
    )


def _step_kind(cls: type) -> str:
    from loom.etl import ClientStep, StepSQL

    if issubclass(cls, StepSQL):
        return "sql"
    if issubclass(cls, ClientStep):
        return "client"
    return "step"


def _find_component(pipeline_class: type, qualname: str) -> type | None:
    """The pipeline, process or step class whose `__qualname__` loom's error names."""
    for cls in _classes(pipeline_class):
        if cls.__qualname__ == qualname:
            return cls
    return None


def _classes(pipeline_class: type) -> Iterator[type]:
    yield pipeline_class
    for process in _items(getattr(pipeline_class, "processes", [])):
        if isinstance(process, type):
            yield process
            for step in _items(getattr(process, "steps", [])):
                if isinstance(step, type):
                    yield step


def _items(value: Any) -> Iterator[Any]:
    if isinstance(value, list | tuple):
        for item in value:
            yield from _items(item)
    else:
        yield value


def _source_file(obj: Any) -> Path | None:
    try:
        file = inspect.getsourcefile(obj)
    except (TypeError, OSError):
        return None
    return Path(file).resolve() if file else None


def _line(obj: Any) -> int | None:
    try:
        return inspect.getsourcelines(obj)[1]
    except (TypeError, OSError):
        return None


def reads_temp(step: LoomStep) -> tuple[str, ...]:
    """Names of the temps a step reads."""
    return tuple(d.ref for d in step.reads(DatasetKind.TEMP))
