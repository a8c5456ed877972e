"""Fixtures for end-to-end tests: a copy of the repository's code location in a temp folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def example_root(tmp_path_factory) -> Path:
    """definitions.py, workspace.yaml and the bundled examples, copied so runs do not touch the repo."""
    root = tmp_path_factory.mktemp("example")
    for name in ("definitions.py", "workspace.yaml", "pit_config.toml"):
        shutil.copy(REPO / name, root / name)
    for folder in ("pipelines", "projects"):
        if (REPO / folder).exists():
            shutil.copytree(
                REPO / folder,
                root / folder,
                ignore=shutil.ignore_patterns("outputs", "__pycache__", "runs", ".venv", "target", "logs"),
            )
    return root


def run_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 300):
    """Run a console script of the venv (`trakt-dagster`, `dagster`) and capture its output."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("DAGSTER_HOME", None) if env is None or "DAGSTER_HOME" not in env else None
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )
