"""Artifact adapters: how an input kind is read and an output kind written (`csv` built in).

Custom kinds come from the `trakt.artifact_adapters` entry-point group, as in trakt: the entry point
may be an adapter instance, an adapter class or a factory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trakt_dagster.trakt import csv_io
from trakt_dagster.trakt.model import Artifact, CombineStrategy

ADAPTER_ENTRY_POINT_GROUP = "trakt.artifact_adapters"


class ArtifactAdapter:
    """Base class of artifact adapters (trakt's interface).

    Example:
        >>> class JsonLinesAdapter(ArtifactAdapter):
        ...     file_extension = ".jsonl"
        ...     def read_many(self, paths, *, artifact, execution_mode="batch", chunk_size=None): ...
        ...     def write(self, data, uri, *, artifact_name=None, execution_mode="batch", artifact=None, **kw): ...
    """

    file_extension = ""

    def read_many(
        self,
        paths: list[Path],
        *,
        artifact: Any,
        execution_mode: str = "batch",
        chunk_size: int | None = None,
    ) -> Any:
        raise NotImplementedError

    def write(
        self,
        data: Any,
        uri: str,
        *,
        artifact_name: str | None = None,
        execution_mode: str = "batch",
        artifact: Any = None,
        **kwargs: Any,
    ) -> None:
        raise NotImplementedError


class CsvArtifactAdapter(ArtifactAdapter):
    """The built-in `csv` kind: pandas with trakt's read/write options, batch or stream."""

    file_extension = ".csv"

    def read_many(
        self,
        paths: list[Path],
        *,
        artifact: Any,
        execution_mode: str = "batch",
        chunk_size: int | None = None,
    ) -> Any:
        options = csv_io.read_options(artifact.name, artifact.metadata or {})
        schema = getattr(artifact, "schema", None)
        if execution_mode == "stream":
            size = 50_000 if chunk_size is None else chunk_size
            return _checked_chunks(artifact.name, paths, options, size, schema)
        frames = []
        for path in paths:
            frame = csv_io.read_csv_file(path, options, artifact.name)
            csv_io.check_schema(artifact.name, str(path), frame, schema)
            frames.append(frame)
        strategy = CombineStrategy(getattr(artifact, "combine_strategy", CombineStrategy.CONCAT))
        return csv_io.combine_frames(frames, strategy)

    def write(
        self,
        data: Any,
        uri: str,
        *,
        artifact_name: str | None = None,
        execution_mode: str = "batch",
        artifact: Any = None,
        **kwargs: Any,
    ) -> None:
        name = getattr(artifact, "name", artifact_name or "output")
        options = csv_io.write_options(name, getattr(artifact, "metadata", None) or {})
        if execution_mode == "stream":
            csv_io.write_csv_stream(data, Path(uri), options)
        else:
            csv_io.write_csv_frame(data, Path(uri), options)


def _checked_chunks(name: str, paths: list[Path], options: dict[str, Any], chunk_size: int, schema: Any):  # noqa: ANN202
    for chunk in csv_io.iter_csv_chunks(paths, options, chunk_size, name):
        csv_io.check_schema(name, ",".join(map(str, paths)), chunk, schema)
        yield chunk


class ArtifactAdapterRegistry:
    """Adapters by kind, matched case-insensitively (trakt's `ArtifactAdapterRegistry`).

    Example:
        >>> registry = ArtifactAdapterRegistry.with_defaults()
        >>> registry.resolve("CSV").file_extension
        '.csv'
    """

    def __init__(self) -> None:
        self._adapters: dict[str, Any] = {}

    def register(self, kind: str, adapter: Any) -> None:
        self._adapters[_normalize_kind(kind)] = adapter

    def resolve(self, kind: str) -> Any:
        try:
            return self._adapters[_normalize_kind(kind)]
        except KeyError:
            raise KeyError(f"Unknown artifact kind: {kind}") from None

    def kinds(self) -> list[str]:
        return sorted(self._adapters)

    def load_entry_points(self, group: str = ADAPTER_ENTRY_POINT_GROUP) -> None:
        from trakt_dagster.trakt.registry import installed_entry_points

        for entry_point in installed_entry_points(group):
            self.register(entry_point.name, coerce_adapter(entry_point.load(), entry_point.name))

    @classmethod
    def with_defaults(cls) -> ArtifactAdapterRegistry:
        registry = cls()
        registry.register("csv", CsvArtifactAdapter())
        return registry

    @classmethod
    def from_entry_points(cls, group: str = ADAPTER_ENTRY_POINT_GROUP) -> ArtifactAdapterRegistry:
        registry = cls.with_defaults()
        registry.load_entry_points(group)
        return registry


def coerce_adapter(loaded: Any, kind: str) -> Any:
    """An adapter from an entry point's object: an instance, a class, or a factory."""
    if _is_adapter(loaded) and not isinstance(loaded, type):
        return loaded
    if callable(loaded):
        made = loaded()
        if _is_adapter(made):
            return made
    raise TypeError(f"Entry point for artifact kind '{kind}' must provide an ArtifactAdapter.")


def _is_adapter(obj: Any) -> bool:
    return callable(getattr(obj, "read_many", None)) and callable(getattr(obj, "write", None))


def _normalize_kind(kind: str) -> str:
    normalized = str(kind).strip().lower()
    if not normalized:
        raise ValueError("Artifact kind cannot be empty.")
    return normalized


__all__ = ["Artifact", "ArtifactAdapter", "ArtifactAdapterRegistry", "CsvArtifactAdapter"]
