"""`python -m trakt.runtime.glue_main` (trakt's `trakt-run-glue`): `trakt-dagster exec -m trakt.runtime.glue_main`.

Example:
    ```
    trakt-dagster exec -m trakt.runtime.glue_main --pipeline-file p/pipeline.yaml --client-id acme \\
        --batch-id b-1 --input-dir p/input --output-dir out --job-name nightly
    ```
"""

from trakt_dagster.trakt.entrypoints import glue_main as main

__all__ = ["main"]

if __name__ == "__main__":
    main()
