"""Load errors: every broken pipeline reported at once, each with file, line, key and a fix hint."""

from __future__ import annotations

import reprlib
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

EXCERPT_CHARS = 60
"""How much of a bad value an error message quotes."""
MAX_MESSAGE_CHARS = 2000
"""Longer messages (e.g. an exception text of user code) are cut to this, saying how much was left out."""


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """A short `repr` of `value` for quoting bad values in error messages (bounded for huge or deep values).

    Example:
        >>> excerpt("merge")
        "'merge'"
        >>> excerpt("x" * 500)
        "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'... (500 characters)"
        >>> excerpt(list(range(100)))
        '[0, 1, 2, 3, 4, 5, ...]'
    """
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} characters)"
    shorter = reprlib.Repr(maxlevel=3, maxstring=limit, maxother=limit, maxlist=6, maxdict=4, maxset=6, maxtuple=6)
    try:
        text = shorter.repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr fails is still worth naming
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 2 * limit else f"{text[: 2 * limit]}..."


def cut_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` when short, else its start and how many characters were left out.

    Example:
        >>> cut_text("abc", 10), cut_text("a" * 30, 10)
        ('abc', 'aaaaaaaaaa... (20 more characters)')
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


@dataclass(frozen=True)
class SourceLocation:
    """Where something was defined: a file, the line when known, and the key path inside the file.

    Example:
        >>> SourceLocation(Path("pipelines/sales/pipeline.yaml"), 12, "steps[1].with").describe()
        'pipelines/sales/pipeline.yaml:12 (key steps[1].with)'
    """

    file: Path
    line: int | None = None
    key: str | None = None

    def describe(self) -> str:
        text = str(self.file)
        if self.line is not None:
            text += f":{self.line}"
        if self.key:
            text += f" (key {self.key})"
        return text


@dataclass(frozen=True)
class LoadError:
    """One problem found while loading a pipeline.

    Example:
        >>> err = LoadError("Pipeline 'steps' must be a list.", SourceLocation(Path("p.yaml"), 3, "steps"),
        ...                 hint="write steps as a YAML list: '- id: ...'")
        >>> print(err.render())
        p.yaml:3 (key steps): Pipeline 'steps' must be a list.
          fix: write steps as a YAML list: '- id: ...'
    """

    message: str
    location: SourceLocation | None = None
    hint: str | None = None
    tool: str | None = None
    pipeline: str | None = None
    """The pipeline the error belongs to (its name, or the folder/file name when the name is unknown).

    Front ends set it when they know the name; `discover` fills it in from the file's place otherwise.
    `build_definitions` keeps every other pipeline loaded and shows this one as a load-error asset."""

    def __post_init__(self) -> None:
        if len(self.message) > MAX_MESSAGE_CHARS:
            object.__setattr__(self, "message", cut_text(self.message))
        if self.hint is not None and len(self.hint) > MAX_MESSAGE_CHARS:
            object.__setattr__(self, "hint", cut_text(self.hint))

    def for_pipeline(self, pipeline: str) -> LoadError:
        """The same error, attributed to `pipeline`.

        Example:
            >>> LoadError("boom").for_pipeline("sales").pipeline
            'sales'
        """
        return replace(self, pipeline=pipeline)

    def render(self) -> str:
        where = f"{self.location.describe()}: " if self.location else ""
        text = f"{where}{self.message}"
        if self.hint:
            text += f"\n  fix: {self.hint}"
        return text


def unexpected_error(
    path: Path, exc: BaseException, tool: str | None = None, *, pipeline: str | None = None
) -> LoadError:
    """A `LoadError` for an exception nobody expected while loading `path` (so it never escapes the load).

    Example:
        >>> unexpected_error(Path("p.yaml"), RecursionError("maximum recursion depth exceeded")).message
        'Loading p.yaml failed: RecursionError: maximum recursion depth exceeded'
    """
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        try:
            if Path(frame.filename).resolve() == Path(path).resolve():
                line = frame.lineno
        except (OSError, ValueError, RuntimeError):
            continue
    detail = str(exc) if isinstance(exc, RecursionError | MemoryError) else cut_text(str(exc), 300)
    hint = (
        "the file is nested too deeply or too large to load: flatten it"
        if isinstance(exc, RecursionError | MemoryError)
        else "check the file at that place; if it looks right, this is a bug in trakt-dagster: please report it"
    )
    return LoadError(
        f"Loading {Path(path).name} failed: {type(exc).__name__}: {detail}",
        SourceLocation(Path(path), line),
        hint,
        tool,
        pipeline,
    )


def errors_of(errors: Iterable[LoadError], pipeline: str) -> list[LoadError]:
    """The errors attributed to `pipeline` (by its name or its Dagster name).

    Example:
        >>> [e.message for e in errors_of([LoadError("a", pipeline="x"), LoadError("b", pipeline="y")], "x")]
        ['a']
    """
    from trakt_dagster.core.names import dagster_name

    wanted = {pipeline, dagster_name(pipeline)}
    return [
        e for e in errors if e.pipeline is not None and (e.pipeline in wanted or dagster_name(e.pipeline) in wanted)
    ]


class PipelineLoadErrors(Exception):
    """Raised when one or more pipelines cannot be loaded; carries every error found.

    Example:
        >>> raise PipelineLoadErrors([LoadError("boom")])
        Traceback (most recent call last):
        ...
        trakt_dagster.core.errors.PipelineLoadErrors: 1 pipeline load error:
        - boom
    """

    def __init__(self, errors: Sequence[LoadError]):
        self.errors: tuple[LoadError, ...] = tuple(errors)
        super().__init__(self.render())

    def render(self) -> str:
        """Every error once; one that concerns several pipelines (a shared config file) names them all."""
        pipelines: dict[LoadError, list[str]] = {}
        for error in self.errors:
            names = pipelines.setdefault(replace(error, pipeline=None), [])
            if error.pipeline and error.pipeline not in names:
                names.append(error.pipeline)
        count = len(pipelines)
        head = f"{count} pipeline load error{'s' if count != 1 else ''}:"
        lines = [head]
        for error, names in pipelines.items():
            body = error.render().replace("\n", "\n  ")
            if len(names) > 1:
                body += f"\n    (this stops pipelines {', '.join(names)})"
            lines.append(f"- {body}")
        return "\n".join(lines)


class ErrorCollector:
    """Accumulates load errors so that parsing can go on and report all of them together.

    Example:
        >>> errors = ErrorCollector()
        >>> errors.add("bad key", SourceLocation(Path("x.yaml")), hint="remove it")
        >>> errors.raise_if_any()
        Traceback (most recent call last):
        ...
        trakt_dagster.core.errors.PipelineLoadErrors: 1 pipeline load error:
        - x.yaml: bad key
            fix: remove it
    """

    def __init__(self) -> None:
        self.errors: list[LoadError] = []

    def add(
        self,
        message: str,
        location: SourceLocation | None = None,
        *,
        hint: str | None = None,
        tool: str | None = None,
    ) -> None:
        self.errors.append(LoadError(message, location, hint, tool))

    def extend(self, errors: Iterable[LoadError]) -> None:
        self.errors.extend(errors)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise PipelineLoadErrors(self.errors)
