"""Load errors: every broken pipeline reported at once, each with file, line, key and a fix hint."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


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

    def render(self) -> str:
        where = f"{self.location.describe()}: " if self.location else ""
        text = f"{where}{self.message}"
        if self.hint:
            text += f"\n  fix: {self.hint}"
        return text


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
        count = len(self.errors)
        head = f"{count} pipeline load error{'s' if count != 1 else ''}:"
        lines = [head]
        for error in self.errors:
            body = error.render().replace("\n", "\n  ")
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
