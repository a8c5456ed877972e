"""The conductor's HTML status report: one collapsible section per scenario, one line per flow folder."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ._status import analyze_execution_logs

ICONS = {"success": "✅", "warning": "⚠️", "error": "❌"}
_STYLE = """
body { font-family: system-ui, Arial, sans-serif; margin: 24px; color: #222; }
.summary { background: #eef0f3; padding: 12px 16px; border-radius: 6px; margin-bottom: 18px; }
details { border: 1px solid #d6d9de; border-radius: 6px; margin: 8px 0; }
summary { padding: 8px 12px; cursor: pointer; font-weight: 600; }
.body { padding: 8px 16px; background: #fafafa; }
.success { background: #d4edda; color: #155724; }
.warning { background: #fff3cd; color: #856404; }
.error { background: #f8d7da; color: #721c24; }
.flow { margin: 4px 0; padding: 4px 8px; border-radius: 4px; }
"""


def flow_folders(scenario_dir: Path) -> list[Path]:
    """The flow run folders of a scenario: every folder matching `runs/*` below it."""
    if not scenario_dir.is_dir():
        return []
    return sorted(p for p in scenario_dir.rglob("runs/*") if p.is_dir())


def _scenario_block(result: Mapping[str, Any], model_root: Path) -> str:
    name = str(result.get("scenario", "?"))
    ok = result.get("status") == "success"
    folder = Path(result["folder"]) if result.get("folder") else model_root / "Model_Runs" / name
    status = str(result.get("detail_status") or (analyze_execution_logs(folder) if ok else "error"))
    parts = [
        f'<details><summary class="{status}">{ICONS.get(status, "")} {html.escape(name)}</summary><div class="body">'
    ]
    if ok:
        parts.append("<h4>Flows</h4>")
        for flow in flow_folders(folder):
            flow_status = analyze_execution_logs(flow)
            parts.append(f'<div class="flow {flow_status}">{ICONS[flow_status]} {html.escape(flow.name)}</div>')
        if result.get("duration_minutes") is not None:
            parts.append(f"<p><strong>Duration:</strong> {float(result['duration_minutes']):.1f} minutes</p>")
    else:
        parts.append(f"<p><strong>Error:</strong> {html.escape(str(result.get('error', 'unknown error')))}</p>")
    parts.append("</div></details>")
    return "\n".join(parts)


def generate_status_report(results: Iterable[Mapping[str, Any]], model_root: str | Path) -> str:
    """A self-contained HTML report of a conductor's results.

    `results` are dicts with `scenario`, `status` (`success` / `failed`) and optionally
    `duration_minutes` and `error`; a successful scenario is detailed from the execution logs under
    `<model_root>/Model_Runs/<scenario>` (or the result's own `folder`).

    Example:
        >>> "Total scenarios: 1" in generate_status_report([{"scenario": "S", "status": "failed"}], "runs")
        True
    """
    rows = list(results)
    root = Path(model_root)
    ok = sum(1 for r in rows if r.get("status") == "success")
    failed = sum(1 for r in rows if r.get("status") == "failed")
    blocks = "\n".join(_scenario_block(r, root) for r in rows)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Conductor execution report</title>"
        f"<style>{_STYLE}</style></head><body>\n"
        "<h1>Conductor execution report</h1>\n"
        f"<p>Generated {datetime.now():%Y-%m-%d %H:%M:%S}</p>\n"
        '<div class="summary">'
        f"<p><strong>Total scenarios:</strong> {len(rows)}</p>"
        f"<p><strong>Successful:</strong> {ok}</p><p><strong>Failed:</strong> {failed}</p></div>\n"
        f"{blocks}\n</body></html>\n"
    )
