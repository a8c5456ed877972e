"""Find trakt pipelines (`pipelines/<name>/pipeline.yaml`) and turn them into task graphs."""

from __future__ import annotations

from pathlib import Path

from trakt_dagster.core.discovery import FrontEndResult, LoadOptions
from trakt_dagster.trakt.loader import load_pipeline_spec
from trakt_dagster.trakt.translate import build_trakt_graph

MARKER = "pipeline.yaml"


def find_pipeline_files(root: Path) -> list[Path]:
    """`<root>/pipelines/*/pipeline.yaml`, sorted."""
    folder = Path(root) / "pipelines"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"*/{MARKER}") if p.is_file())


def load(root: Path, options: LoadOptions) -> FrontEndResult:
    """Load every trakt pipeline under `root`; errors of all of them are returned together."""
    result = FrontEndResult()
    for path in find_pipeline_files(root):
        spec, errors = load_pipeline_spec(path, strict=options.strict)
        result.errors.extend(errors)
        if spec is not None:
            result.graphs.append(build_trakt_graph(spec))
    return result
