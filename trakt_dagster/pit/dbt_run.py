"""Run one pit dbt task (`dbt <script words>`) through dagster-dbt and report per-node results.

dbt's human-readable log lines are streamed to a callback as they come; after the run, one pit-style
summary line per node (`OK model stg_orders (0.12s, 3 rows)`, `FAIL test …`) is built from
`run_results.json`, which carries the row counts and failure counts the live events lack.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trakt_dagster.core.guard import guard_process
from trakt_dagster.core.redact import Redactor
from trakt_dagster.pit.dbt_cli import error_text, make_dbt_cli, read_events, start_dbt, stop_dbt

STATUS_WORDS = {
    "success": "OK",
    "pass": "PASS",
    "warn": "WARN",
    "fail": "FAIL",
    "error": "ERROR",
    "runtime error": "ERROR",
    "skipped": "SKIP",
    "no-op": "NO-OP",
}
WORD_LEVELS = {"WARN": "warn", "SKIP": "warn", "FAIL": "error", "ERROR": "error"}


@dataclass(frozen=True)
class DbtNodeResult:
    """One node's entry of `run_results.json` (`status` is dbt's: success, error, skipped, pass, fail, warn…).

    Example:
        >>> r = DbtNodeResult("seed.shop.raw_orders", "success", "INSERT 3", 0.11, 3, None, "seed", "raw_orders")
        >>> summary_line(r)
        ('info', 'OK seed raw_orders (0.11s, 3 rows)')
    """

    unique_id: str
    status: str
    message: str | None
    execution_time: float
    rows_affected: int | None
    failures: int | None
    resource_type: str = ""
    name: str = ""


@dataclass(frozen=True)
class DbtRunOutcome:
    """The result of `run_dbt`: dbt's exit code, per-node results keyed by unique id, and dbt's error text.

    `success` is True only when dbt exited with 0. `error` is dbt's error text when it failed (None on
    success); `results` is empty when dbt could not run at all.

    Example:
        >>> DbtRunOutcome(False, 2, {}, "Could not find profile named 'shop'").results
        {}
    """

    success: bool
    returncode: int
    results: Mapping[str, DbtNodeResult]
    error: str | None
    cancelled: bool = False


def selection_args(selected_names: Iterable[str]) -> list[str]:
    """`--select` arguments running just these nodes (dbt names as selectors; duplicates dropped).

    Raises `ValueError` for an empty selection, which dbt would read as "everything". A bare name also
    matches a folder or package of that name, as in dbt. dbt unions repeated `--select` flags, so adding
    these to a script that selects already widens its selection.

    Example:
        >>> selection_args(["stg_orders", "orders", "stg_orders"])
        ['--select', 'stg_orders orders']
    """
    names = list(dict.fromkeys(n.strip() for n in selected_names if n and n.strip()))
    if not names:
        raise ValueError("no dbt node selected: an empty --select would run the whole project")
    return ["--select", " ".join(names)]


def _name_of(unique_id: str) -> str:
    parts = unique_id.split(".")  # <type>.<package>.<name>[.<hash or version>]
    return parts[2] if len(parts) > 2 else unique_id


def summary_line(result: DbtNodeResult) -> tuple[str, str]:
    """`(level, text)` of pit's summary line for one node result.

    Example:
        >>> summary_line(DbtNodeResult("test.p.u.1", "fail", "Got 2 results", 0.05, None, 2, "test", "u"))
        ('error', 'FAIL test u (0.05s, 2 failures): Got 2 results')
    """
    word = STATUS_WORDS.get(result.status, result.status.upper())
    kind = result.resource_type or result.unique_id.split(".", 1)[0]
    text = f"{word} {kind} {result.name or _name_of(result.unique_id)}"
    if word != "SKIP":
        details = [f"{result.execution_time:.2f}s"]
        if result.rows_affected is not None:
            details.append(f"{result.rows_affected} row{'' if result.rows_affected == 1 else 's'}")
        if result.failures:
            details.append(f"{result.failures} failure{'' if result.failures == 1 else 's'}")
        text += f" ({', '.join(details)})"
    if word in ("FAIL", "ERROR", "WARN") and result.message:
        text += f": {result.message.strip().splitlines()[0]}"
    return WORD_LEVELS.get(word, "info"), text


def _node_result(entry: Mapping[str, Any], names: Mapping[str, tuple[str, str]]) -> DbtNodeResult:
    uid = str(entry.get("unique_id", ""))
    rows = (entry.get("adapter_response") or {}).get("rows_affected")
    failures = entry.get("failures")
    kind, name = names.get(uid) or (uid.split(".", 1)[0], _name_of(uid))
    return DbtNodeResult(
        unique_id=uid,
        status=str(entry.get("status", "")),
        message=None if entry.get("message") is None else str(entry["message"]),
        execution_time=float(entry.get("execution_time") or 0.0),
        rows_affected=rows if isinstance(rows, int) and rows >= 0 else None,
        failures=failures if isinstance(failures, int) else None,
        resource_type=kind,
        name=name,
    )


def _stopper(process: subprocess.Popen[bytes], cancelled: list[bool], talking: threading.Event) -> Callable[[], None]:
    """`cancel()` for a running dbt: before dbt wrote its first line it has opened nothing and is killed at
    once (a signal that early may be lost while Python starts up); after that it is asked to stop."""

    def cancel() -> None:
        if process.poll() is None:
            cancelled.append(True)  # before the signal: the reading thread may finish right after it
            if talking.is_set():
                stop_dbt(process)
            else:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()

    return cancel


def run_dbt(
    args: Sequence[str],
    *,
    project_dir: Path,
    profiles_dir: Path,
    profile: str,
    target: str,
    target_path: Path,
    env: Mapping[str, str] | None = None,
    on_line: Callable[[str, str], None] | None = None,
    on_start: Callable[[Callable[[], None]], None] | None = None,
    secrets: Iterable[str] = (),
) -> DbtRunOutcome:
    """Run `dbt <args>` (a pit task's `script` words) through dagster-dbt and collect the results.

    `env` is added to dbt's environment only (pit's `PIT_RUN_ID`, …). `on_line(level, text)` receives dbt's
    log lines live (`level` is dbt's: debug, info, warn, error), then one summary line per node.
    `on_start(cancel)` is called once dbt runs; `cancel()` stops it and returns when it exited: killed at
    once while dbt has not written its first line yet, else SIGINT, then terminate, then kill, a few
    seconds apart. Any of `secrets` is masked in lines and errors.
    dbt's output is read here, not echoed to stdout.

    Example:
        >>> out = run_dbt(["build"], project_dir=Path("dbt"), profiles_dir=Path("/tmp/p"), profile="shop",
        ...               target="prod", target_path=Path("/tmp/t"), on_line=print)  # doctest: +SKIP
        >>> out.success, out.results["model.shop.orders"].status  # doctest: +SKIP
        (True, 'success')
    """
    redact = Redactor(secrets)

    def emit(level: str, text: str) -> None:
        if on_line is not None:
            on_line(level, redact.text(text))

    target_path = Path(target_path).absolute()
    target_path.mkdir(parents=True, exist_ok=True)
    (target_path / "run_results.json").unlink(missing_ok=True)  # a previous attempt's results are not ours
    try:
        cli = make_dbt_cli(Path(project_dir), profiles_dir=Path(profiles_dir), profile=profile, target=target)
        invocation = start_dbt(cli, args, target_path=target_path, env=env)
    except (ValueError, OSError) as exc:
        message = redact.text(f"cannot start dbt: {exc}")
        emit("error", message)
        return DbtRunOutcome(False, -1, {}, message)

    cancelled: list[bool] = []
    names: dict[str, tuple[str, str]] = {}
    errors: list[str] = []
    raw: list[str] = []
    talking = threading.Event()
    release = guard_process(invocation.process.pid, group=False)  # dbt dies with the run worker
    try:
        if on_start is not None:
            on_start(_stopper(invocation.process, cancelled, talking))
        for event in read_events(invocation):
            talking.set()
            node = event.node_info
            if node.get("unique_id"):
                names[str(node["unique_id"])] = (str(node.get("resource_type", "")), str(node.get("node_name", "")))
            if event.is_error:
                errors.append(event.text)
            elif event.is_raw and event.text.strip():
                raw.append(event.text)
            if event.text.strip():
                emit(event.level, event.text)
        returncode = invocation.process.wait()
    except BaseException:  # a failing callback, or Dagster interrupting the step: dbt must not outlive it
        stop_dbt(invocation.process)
        raise
    finally:
        release()

    results: dict[str, DbtNodeResult] = {}
    if (target_path / "run_results.json").is_file():
        for entry in invocation.get_artifact("run_results.json").get("results") or ():
            result = _node_result(entry, names)
            results[result.unique_id] = result
            emit(*summary_line(result))
    success = returncode == 0 and not cancelled
    error = None
    if not success:
        error = error_text(errors) or "\n".join(raw[-20:]) or f"dbt exited with code {returncode}"
        if cancelled:
            error = f"dbt was cancelled (exit code {returncode})"
        error = redact.text(error)
    return DbtRunOutcome(success, returncode, results, error, bool(cancelled))
