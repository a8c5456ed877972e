"""`make run`'s server: `dagster dev` (webserver + daemon) on loopback serves the bundled examples, checked
through GraphQL and in a real browser (Debian's Chromium driven by Playwright): the catalog lists every
tool's assets, "Materialize all" from the UI ends in successful runs whose metadata the asset pages show, and
a broken pipeline's error is visible while the others work. Screenshots go to `test-output/browser/`."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import REPO, dagster_home
from tests.e2e.conftest import BIN
from tests.servers import free_port, graphql
from trakt_dagster.core.names import dagster_name

ASSETS_QUERY = "{ assetNodes { assetKey { path } groupName } }"
LOCATION_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { name
    locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


BROKEN_PIPELINE = "inputs: {src: a.csv}\nsteps:\n  - id: s\n    uses: [not, a, string]\n"


@pytest.fixture(scope="module")
def dagster_dev(example_root: Path, tmp_path_factory):
    """`dagster dev` over the bundled examples plus one broken trakt pipeline; yields its port."""
    (example_root / "pipelines" / "broken_orders").mkdir()
    (example_root / "pipelines" / "broken_orders" / "pipeline.yaml").write_text(BROKEN_PIPELINE)
    home = dagster_home(tmp_path_factory.mktemp("dagster_home"), REPO / "deploy" / "dagster.yaml")
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


# --- In a real browser -------------------------------------------------------------------------------------

TOOLS = ("trakt", "flowrun", "pit", "ductaflow", "loom")
SCREENSHOTS = REPO / "test-output" / "browser"
NODES_QUERY = "{ assetNodes { assetKey { path } groupName kinds isMaterializable description } }"
RUN_QUERY = """query Run($id: ID!) { runOrError(runId: $id) { __typename ... on Run { runId status
    assetMaterializations { assetKey { path } } } } }"""
RUNS_QUERY = "{ runsOrError(limit: 20) { ... on Runs { results { runId } } } }"
LATEST_METADATA = """query Latest($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode { assetMaterializations(limit: 1) { runId metadataEntries { label } } } } }"""
WAIT_MS = 120_000


def chromium_path() -> str:
    """Debian's Chromium (`make test` installs the `chromium` package); Playwright never downloads one."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise AssertionError("Chromium is not installed: `make test` installs Debian's 'chromium' package as root")
    return found


@pytest.fixture(scope="module")
def browser_page(dagster_dev: int):
    """One headless Chromium page for the module, pointed at the webserver."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000}, base_url=f"http://127.0.0.1:{dagster_dev}")
        page.set_default_timeout(WAIT_MS)
        try:
            yield page
        finally:
            browser.close()


def asset_nodes(port: int) -> list[dict]:
    return graphql(port, NODES_QUERY)["assetNodes"]


def shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def wait_for_run(port: int, run_id_prefix: str) -> dict:
    """The run whose id starts with `run_id_prefix` (as the UI's toast shows it), once it has finished."""
    deadline = time.monotonic() + 600
    while True:
        ids = [r["runId"] for r in graphql(port, RUNS_QUERY)["runsOrError"]["results"]]
        matches = [run_id for run_id in ids if run_id.startswith(run_id_prefix)]
        assert len(matches) <= 1, matches
        if matches:
            run = graphql(port, RUN_QUERY, {"id": matches[0]})["runOrError"]
            if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                return run
        assert time.monotonic() < deadline, f"run {run_id_prefix} did not finish within 10 minutes"
        time.sleep(1)


def test_the_catalog_lists_assets_of_every_bundled_tool(dagster_dev: int, browser_page) -> None:
    nodes = asset_nodes(dagster_dev)
    page = browser_page
    for tool in TOOLS:
        of_tool = [" / ".join(n["assetKey"]["path"]) for n in nodes if tool in n["kinds"] and n["isMaterializable"]]
        assert of_tool, f"no materializable {tool} asset among the bundled examples"
        page.goto("/assets")
        page.locator(".CodeMirror").first.click()  # the catalog's asset-selection box
        page.keyboard.type(f"kind:{tool}")
        page.keyboard.press("Enter")
        for name in of_tool[:3]:
            page.locator("a", has_text=name).first.wait_for()
        shot(page, f"catalog-{tool}")
        # Its group's graph and one asset's page, description included.
        node = next(n for n in nodes if " / ".join(n["assetKey"]["path"]) == of_tool[0])
        page.goto(f"/locations/trakt_dagster/asset-groups/{node['groupName']}")
        page.get_by_role("button", name="Materialize all").wait_for()
        page.get_by_text(node["assetKey"]["path"][-1], exact=True).first.wait_for()
        shot(page, f"graph-{tool}")
        page.goto("/assets/" + "/".join(node["assetKey"]["path"]))
        page.get_by_text("Definition", exact=True).first.wait_for()
        assert node["description"], node
        page.get_by_text("Description", exact=True).first.wait_for()
        words = re.findall(r"[A-Za-z]{4,}", node["description"])[:5]  # rendered as Markdown: compare words
        assert words, node["description"]
        for word in words:
            expect(page.locator("body")).to_contain_text(word, timeout=WAIT_MS)
        # The code reference: "Source code" with a link that opens the file in an editor.
        page.get_by_text("Source code", exact=True).first.wait_for()
        page.get_by_text("in editor").first.wait_for()
        shot(page, f"asset-{tool}")
    page.goto("/asset-groups")
    for group in {n["groupName"] for n in nodes}:
        page.get_by_text(group, exact=True).first.wait_for()
    shot(page, "global-lineage")


@pytest.mark.parametrize("group", ["customer_enrichment", "sqlite_reports"], ids=["trakt", "pit"])
def test_materialize_all_from_the_ui_succeeds_and_shows_metadata(dagster_dev: int, browser_page, group: str) -> None:
    page = browser_page
    page.goto(f"/locations/trakt_dagster/asset-groups/{group}")
    page.get_by_role("button", name="Materialize all").click()
    toast = page.get_by_text("Launched run")
    toast.wait_for()
    run_id_prefix = toast.inner_text().split()[-1]
    shot(page, f"launched-{group}")
    run = wait_for_run(dagster_dev, run_id_prefix)
    assert run["status"] == "SUCCESS", run

    materializable = [n for n in asset_nodes(dagster_dev) if n["groupName"] == group and n["isMaterializable"]]
    materialized = {tuple(m["assetKey"]["path"]) for m in run["assetMaterializations"]}
    assert {tuple(n["assetKey"]["path"]) for n in materializable} <= materialized
    # The asset page shows the metadata of this run's materialization.
    path = sorted(materializable, key=lambda n: n["assetKey"]["path"])[-1]["assetKey"]["path"]
    latest = graphql(dagster_dev, LATEST_METADATA, {"path": path})["assetNodeOrError"]["assetMaterializations"][0]
    assert latest["runId"] == run["runId"]
    labels = [entry["label"] for entry in latest["metadataEntries"] if not entry["label"].startswith("dagster/")]
    assert labels, latest
    page.goto("/assets/" + "/".join(path))
    page.get_by_text("Latest materialization").first.wait_for()
    for label in labels:
        page.get_by_text(label, exact=True).first.wait_for()
    shot(page, f"materialized-{group}")


def test_a_broken_pipelines_error_is_visible_while_the_others_load(dagster_dev: int, browser_page) -> None:
    page = browser_page
    page.goto("/assets/broken_orders/load-error")
    page.get_by_text("did not load").first.wait_for()
    page.get_by_text("pipeline.yaml:4 (key steps[0].uses)", exact=False).first.wait_for()
    page.get_by_text("fix: add 'uses:", exact=False).first.wait_for()
    shot(page, "broken-pipeline")
    groups = {n["groupName"] for n in asset_nodes(dagster_dev)}
    assert {"broken_orders", "customer_enrichment", "sqlite_reports", "api_ingest"} <= groups
