"""Start and stop `dagster dev` for the benches that measure it (webserver + daemon on a free loopback port).

Example:
    >>> # with dagster_dev(folder, env, port) as dev:
    >>> #     graphql(port, "{ version }")
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    """The `data` of one GraphQL request to the webserver on `port`; its errors raise."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        body = json.loads(response.read())
    if "errors" in body:
        raise RuntimeError(body["errors"])
    return body["data"]


@contextlib.contextmanager
def dagster_dev(folder: Path, env: Mapping[str, str], port: int) -> Iterator[subprocess.Popen]:
    """`dagster dev -f definitions.py` in `folder` (log in `folder/dev.log`), stopped with its whole process
    group on exit (SIGTERM, then SIGKILL after 60 s)."""
    dagster = Path(sys.executable).parent / "dagster"
    with open(folder / "dev.log", "w") as log:
        dev = subprocess.Popen(
            [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-f", "definitions.py"],
            cwd=folder,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield dev
        finally:
            os.killpg(dev.pid, signal.SIGTERM)
            try:
                dev.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(dev.pid, signal.SIGKILL)
                dev.wait(timeout=30)
