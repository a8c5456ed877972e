"""`python -m trakt.run_local ...` (trakt's `trakt-run-local`), here `trakt-dagster exec -m trakt.run_local ...`.

Example:
    ```
    trakt-dagster exec -m trakt.run_local --pipeline-file p/pipeline.yaml --input-dir p/input --output-dir out
    ```
"""

from trakt_dagster.trakt.entrypoints import run_local_main as main

__all__ = ["main"]

if __name__ == "__main__":
    main()
