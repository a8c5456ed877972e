"""trakt's script entry points — `python -m trakt.run_local` and `python -m trakt.runtime.glue_main` — on Dagster.

Both keep trakt's flags, defaults and output (the result JSON on stdout, `indent=2`, sorted keys) and, like
trakt's, have no error handling of their own: a failure is raised with the step's exception type and message.
They run through `trakt-dagster exec -m trakt.run_local ...` (the `trakt` names come from the compatibility
package) or by calling `run_local_main(argv)` / `glue_main(argv)` from Python.

Example:
    ```
    trakt-dagster exec -m trakt.run_local --pipeline-file pipelines/sales/pipeline.yaml --input-dir data
    trakt-dagster exec -m trakt.runtime.glue_main --pipeline sales --client-id acme --batch-id b1 \\
        --input-dir data --output-dir out
    ```
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_PARAM_HELP = "Const override STEP.PARAM=VALUE (value parsed as YAML; repeatable)."


def resolve_pipeline_file(pipeline_name: str | None, pipeline_file: str | None) -> Path:
    """The pipeline YAML of `--pipeline NAME` (`pipelines/<NAME>/pipeline.yaml`) or `--pipeline-file PATH`.

    Example:
        >>> resolve_pipeline_file("sales", None).as_posix()
        'pipelines/sales/pipeline.yaml'
    """
    if pipeline_file:
        return Path(pipeline_file)
    if pipeline_name:
        return Path("pipelines") / pipeline_name / "pipeline.yaml"
    raise ValueError("Provide either --pipeline or --pipeline-file.")


def _run_parser(description: str, *, glue: bool) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--pipeline", help="Pipeline name: pipelines/<NAME>/pipeline.yaml.")
    parser.add_argument("--pipeline-file", help="Path to the pipeline YAML (wins over --pipeline).")
    if glue:
        parser.add_argument("--client-id", required=True, help="Client id (ctx.metadata['client_id']).")
        parser.add_argument("--batch-id", required=True, help="Batch id (ctx.metadata['batch_id']).")
        parser.add_argument("--input-dir", required=True, help="Folder input URIs are relative to.")
        parser.add_argument("--output-dir", required=True, help="Folder outputs and the manifest go to.")
        parser.add_argument("--job-name", default=None, help="Glue job name (ctx.metadata['glue.job_name']).")
    else:
        parser.add_argument("--input-dir", default=".", help="Folder input URIs are relative to.")
        parser.add_argument("--output-dir", default="outputs", help="Folder outputs and the manifest go to.")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=PATH", help="Input override.")
    parser.add_argument("--param", action="append", default=[], metavar="STEP.PARAM=VALUE", help=_PARAM_HELP)
    parser.add_argument("--lenient", action="store_true", help="Accept unknown keys (trakt's lenient mode).")
    parser.add_argument("--run-id", default=None, help="Run id for the manifest (default: the Dagster run id).")
    parser.add_argument("--pipeline-version", default=None, help="pipeline.version in the manifest.")
    parser.add_argument("--manifest-path", default=None, help="Manifest path (default: <output-dir>/manifest.json).")
    parser.add_argument("--stream-chunk-size", type=int, default=50_000, help="Rows per chunk in stream mode.")
    parser.add_argument("--otel-enabled", action="store_true", help="Accepted; Dagster's run log replaces spans.")
    parser.add_argument("--otel-service-name", default="trakt", help="Accepted for compatibility.")
    parser.add_argument("--otel-tracer-name", default="trakt.runner", help="Accepted for compatibility.")
    return parser


def _run(args: argparse.Namespace, runner: Any, context_metadata: dict[str, Any] | None = None) -> None:
    from trakt_dagster.trakt.local_runner import load_pipeline_from_yaml
    from trakt_dagster.trakt.overrides import parse_input_overrides, parse_param_overrides

    pipeline_file = resolve_pipeline_file(args.pipeline, args.pipeline_file)
    runner.input_overrides = parse_input_overrides(args.input)
    params = parse_param_overrides(args.param)
    pipeline = load_pipeline_from_yaml(pipeline_file, strict_unknown_keys=not args.lenient)
    result = runner.run(
        pipeline,
        run_id=args.run_id,
        pipeline_version=args.pipeline_version,
        manifest_path=args.manifest_path,
        stream_chunk_size=args.stream_chunk_size,
        context_metadata=context_metadata,
        params=params,
    )
    print(json.dumps(result, indent=2, sort_keys=True))


def run_local_main(argv: Sequence[str] | None = None) -> None:
    """`python -m trakt.run_local` (trakt's `trakt-run-local`): run one pipeline, print trakt's result JSON."""
    from trakt_dagster.trakt.local_runner import LocalRunner

    args = _run_parser("Run a trakt pipeline locally (through Dagster).", glue=False).parse_args(argv)
    _run(args, LocalRunner(input_dir=args.input_dir, output_dir=args.output_dir))


def glue_main(argv: Sequence[str] | None = None) -> None:
    """`python -m trakt.runtime.glue_main` (trakt's `trakt-run-glue`): the Glue contract's flags, run locally."""
    from trakt_dagster.trakt.local_runner import GlueRunner

    args = _run_parser("Run a trakt pipeline with the AWS Glue contract (through Dagster).", glue=True).parse_args(argv)
    runner = GlueRunner(input_dir=args.input_dir, output_dir=args.output_dir, job_name=args.job_name)
    _run(args, runner, {"client_id": args.client_id, "batch_id": args.batch_id})
