"""`trakt.cli`: trakt's command line (`trakt run / validate / init`), as `trakt-dagster trakt ...` runs it.

Example:
    ```
    trakt-dagster exec -m trakt.cli run --pipeline sales --input-dir data   # = trakt-dagster trakt run ...
    ```
"""

from __future__ import annotations

from collections.abc import Sequence

from trakt_dagster.trakt.entrypoints import resolve_pipeline_file
from trakt_dagster.trakt.overrides import parse_input_overrides


def main(argv: Sequence[str] | None = None) -> None:
    """trakt's `main(argv)`: run one of `run`, `validate`, `init` with trakt's flags."""
    from trakt_dagster.trakt.cli import trakt_group

    trakt_group.main(args=list(argv) if argv is not None else None, prog_name="trakt")


__all__ = ["main", "parse_input_overrides", "resolve_pipeline_file"]

if __name__ == "__main__":
    main()
