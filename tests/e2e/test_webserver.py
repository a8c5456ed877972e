"""`make run`'s server: `dagster dev` on loopback serves the example assets through the webserver."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import BIN
from trakt_dagster.core.names import dagster_name

ASSETS_QUERY = "{ assetNodes { assetKey { path } groupName } }"
LOCATION_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { name
    locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


@pytest.fixture(scope="module")
def dagster_dev(example_root: Path, tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    log = open(home / "dev.log", "w")  # noqa: SIM115 - closed in the finally block below
    process = subprocess.Popen(
        [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=example_root,
        env={**os.environ, "DAGSTER_HOME": str(home), "PATH": f"{BIN}:{os.environ['PATH']}"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                entries = graphql(port, LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["locationOrLoadError"] is not None:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("dagster dev did not come up:\n" + (home / "dev.log").read_text()[-4000:])
            time.sleep(1)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_ui_serves_example_assets(dagster_dev: int) -> None:
    entries = graphql(dagster_dev, LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
    assert [e["name"] for e in entries] == ["trakt_dagster"]
    loaded = entries[0]["locationOrLoadError"]
    assert loaded["__typename"] == "RepositoryLocation", loaded.get("message")
    nodes = graphql(dagster_dev, ASSETS_QUERY)["assetNodes"]
    keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
    assert {
        "sales_multi_file/clean_orders",
        "sales_multi_file/customer_totals",
        "customer_enrichment/orders_enriched",
        "customer_enrichment/customers",
        "api_ingest/fetch_orders",
        "event_batches/write_summary",
        "orders_sdk/summarize",
        "sqlite_reports/" + dagster_name("export-report"),
        "dbt_shop/customer_revenue",
        "raw/orders",
        "mart/daily_sales",
    } <= keys
    groups = {n["groupName"] for n in nodes}
    assert {
        "sales_multi_file",
        "customer_enrichment",
        "api_ingest",
        "orders_sdk",
        "dbt_shop",
        "OrdersNightly",
    } <= groups
    with urllib.request.urlopen(f"http://127.0.0.1:{dagster_dev}/assets", timeout=10) as page:
        assert page.status == 200 and b"<html" in page.read().lower()
