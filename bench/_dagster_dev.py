"""Start and stop `dagster dev` for the benches that measure it (webserver + daemon on a free loopback port),
with the tests' own process and GraphQL helpers (`tests/servers.py`).

Example:
    >>> # with dagster_dev(folder, env, port) as dev:
    >>> #     graphql(port, "{ version }")
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import servers  # noqa: E402
from tests.servers import free_port  # noqa: E402, F401 - re-exported for the benches

GRAPHQL_TIMEOUT_S = 120
"""A reload of a large code location answers only once the new code server has loaded."""


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    """The `data` of one GraphQL request to the webserver on `port` (`servers.graphql`, a longer timeout)."""
    return servers.graphql(port, query, variables, timeout=GRAPHQL_TIMEOUT_S)


@contextlib.contextmanager
def dagster_dev(folder: Path, env: Mapping[str, str], port: int) -> Iterator[subprocess.Popen]:
    """`dagster dev -f definitions.py` in `folder` (log in `folder/dev.log`), stopped with its whole process
    group on exit."""
    dagster = Path(sys.executable).parent / "dagster"
    args = [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-f", "definitions.py"]
    with servers.service(args, folder, dict(env), folder / "dev.log") as dev:
        yield dev
