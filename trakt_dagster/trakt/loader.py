"""Load `pipeline.yaml` with trakt's rules, collecting every problem with its file, line and key.

Messages keep trakt's wording (users know them); each error adds where it is and how to fix it.
Decisions that differ from trakt (spec §5.1): duplicate step ids and dataset names are errors (N6,
N7), a bad `combine_strategy` is a load error (N9), execution modes are compared after normalising
(N10), an input used only by an output counts as used (N4), and `sys.path` is left unchanged (N2).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from trakt_dagster.core.errors import LoadError, SourceLocation, excerpt
from trakt_dagster.core.modules import ModuleNamespace
from trakt_dagster.core.path_text import name_problem, path_text_problem
from trakt_dagster.core.paths import escapes_folder, folder_name_problem
from trakt_dagster.core.source_text import MAX_BYTES, leading_comment_of
from trakt_dagster.core.text_files import TextFileError, read_config_text
from trakt_dagster.trakt import compat_import
from trakt_dagster.trakt.bindings import normalize_binding, output_binding_error, split_bindings
from trakt_dagster.trakt.contract import handler_contract
from trakt_dagster.trakt.csv_io import schema_shape_error
from trakt_dagster.trakt.errors import StepBindingError
from trakt_dagster.trakt.model import Artifact, CombineStrategy, Const, OutputDataset, PipelineSpec, StepSpec
from trakt_dagster.trakt.policies import QualityGatePolicy
from trakt_dagster.trakt.registry import StepRegistry
from trakt_dagster.trakt.settings import parse_settings
from trakt_dagster.trakt.validate import validate_pipeline
from trakt_dagster.trakt.yaml_source import KeyPath, YamlDocument, YamlLimitError, key_text

INPUT_KEYS = frozenset({"kind", "uri", "schema", "metadata", "combine_strategy"})
STEP_KEYS = frozenset({"id", "uses", "with"})
DATASET_KEYS = frozenset({"name", "from", "kind", "uri", "metadata"})
LEGACY_OUTPUT_KEYS = frozenset({"from", "kind", "uri", "metadata"})
TOOL = "trakt"


class _Problems:
    """Collects load errors for one file, locating each by its key path."""

    def __init__(self, path: Path, doc: YamlDocument | None) -> None:
        self.path = path
        self.doc = doc
        self.errors: list[LoadError] = []
        self.pipeline = path.parent.name
        """The pipeline the errors belong to: the folder's name until the file's `name:` is known."""

    def location(self, where: KeyPath) -> SourceLocation:
        line = self.doc.line(where) if self.doc is not None else None
        return SourceLocation(self.path, line, key_text(where) or None)

    def add(self, message: str, where: KeyPath = (), hint: str | None = None) -> None:
        self.errors.append(LoadError(message, self.location(where), hint, TOOL, self.pipeline))

    def attributed(self) -> list[LoadError]:
        """Every error, attributed to the pipeline's name (known only after the file was parsed)."""
        return [e if e.pipeline == self.pipeline else e.for_pipeline(self.pipeline) for e in self.errors]


def load_pipeline_spec(
    path: Path,
    *,
    strict: bool = True,
    registry: StepRegistry | None = None,
    folder: Path | None = None,
) -> tuple[PipelineSpec | None, list[LoadError]]:
    """Parse and validate one `pipeline.yaml`. Returns the spec (None if unusable) and every error found.
    `folder`: the file's folder, resolved, when the caller knows it (else it is resolved here).

    Example:
        >>> # spec, errors = load_pipeline_spec(Path("pipelines/sales/pipeline.yaml"))
        >>> # if errors: print("\\n".join(e.render() for e in errors))
    """
    path = Path(path)
    problems = _Problems(path, None)
    try:
        text = read_config_text(path)
    except OSError as exc:
        problems.add(f"Failed to read pipeline file '{path}': {exc}", hint="check the path and its permissions")
        return None, problems.attributed()
    except TextFileError as exc:
        problems.errors.append(
            LoadError(
                f"Failed to read pipeline file '{path}': {exc}",
                SourceLocation(path, exc.line),
                "save the file as UTF-8 text (trakt reads pipeline files as UTF-8)",
                TOOL,
            )
        )
        return None, problems.attributed()
    try:
        doc = YamlDocument.parse_file(text, path)
    except YamlLimitError as exc:
        problems.errors.append(
            LoadError(
                f"Invalid YAML in '{path}': {exc}.",
                SourceLocation(path, exc.line),
                "simplify the YAML at that line: quote values meant as text, and avoid deep nesting and "
                "aliases that repeat large blocks",
                TOOL,
            )
        )
        return None, problems.attributed()
    except yaml.YAMLError as exc:
        problems.errors.append(
            LoadError(
                f"Invalid YAML in '{path}': {exc}",
                SourceLocation(path, _yaml_error_line(exc, text)),
                "fix the YAML syntax at that line (indentation, quotes, a missing ':')",
                TOOL,
            )
        )
        return None, problems.attributed()
    problems.doc = doc
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        problems.add(
            f"Pipeline file '{path}' must contain a mapping at the root.",
            hint="start the file with keys such as 'name:', 'inputs:', 'steps:' and 'outputs:'",
        )
        return None, problems.attributed()

    name = _pipeline_name(data, path, problems)
    problems.pipeline = name
    mode = _parse_mode(data, problems)
    settings = parse_settings(data.get("dagster"), problems.add)
    compat_import.install()
    namespace = ModuleNamespace(folder, resolved=True) if folder is not None else ModuleNamespace(path.parent)
    registry = registry or StepRegistry.from_entry_points()
    inputs = _parse_inputs(data.get("inputs"), strict, problems)
    with namespace.active():  # one namespace switch for all the step modules (a nested import costs nothing)
        steps = _parse_steps(data.get("steps"), strict, name, registry, namespace, problems)
    outputs = _parse_outputs(data.get("outputs"), strict, problems)
    spec = PipelineSpec(
        name=name,
        source_file=path,
        mode=mode,
        inputs=tuple(inputs),
        steps=tuple(steps),
        outputs=tuple(outputs),
        strict=strict,
        settings=settings,
        namespace=namespace,
        file_comment=(leading_comment_of(text, path.suffix) or "") if len(text) <= MAX_BYTES else "",
    )
    for message, where, hint in path_problems(spec):
        problems.add(message, where, hint)
    if not problems.errors:
        for part, where, hint in validate_pipeline(spec, doc):
            problems.add(f"Pipeline '{name}' is invalid: {part}", where, hint)
    return (spec if not problems.errors else None), problems.attributed()


def _listed(names: list[str], limit: int = 10) -> str:
    """`a, b, c`, or the first `limit` names and how many more."""
    shown = ", ".join(n if len(n) <= 40 else f"{n[:40]}..." for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _path_ok(text: str, label: str, where: KeyPath, problems: _Problems) -> bool:
    """Report a path value that no file system can use (NUL byte, over-long names); True when usable."""
    problem = path_text_problem(text)
    if problem:
        problems.add(f"{label} {excerpt(text)} {problem}.", where, "write a path of ordinary file and folder names")
    return problem is None


def _yaml_error_line(exc: yaml.YAMLError, text: str) -> int | None:
    """The 1-based line PyYAML names: its marks, or the position of a character it refused."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return mark.line + 1
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        return text.count("\n", 0, position) + 1
    return None


def pipeline_name(path: Path) -> str | None:
    """The name `load_pipeline_spec` gives the pipeline of `path`, read without validating the file or
    importing its step modules (for a run of another pipeline, which needs the names only to check
    collisions); None when the file cannot be read or parsed (then only the full load can say why).

    Example:
        >>> # pipeline_name(Path("pipelines/sales/pipeline.yaml")) -> "sales"
    """
    try:
        found = _top_level_value(read_config_text(path), "name")
    except (OSError, TextFileError, yaml.YAMLError, _Unsure):
        return None
    return _pipeline_name({} if found is _ABSENT else {"name": found}, Path(path), _Problems(Path(path), None))


class _Unsure(Exception):
    """Only the full parse can tell (an alias, a tag, a merge key, a repeated key, several documents...)."""


_ABSENT = object()


def _top_level_value(text: str, key: str) -> Any:
    """The scalar value of `key` in the document's top-level mapping (`_ABSENT` when it has no such key),
    read from libyaml's event stream without building the document; raises `_Unsure` when the value is not a
    plain or quoted scalar, or the document is not one plain mapping."""
    loader = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader
    events = iter(yaml.parse(text, Loader=loader))
    kinds = [type(next(events, None)) for _ in range(3)]
    if kinds != [yaml.StreamStartEvent, yaml.DocumentStartEvent, yaml.MappingStartEvent]:
        raise _Unsure
    value, depth, expect_key = _ABSENT, 1, True
    for event in events:
        if depth == 1 and expect_key:
            if isinstance(event, yaml.MappingEndEvent):
                depth = 0
                continue
            if not isinstance(event, yaml.ScalarEvent) or event.value == "<<":
                raise _Unsure
            if event.value == key:
                if value is not _ABSENT:
                    raise _Unsure
                value = _scalar(next(events))
                continue  # the value was read: the next event is a key again
            expect_key = False
            continue
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1
        elif isinstance(event, yaml.DocumentStartEvent):
            raise _Unsure  # a second document
        if depth == 1:
            expect_key = True
    return value


def _scalar(event: yaml.Event) -> Any:
    """A scalar event's value as `yaml.safe_load` gives it (plain scalars resolved: `2026` is an int)."""
    if not isinstance(event, yaml.ScalarEvent) or event.tag not in (None, "!"):
        raise _Unsure
    if event.style not in (None, "") or event.tag == "!":  # quoted or block (libyaml's plain style is ""): text
        return event.value
    return yaml.safe_load(event.value) if event.value else None


def _pipeline_name(data: Mapping[str, Any], path: Path, problems: _Problems) -> str:
    """`name` (a scalar, coerced with `str()` as trakt does) if given, else the folder's name."""
    raw = data.get("name")
    if not raw:
        return path.parent.name
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        problems.add(
            f"Pipeline 'name' must be a string, not {type(raw).__name__} {excerpt(raw)}.",
            ("name",),
            "write the name as text, e.g. 'name: sales', or leave it out to use the folder's name",
        )
        return path.parent.name
    problem = name_problem(str(raw))
    if problem:
        problems.add(
            f"Pipeline 'name' {excerpt(str(raw))} {problem}.",
            ("name",),
            "give the pipeline a short name of letters, digits, '_' or '-' (or leave it out to use the folder's)",
        )
        return path.parent.name
    return str(raw)


def path_problems(spec: PipelineSpec) -> list[tuple[str, KeyPath, str]]:
    """Names that would leave their folder: the pipeline name (a folder under the `trakt_paths` roots) and
    dataset names written without a `uri` (`<output_dir>/<name><ext>`). As (message, key path, hint).

    Example:
        >>> # path_problems(spec) -> [("Pipeline name '..' cannot be a folder name: ...", ("name",), "...")]
    """
    found: list[tuple[str, KeyPath, str]] = []
    problem = folder_name_problem(spec.name)
    if problem:
        found.append(
            (
                f"Pipeline name '{spec.name}' cannot be a folder name: {problem}.",
                ("name",),
                "the name becomes a folder under the trakt_paths input/output roots: use letters, digits, '-', '_'",
            )
        )
    for output in spec.outputs:
        if not output.uri and escapes_folder(output.name):
            found.append(
                (
                    f"Output dataset '{output.name}' would be written outside the output folder.",
                    ("outputs",),
                    "give the dataset a plain name, or an explicit 'uri' if it must go elsewhere",
                )
            )
    return found


# -- execution mode ---------------------------------------------------------------------------------
def _parse_mode(data: Mapping[str, Any], problems: _Problems) -> str:
    execution = data.get("execution")
    mode: str | None = None
    if execution is not None:
        if not isinstance(execution, dict):
            problems.add("Pipeline 'execution' must be a mapping.", ("execution",), "write 'execution: {mode: batch}'")
        else:
            raw = execution.get("mode")
            if raw is not None and not isinstance(raw, str):
                problems.add(
                    "Pipeline 'execution.mode' must be a string.",
                    ("execution", "mode"),
                    "use 'batch' or 'stream'",
                )
            elif raw is not None:
                mode = raw
    legacy = data.get("execution_mode")
    if legacy is not None and not isinstance(legacy, str):
        problems.add("Pipeline 'execution_mode' must be a string.", ("execution_mode",), "use 'batch' or 'stream'")
        legacy = None
    if mode is not None and legacy is not None and _norm_mode(mode) != _norm_mode(legacy):
        problems.add(
            "Pipeline defines conflicting execution modes in 'execution.mode' and 'execution_mode'.",
            ("execution_mode",),
            "keep only 'execution.mode' ('execution_mode' is the legacy spelling)",
        )
    return _norm_mode(mode if mode is not None else legacy)


def _norm_mode(value: str | None) -> str:
    text = (value or "").strip().lower()
    return text or "batch"


# -- inputs -----------------------------------------------------------------------------------------
def _parse_inputs(raw: Any, strict: bool, problems: _Problems) -> list[Artifact]:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        problems.add(
            "Pipeline 'inputs' must be a mapping.",
            ("inputs",),
            "write inputs as 'name: path' or 'name: {uri: ...}'",
        )
        return []
    parsed: list[Artifact] = []
    for raw_name, definition in raw.items():
        name = str(raw_name)
        where: KeyPath = ("inputs", name)
        loc = problems.location(where)
        if definition is None:
            parsed.append(Artifact(name=name, location=loc))
            continue
        if isinstance(definition, str):
            if _path_ok(definition, f"Input '{name}'", where, problems):
                parsed.append(Artifact(name=name, uri=definition, location=loc))
            continue
        if not isinstance(definition, dict):
            problems.add(
                f"Input '{name}' must be a mapping or string.",
                where,
                "give a path string or a mapping with 'uri:'",
            )
            continue
        metadata = definition.get("metadata") or {}
        if not isinstance(metadata, dict):
            problems.add(
                f"Input '{name}' field 'metadata' must be a mapping.",
                (*where, "metadata"),
                "write CSV options as a mapping, e.g. 'metadata: {delimiter: \";\"}'",
            )
            metadata = {}
        metadata = dict(metadata)
        unknown = sorted(str(k) for k in definition if k not in INPUT_KEYS)
        if unknown and strict:
            problems.add(
                f"Input '{name}' has unknown fields: {_listed(unknown)}.",
                (*where, unknown[0]),
                f"move them under 'metadata:' (allowed here: {', '.join(sorted(INPUT_KEYS))}) or run lenient",
            )
        elif unknown:
            metadata.update({k: v for k, v in definition.items() if str(k) in unknown})
        strategy_raw = definition.get("combine_strategy", "concat")
        try:
            strategy = CombineStrategy(strategy_raw)
        except (ValueError, TypeError):
            problems.add(
                f"Input '{name}' field 'combine_strategy' has invalid value {excerpt(strategy_raw)}.",
                (*where, "combine_strategy"),
                f"use one of: {', '.join(s.value for s in CombineStrategy)}",
            )
            strategy = CombineStrategy.CONCAT
        schema = definition.get("schema")
        schema_error = schema_shape_error(schema)
        if schema_error:
            problems.add(f"Input '{name}' {schema_error}", (*where, "schema"), "see docs/trakt.md, 'Input schema'")
            schema = None
        kind = definition.get("kind", "csv")
        if not isinstance(kind, str) or not kind.strip():
            problems.add(
                f"Input '{name}' field 'kind' must be a non-empty string, not {excerpt(kind)}.",
                (*where, "kind"),
                "use an artifact kind such as 'csv' (the default), or one a plugin registers",
            )
            continue
        uri = definition.get("uri")
        if uri is not None and (isinstance(uri, bool) or not isinstance(uri, str | int | float)):
            problems.add(
                f"Input '{name}' field 'uri' must be a string, not {type(uri).__name__} {excerpt(uri)}.",
                (*where, "uri"),
                "give a path, a glob or a comma-separated list of them, e.g. 'uri: \"orders/*.csv\"'",
            )
            continue
        if uri is not None and not _path_ok(str(uri), f"Input '{name}' field 'uri'", (*where, "uri"), problems):
            continue
        parsed.append(
            Artifact(
                name=name,
                kind=kind,
                uri=str(uri) if uri is not None else name,
                schema=schema,
                metadata=metadata,
                combine_strategy=strategy,
                location=loc,
            )
        )
    return parsed


# -- steps ------------------------------------------------------------------------------------------
def _parse_steps(
    raw: Any,
    strict: bool,
    pipeline: str,
    registry: StepRegistry,
    namespace: ModuleNamespace,
    problems: _Problems,
) -> list[StepSpec]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add("Pipeline 'steps' must be a list.", ("steps",), "write each step as '- id: ...' under 'steps:'")
        return []
    parsed: list[StepSpec] = []
    first_seen: dict[str, int] = {}
    for position, definition in enumerate(raw, start=1):
        where: KeyPath = ("steps", position - 1)
        if not isinstance(definition, dict):
            problems.add(f"Step #{position} must be a mapping.", where, "give the step 'id:', 'uses:' and 'with:'")
            continue
        unknown = sorted(str(k) for k in definition if k not in STEP_KEYS)
        if unknown and strict:
            problems.add(
                f"Step #{position} has unknown fields: {_listed(unknown)}.",
                (*where, unknown[0]),
                "a step has only 'id', 'uses' and 'with'; remove the others (lenient mode drops them)",
            )
        step_id = definition.get("id")
        if not step_id or not isinstance(step_id, str):
            problems.add(
                f"Step #{position} missing string 'id'." + _got(definition, "id"),
                (*where, "id") if "id" in definition else where,
                "add 'id: <unique name>' to the step",
            )
            continue
        if step_id in first_seen:
            problems.add(
                f"Duplicate step id '{step_id}' (steps #{first_seen[step_id]} and #{position}).",
                (*where, "id"),
                "give every step its own id; --param and the manifest refer to steps by id",
            )
            continue
        first_seen[step_id] = position
        uses = definition.get("uses")
        if not uses or not isinstance(uses, str):
            problems.add(
                f"Step '{step_id}' missing string 'uses'." + _got(definition, "uses"),
                (*where, "uses") if "uses" in definition else where,
                "add 'uses: <module path or registered alias>' to the step",
            )
            continue
        bindings_raw = definition.get("with")
        if bindings_raw is None:
            bindings_raw = {}
        if not isinstance(bindings_raw, dict):
            problems.add(
                f"Step '{step_id}' field 'with' must be a mapping.",
                (*where, "with"),
                "write bindings as 'with: {input: <artifact>, output: <artifact>}'",
            )
            continue
        try:
            handler = registry.resolve_uses(uses, namespace)
        except Exception as exc:  # noqa: BLE001 - any import-time failure of user code is a load error
            problems.add(
                f"Failed to resolve step '{step_id}' using '{uses}': {_describe(exc)}",
                (*where, "uses"),
                f"'uses' must name a registered alias or a module (relative to {problems.path.parent}) "
                "that defines a callable 'run(ctx, **kwargs)'",
            )
            continue
        step = _build_step(pipeline, step_id, uses, position, handler, bindings_raw, problems, where)
        if step is not None:
            parsed.append(step)
    return parsed


def _build_step(
    pipeline: str,
    step_id: str,
    uses: str,
    position: int,
    handler: Any,
    bindings_raw: dict[str, Any],
    problems: _Problems,
    where: KeyPath,
) -> StepSpec | None:
    try:
        bindings = {str(k): normalize_binding(v, step_id=step_id, key=str(k)) for k, v in bindings_raw.items()}
        declared_in, declared_out, batch, stream = handler_contract(handler)
        input_keys, output_keys = split_bindings(step_id, bindings, declared_in, declared_out)
    except (StepBindingError, ValueError, TypeError) as exc:
        problems.add(
            f"Pipeline '{pipeline}' is invalid: {exc}",
            (*where, "with"),
            "bind every name the step's @step_contract declares, and only those",
        )
        return None
    ok = True
    policy = bindings.get("policy")
    if getattr(handler, "quality_gate", False) and isinstance(policy, Const):
        try:
            QualityGatePolicy.from_value(policy.value)
        except (ValueError, TypeError) as exc:
            problems.add(
                f"Pipeline '{pipeline}' is invalid: Step '{step_id}' has an invalid quality gate policy: {exc}",
                (*where, "with", "policy"),
                "see docs/trakt.md, 'Quality gates', for the policy keys",
            )
            ok = False
    for key in output_keys:
        message = output_binding_error(key, bindings[key])
        if message:
            problems.add(
                f"Pipeline '{pipeline}' is invalid: Step '{step_id}' {message}",
                (*where, "with", key),
                "output bindings name artifacts: a string, a list of strings or a mapping of strings",
            )
            ok = False
    if not ok:
        return None
    return StepSpec(
        id=step_id,
        uses=uses,
        index=position,
        handler=handler,
        bindings=bindings,
        input_keys=input_keys,
        output_keys=output_keys,
        supports_batch=batch,
        supports_stream=stream,
        location=problems.location(where),
    )


def _got(definition: Mapping[str, Any], key: str) -> str:
    """` (got list [1, 2])` when `key` is there with a value of the wrong type, else ``."""
    if key not in definition or definition[key] is None:
        return ""
    value = definition[key]
    return f" (got {type(value).__name__} {excerpt(value)})"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ModuleNotFoundError):
        return f"No module named '{exc.name}'" if exc.name else str(exc)
    text = str(exc)
    return text if text else type(exc).__name__


# -- outputs ----------------------------------------------------------------------------------------
def _parse_outputs(raw: Any, strict: bool, problems: _Problems) -> list[OutputDataset]:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        problems.add(
            "Pipeline 'outputs' must be a mapping.",
            ("outputs",),
            "write 'outputs: {datasets: [{name, from}]}'",
        )
        return []
    if "datasets" in raw:
        return _parse_datasets(raw, strict, problems)
    parsed: list[OutputDataset] = []
    for raw_name, definition in raw.items():
        name = str(raw_name)
        where: KeyPath = ("outputs", name)
        if isinstance(definition, str):
            parsed.append(OutputDataset(name=name, source=definition, location=problems.location(where)))
            continue
        if not isinstance(definition, dict):
            problems.add(
                f"Output '{name}' must map to a string source artifact or a mapping.",
                where,
                "write 'name: <artifact>' or 'name: {from: <artifact>, uri: ...}'",
            )
            continue
        dataset = _dataset_from_mapping(
            name, definition, LEGACY_OUTPUT_KEYS, f"Output '{name}'", strict, problems, where
        )
        if dataset is not None:
            parsed.append(dataset)
    return parsed


def _parse_datasets(raw: dict[str, Any], strict: bool, problems: _Problems) -> list[OutputDataset]:
    extra = sorted(str(k) for k in raw if k != "datasets")
    if extra and strict:
        problems.add(
            f"Pipeline 'outputs' has unknown fields when using 'datasets': {_listed(extra)}.",
            ("outputs", extra[0]),
            "put every output under 'datasets:' as '- {name, from}'",
        )
    datasets = raw.get("datasets")
    if not isinstance(datasets, list):
        problems.add(
            "Pipeline 'outputs.datasets' must be a list.",
            ("outputs", "datasets"),
            "write '- name: x\\n  from: y'",
        )
        return []
    parsed: list[OutputDataset] = []
    first_seen: dict[str, int] = {}
    for position, definition in enumerate(datasets, start=1):
        where: KeyPath = ("outputs", "datasets", position - 1)
        if not isinstance(definition, dict):
            problems.add("Each output dataset must be a mapping.", where, "write '- {name: x, from: y}'")
            continue
        name, source = definition.get("name"), definition.get("from")
        if not isinstance(name, str) or not isinstance(source, str):
            problems.add(
                "Each output dataset must define string fields 'name' and 'from'.",
                where,
                "add 'name: <dataset>' and 'from: <artifact>'",
            )
            continue
        if name in first_seen:
            problems.add(
                f"Output dataset '{name}' is defined more than once (datasets #{first_seen[name]} and #{position}).",
                (*where, "name"),
                "give every output dataset its own name",
            )
            continue
        first_seen[name] = position
        dataset = _dataset_from_mapping(
            name, definition, DATASET_KEYS, f"Output dataset '{name}'", strict, problems, where
        )
        if dataset is not None:
            parsed.append(dataset)
    return parsed


def _dataset_from_mapping(
    name: str,
    definition: dict[str, Any],
    allowed: frozenset[str],
    label: str,
    strict: bool,
    problems: _Problems,
    where: KeyPath,
) -> OutputDataset | None:
    source = definition.get("from")
    if not isinstance(source, str):
        problems.add(f"Output '{name}' must define string field 'from'.", where, "add 'from: <artifact>'")
        return None
    metadata = definition.get("metadata") or {}
    if not isinstance(metadata, dict):
        problems.add(
            f"Output '{name}' field 'metadata' must be a mapping.",
            (*where, "metadata"),
            "write write options as a mapping, e.g. 'metadata: {write_options: {delimiter: \"|\"}}'",
        )
        return None
    metadata = dict(metadata)
    unknown = sorted(str(k) for k in definition if k not in allowed)
    if unknown and strict:
        problems.add(
            f"{label} has unknown fields: {_listed(unknown)}.",
            (*where, unknown[0]),
            f"move them under 'metadata:' (allowed here: {', '.join(sorted(allowed))}) or run lenient",
        )
        return None
    metadata.update({k: v for k, v in definition.items() if str(k) in unknown})
    values: dict[str, str | None] = {}
    for field in ("kind", "uri"):
        value = definition.get(field)
        if value is not None and not isinstance(value, str):
            problems.add(
                f"Output '{name}' field '{field}' must be a string when provided.",
                (*where, field),
                f"quote the {field} value",
            )
            return None
        values[field] = value if value and value.strip() else None
    if values["uri"] is not None and not _path_ok(
        values["uri"], f"Output '{name}' field 'uri'", (*where, "uri"), problems
    ):
        return None
    return OutputDataset(
        name=name,
        source=source,
        kind=values["kind"],
        uri=values["uri"],
        metadata=metadata,
        location=problems.location(where),
    )
