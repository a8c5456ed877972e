"""Read ductaflow projects from their files, without executing any notebook or conductor.

A project is a folder `pipelines/<name>/` holding `flows/` and `config/`:

* `flows/*.py`, `builds/*.py`: percent-format notebooks (read with jupytext). The first markdown cell (or
  the module docstring) is the description; an optional `dagster:` block in the jupytext header sets
  trakt-dagster options (`deps`, `timeout`, `kernel`, `html`, `retries`, `pool`, `workers`, `description`,
  `granularity`).
* `config/flows/<flow>.json`, `config/builds/<build>.json`: the config of the default instance (or the base
  config of the instances); `config/flows/<flow>/<instance>.json`: one instance per file (partitions).
* `conductor*.py`: scenario grids, read from the module-level `base_config`, `scenario_dimensions`,
  `active_dimensions` and `model_root` by static evaluation; the flow or build it runs per scenario is the
  notebook named in its `run_notebook(...)` / `run_step_flow(...)` call (or `conductor_target = "..."`).

Every problem is a `LoadError` with file, line, key and a fix; a broken file removes only what depends on it.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from trakt_dagster.core.errors import LoadError, SourceLocation, cut_text
from trakt_dagster.core.text_files import TextFileError, read_config_text
from trakt_dagster.ductaflow.grid import GridError, expand_grid, partition_key
from trakt_dagster.ductaflow.model import (
    DEFAULT_INSTANCE,
    DEFAULT_MODEL_ROOT,
    TOOL,
    Conductor,
    DuctaflowProject,
    Instance,
    Notebook,
)
from trakt_dagster.ductaflow.static_eval import read_module_values, to_plain

KINDS = {"flow": "flows", "build": "builds"}
OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "deps": (list,),
    "timeout": (int, float),
    "kernel": (str,),
    "html": (bool,),
    "retries": (int,),
    "pool": (str,),
    "workers": (int,),
    "description": (str,),
    "granularity": (str,),
}
RUNNER_CALLS = ("run_notebook", "run_step_flow", "debug_flow")
NOTEBOOK_ARGS = ("notebook_file", "notebook_path", "flow_path")


@dataclass
class Problems:
    """Errors and warnings found while reading a project."""

    errors: list[LoadError] = field(default_factory=list)
    warnings: list[LoadError] = field(default_factory=list)

    def error(self, message: str, file: Path, line: int | None = None, key: str | None = None, hint: str | None = None):
        self.errors.append(LoadError(message, SourceLocation(file, line, key), hint, TOOL))

    def warn(self, message: str, file: Path, line: int | None = None, key: str | None = None, hint: str | None = None):
        self.warnings.append(LoadError(message, SourceLocation(file, line, key), hint, TOOL))


def read_json_config(path: Path, problems: Problems) -> dict[str, Any] | None:
    """A config JSON object, or None (with an error naming file, line and column) when it cannot be read."""
    try:
        text = read_config_text(path)
    except OSError as exc:
        problems.error(f"cannot read config file: {exc.strerror or exc}", path)
        return None
    except TextFileError as exc:
        problems.error(f"cannot read config file: {exc}", path, exc.line, hint="save the file as UTF-8 text")
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.error(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            path,
            exc.lineno,
            hint="fix the JSON syntax (trailing commas and comments are not allowed in JSON)",
        )
        return None
    except RecursionError:
        problems.error("the JSON is nested too deeply to read", path, hint="flatten the config")
        return None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        problems.error(f"a JSON value cannot be read: {cut_text(str(exc), 200)}", path, hint="shorten the value")
        return None
    if not isinstance(data, dict):
        problems.error(
            f"a config file must hold a JSON object, not {type(data).__name__}", path, 1, hint='write {"key": value}'
        )
        return None
    return data


def _description(nb: Any, text: str) -> str | None:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.strip():
            lines = [line.strip().lstrip("#").strip() for line in cell.source.strip().splitlines()]
            return "\n".join(line for line in lines if line) or None
    try:
        doc = ast.get_docstring(ast.parse(text))
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # nested too deeply for Python's parser
        doc = None
    return doc.strip() if doc else None


def _code_strings(nb: Any, text: str) -> tuple[set[str], list[ast.Call]]:
    """String constants and calls in the notebook's code cells (cells that do not parse are skipped)."""
    strings: set[str] = set()
    calls: list[ast.Call] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(
            "" if line.lstrip().startswith(("%", "!")) else line for line in str(cell.source).splitlines()
        )
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            strings.update(re.findall(r"""["']([^"'\n]+)["']""", source))
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.add(node.value)
            elif isinstance(node, ast.Call):
                calls.append(node)
    return strings, calls


def _call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def notebook_argument(call: ast.Call) -> str | None:
    """The notebook a runner call names, when it is written literally (`"builds/x.py"`, `Path("x.py")`,
    `flows_dir / "x.py"`); None for computed names.

    Example:
        >>> notebook_argument(ast.parse('run_notebook(flows_dir / "clean.py", config=c)').body[0].value)
        'clean.py'
    """
    node: ast.AST | None = call.args[0] if call.args else None
    for keyword in call.keywords:
        if keyword.arg in NOTEBOOK_ARGS:
            node = keyword.value
    while node is not None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Call) and node.args and _call_name(node) in ("Path", "PurePath", "str"):
            node = node.args[0]
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            node = node.right
        else:
            return None
    return None


def _options(nb: Any, path: Path, problems: Problems) -> dict[str, Any]:
    block = nb.metadata.get("dagster") or {}
    if not isinstance(block, dict):
        problems.error(
            "the 'dagster' metadata must be a mapping", path, 1, "dagster", "write 'dagster:' with keys below it"
        )
        return {}
    options: dict[str, Any] = {}
    for key, value in block.items():
        if key not in OPTION_TYPES:
            problems.warn(
                f"unknown key 'dagster.{key}' in the notebook metadata is ignored",
                path,
                1,
                f"dagster.{key}",
                f"known keys: {', '.join(OPTION_TYPES)}",
            )
            continue
        types = OPTION_TYPES[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            expected = " or ".join(t.__name__ for t in types)
            problems.error(f"'dagster.{key}' must be {expected}, not {value!r}", path, 1, f"dagster.{key}")
            continue
        options[key] = value
    if options.get("granularity", "pipeline") not in ("pipeline", "step"):
        problems.error(
            f"'dagster.granularity' must be 'pipeline' or 'step', not {options['granularity']!r}",
            path,
            1,
            "dagster.granularity",
            "a flow or build is one Dagster op in both granularities; the setting is accepted for symmetry",
        )
        options.pop("granularity")
    deps = options.get("deps", [])
    if not all(isinstance(d, str) for d in deps):
        problems.error("'dagster.deps' must list flow or build names", path, 1, "dagster.deps")
        options.pop("deps")
    return options


def read_notebook(project: Path, kind: str, path: Path, problems: Problems) -> Notebook | None:
    """One flow or build (without instances); None when jupytext cannot read it."""
    import jupytext

    try:
        text = path.read_text(encoding="utf-8")
        nb = jupytext.reads(text, fmt=path.suffix.lstrip(".") or "py")  # the format is detected, as when it runs
    except Exception as exc:  # noqa: BLE001 - any reader failure is a load error of this file
        line = getattr(exc, "lineno", None)
        problems.error(
            f"jupytext cannot read this {kind}: {type(exc).__name__}: {exc}",
            path,
            line,
            hint="a flow is a percent-format notebook: cells start with '# %%', the first one tagged "
            "'# %% tags=[\"parameters\"]'",
        )
        return None
    errors_before = len(problems.errors)
    options = _options(nb, path, problems)
    if len(problems.errors) > errors_before:
        return None
    strings, calls = _code_strings(nb, text)
    literal = [s for s in strings if s.endswith(".py") and ("flows/" in s or "builds/" in s)]
    literal += [a for c in calls if _call_name(c) in RUNNER_CALLS and (a := notebook_argument(c))]
    runs = tuple(sorted({a for a in literal if a.endswith(".py")}))
    return Notebook(
        kind=kind,
        name=path.stem,
        path=path,
        description=options.get("description") or _description(nb, text),
        deps=tuple(options.get("deps", ())),
        references=tuple(sorted(strings)),
        runs=runs,
        timeout=options.get("timeout"),
        kernel_name=options.get("kernel"),
        export_html=options.get("html", True),
        retries=options.get("retries", 0),
        pool=options.get("pool"),
        granularity=options.get("granularity", "pipeline"),
        workers=options.get("workers"),
        metadata=dict(nb.metadata.get("dagster") or {}),
    )


def _with_instances(project: Path, notebook: Notebook, problems: Problems) -> Notebook | None:
    config_dir = project / "config" / KINDS[notebook.kind]
    base_file = config_dir / f"{notebook.name}.json"
    base: dict[str, Any] = {}
    if base_file.is_file():
        loaded = read_json_config(base_file, problems)
        if loaded is None:
            return None
        base = loaded
    instances: list[Instance] = []
    folder = config_dir / notebook.name
    if folder.is_dir():
        seen: dict[str, Path] = {}
        for path in sorted(folder.glob("*.json")):
            data = read_json_config(path, problems)
            if data is None:
                return None
            key = partition_key(path.stem)
            if key in seen:
                problems.error(
                    f"instances '{seen[key].stem}' and '{path.stem}' both become the partition key '{key}'",
                    path,
                    hint="rename one of the instance files",
                )
                return None
            seen[key] = path
            instances.append(Instance(key, path.stem, f"{notebook.name}/{key}", {**base, **data}, source=path, line=1))
    partitioned = bool(instances)
    if not instances:
        instances = [
            Instance(
                DEFAULT_INSTANCE,
                DEFAULT_INSTANCE,
                f"{notebook.name}/{DEFAULT_INSTANCE}",
                base,
                source=base_file if base_file.is_file() else None,
            )
        ]
    return replace(
        notebook,
        config_file=base_file if base_file.is_file() else None,
        base_config=base,
        instances=tuple(instances),
        partitioned=partitioned,
        partitioned_by="instances" if partitioned else None,
    )


def _work_path(model_root: str) -> str:
    """Where a path the original puts below the project's `runs/` lives below the project's work folder.

    Example:
        >>> _work_path("./runs/conductor_runs"), _work_path("output/models")
        ('conductor_runs', 'output/models')
    """
    parts = [p for p in Path(model_root).as_posix().split("/") if p not in ("", ".")]
    if parts and parts[0] == "runs":
        parts = parts[1:]
    return "/".join(parts) or "."


def read_conductor(path: Path, notebooks: dict[str, Notebook], problems: Problems) -> Conductor | None:
    """A conductor's grid and target, by static reading; None (with errors) when either is unclear."""
    try:
        text = path.read_text(encoding="utf-8")
        values = read_module_values(text, path)
    except SyntaxError as exc:
        problems.error(f"the conductor does not parse: {exc.msg}", path, exc.lineno, hint="fix the Python syntax")
        return None
    except OSError as exc:
        problems.error(f"cannot read the conductor: {exc.strerror or exc}", path)
        return None
    hint_literal = "write it with literal values (dicts, lists, strings, numbers) at module level"
    for name in ("scenario_dimensions", "active_dimensions", "base_config", "model_root", "conductor_target"):
        if name in values.unreadable:
            reason, line = values.unreadable[name]
            problems.error(
                f"cannot read '{name}' without running the conductor: {reason}", path, line, name, hint_literal
            )
            return None
    if "scenario_dimensions" not in values.values:
        problems.error(
            "the conductor defines no 'scenario_dimensions'",
            path,
            None,
            "scenario_dimensions",
            'define scenario_dimensions = {"dim": [{"key": value, "label": "A"}, ...]} at module level',
        )
        return None
    try:
        scenarios = expand_grid(values.values["scenario_dimensions"], values.values.get("active_dimensions"))
    except GridError as exc:
        top = exc.key.split(".")[0].split("[")[0]
        problems.error(str(exc), path, values.lines.get(top), exc.key, "fix the scenario grid of the conductor")
        return None
    target = _conductor_target(path, values, notebooks, problems)
    if target is None:
        return None
    base = values.values.get("base_config")
    if base is not None and not isinstance(base, dict):
        problems.error("'base_config' must be a dict", path, values.lines.get("base_config"), "base_config")
        return None
    notebook = notebooks[target]
    base_config = to_plain(base) if base is not None else dict(notebook.base_config)
    model_root = str(to_plain(values.values.get("model_root", DEFAULT_MODEL_ROOT)))
    where = _work_path(model_root)
    instances = []
    for scenario in scenarios:
        key = partition_key(scenario.name)
        config = {**base_config, **to_plain(scenario.row), "run_folder": f"runs/{scenario.name}"}
        instances.append(
            Instance(
                key,
                scenario.name,
                f"{where}/Model_Runs/{key}",
                config,
                source=path,
                line=values.lines.get("scenario_dimensions"),
                scenario=to_plain(scenario.row),
                extra_files={"config.json": config},
            )
        )
    return Conductor(
        name=path.stem,
        path=path,
        target=(notebook.kind, notebook.name),
        model_root=where,
        base_config=base_config,
        dimensions=to_plain(values.values["scenario_dimensions"]),
        active_dimensions=tuple(values.values.get("active_dimensions") or values.values["scenario_dimensions"]),
        scenarios=tuple(instances),
    )


def _conductor_target(path: Path, values: Any, notebooks: dict[str, Notebook], problems: Problems) -> str | None:
    explicit = values.values.get("conductor_target")
    line = values.lines.get("conductor_target")
    named: list[tuple[str, int | None]] = []
    if explicit is not None:
        named = [(str(explicit), line)]
    else:
        for call in values.calls:
            if _call_name(call) in RUNNER_CALLS:
                argument = notebook_argument(call)
                if argument:
                    named.append((argument, call.lineno))
    stems = {Path(name).stem: where for name, where in named}
    if not stems:
        problems.error(
            "cannot tell which build or flow the conductor runs: no run_notebook(...) call names a notebook literally",
            path,
            None,
            "conductor_target",
            "add conductor_target = 'builds/<build>.py' at module level",
        )
        return None
    if len(stems) > 1:
        problems.error(
            f"the conductor runs several notebooks ({', '.join(sorted(stems))}); one grid needs one target",
            path,
            min(w or 0 for w in stems.values()) or None,
            "conductor_target",
            "add conductor_target = 'builds/<build>.py' naming the one it runs per scenario",
        )
        return None
    stem, where = next(iter(stems.items()))
    if stem not in notebooks:
        problems.error(
            f"the conductor runs '{stem}', which is not a flow or build of this project",
            path,
            where,
            "conductor_target",
            f"create builds/{stem}.py or flows/{stem}.py, or fix the name",
        )
        return None
    return stem


def _check_build_references(notebook: Notebook, names: set[str], problems: Problems) -> bool:
    """A build naming (literally) a flow or build file the project does not have is a load error."""
    ok = True
    text = notebook.path.read_text(encoding="utf-8")
    for argument in notebook.runs:
        stem = Path(argument).stem
        if stem not in names:
            line = next((i for i, t in enumerate(text.splitlines(), 1) if argument in t), None)
            problems.error(
                f"the {notebook.kind} runs '{argument}', but the project has no flow or build '{stem}'",
                notebook.path,
                line,
                argument,
                f"create flows/{stem}.py or fix the name in {notebook.path.name}",
            )
            ok = False
    return ok


def read_project(folder: Path) -> tuple[DuctaflowProject | None, Problems]:
    """Read one project folder; what cannot be read is left out and reported."""
    problems = Problems()
    folder = Path(folder).resolve()
    notebooks: dict[str, Notebook] = {}
    for kind, sub in KINDS.items():
        for path in sorted((folder / sub).glob("*.py")):
            if path.name == "__init__.py":
                continue
            notebook = read_notebook(folder, kind, path, problems)
            if notebook is None:
                continue
            if notebook.name in notebooks:
                other = notebooks[notebook.name]
                problems.error(
                    f"{other.path.relative_to(folder)} and {path.relative_to(folder)} both become the asset "
                    f"{folder.name}/{notebook.name}",
                    path,
                    hint="rename one of them",
                )
                continue
            with_instances = _with_instances(folder, notebook, problems)
            if with_instances is not None:
                notebooks[notebook.name] = with_instances
    all_names = {p.stem for sub in KINDS.values() for p in (folder / sub).glob("*.py")}
    for name in [n for n, nb in notebooks.items() if nb.kind == "build"]:
        if not _check_build_references(notebooks[name], all_names, problems):
            notebooks.pop(name)
    conductors: list[Conductor] = []
    for path in sorted(folder.glob("conductor*.py")):
        conductor = read_conductor(path, notebooks, problems)
        if conductor is None:
            # its target's partitions are unknown: leave the target out rather than load it unpartitioned
            target = _guess_target(path, notebooks)
            if target:
                notebooks.pop(target, None)
            continue
        kind, name = conductor.target
        owner = next((c for c in conductors if c.target == conductor.target), None)
        notebook = notebooks.get(name)
        if owner is not None or notebook is None:
            problems.error(
                f"{kind} '{name}' is the target of {owner.path.name if owner else 'another conductor'} already; "
                "one notebook can take the scenarios of one conductor",
                path,
                hint="give each conductor its own build",
            )
            notebooks.pop(name, None)
            continue
        if notebook.partitioned:
            problems.error(
                f"{kind} '{name}' has instance files in config/{KINDS[kind]}/{name}/ and is the target of "
                f"{path.name}; its partitions would be ambiguous",
                path,
                hint=f"remove config/{KINDS[kind]}/{name}/ or run another build from the conductor",
            )
            notebooks.pop(name)
            continue
        notebooks[name] = replace(notebook, instances=conductor.scenarios, partitioned=True, partitioned_by=path.name)
        conductors.append(conductor)
    _check_deps(folder, notebooks, problems)
    _check_config_names(folder, notebooks, problems)
    own = (folder / "ductaflow.py").is_file() or (folder / "ductaflow" / "__init__.py").is_file()
    ordered = sorted(notebooks.values(), key=lambda n: (n.kind != "flow", n.name))
    project = DuctaflowProject(
        name=folder.name,
        folder=folder,
        flows=tuple(n for n in ordered if n.kind == "flow"),
        builds=tuple(n for n in ordered if n.kind == "build"),
        conductors=tuple(c for c in conductors if c.target[1] in notebooks),
        own_ductaflow=own,
    )
    return project, problems


def _guess_target(path: Path, notebooks: dict[str, Notebook]) -> str | None:
    try:
        values = read_module_values(path.read_text(encoding="utf-8"), path)
    except (SyntaxError, OSError):
        return None
    for call in values.calls:
        if _call_name(call) in RUNNER_CALLS:
            argument = notebook_argument(call)
            if argument and Path(argument).stem in notebooks:
                return Path(argument).stem
    target = values.values.get("conductor_target")
    return Path(str(target)).stem if target else None


def _check_deps(folder: Path, notebooks: dict[str, Notebook], problems: Problems) -> None:
    """Declared deps must exist, must not form a cycle, and must share the dependant's partitions (or have none)."""
    changed = True
    while changed:
        changed = False
        for name, notebook in list(notebooks.items()):
            for dep in notebook.deps:
                other = notebooks.get(dep)
                problem = None
                if other is None:
                    problem = f"'dagster.deps' names '{dep}', which is not a loadable flow or build of this project"
                elif other.partitioned and [i.key for i in other.instances] != [i.key for i in notebook.instances]:
                    problem = f"'dagster.deps' names '{dep}', whose partitions differ from this {notebook.kind}'s"
                if problem:
                    problems.error(problem, notebook.path, 1, "dagster.deps", "fix the name, or drop the dependency")
                    notebooks.pop(name)
                    changed = True
                    break
    for name, notebook in list(notebooks.items()):
        seen: set[str] = set()
        stack = list(notebook.deps)
        while stack:
            dep = stack.pop()
            if dep == name:
                problems.error(f"'dagster.deps' of '{name}' form a cycle", notebook.path, 1, "dagster.deps")
                notebooks.pop(name, None)
                break
            if dep not in seen and dep in notebooks:
                seen.add(dep)
                stack.extend(notebooks[dep].deps)


def _check_config_names(folder: Path, notebooks: dict[str, Notebook], problems: Problems) -> None:
    """A partitioned notebook's config asset `<name>_config` must not collide with a notebook's asset."""
    for name, notebook in list(notebooks.items()):
        if notebook.partitioned and notebook.config_asset_name in notebooks:
            problems.error(
                f"the config asset of '{name}' ({folder.name}/{notebook.config_asset_name}) collides with the "
                f"{notebooks[notebook.config_asset_name].kind} of that name",
                notebook.path,
                hint="rename one of them",
            )
            notebooks.pop(name)
