"""The Dagster code location: every bundled pipeline under pipelines/ and projects/."""

from pathlib import Path

from trakt_dagster import build_definitions

defs = build_definitions(Path(__file__).parent)
