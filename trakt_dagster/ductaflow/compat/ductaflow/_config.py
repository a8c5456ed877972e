"""Config handling: one JSON form for the saved file and the kernel, flattening, markdown summaries."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

PATH_KEYS = ("model_runs_dir", "run_folder", "output_dir", "data_dir", "input_dir", "results_dir", "_project_root")
"""Keys `unpack_config` turns into `pathlib.Path` objects."""


def normalize_config(config: Any) -> dict[str, Any]:
    """The config as JSON sees it: tuples become lists, paths and other non-JSON values strings, NaN stays.

    What the kernel receives and what `<flow>_config.json` holds are both this, so they always agree.

    Example:
        >>> normalize_config({"t": (1, 2), "p": Path("a/b"), "k": {"camelCase": 1}})
        {'t': [1, 2], 'p': 'a/b', 'k': {'camelCase': 1}}
    """
    data = json.loads(json.dumps(dict(config or {}), default=str))
    return data


def config_json(config: dict[str, Any]) -> str:
    """The text of a saved config file (indent 2, keys in the caller's order).

    Example:
        >>> print(config_json({"region": "eu", "_project_root": "/proj"}))
        {
          "region": "eu",
          "_project_root": "/proj"
        }
    """
    return json.dumps(config, indent=2, ensure_ascii=False) + "\n"


def unpack_config(
    config: dict[str, Any] | None = None,
    flow_name: str | None = None,
    caller_locals: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Flatten a config into variables: every key, plus the direct children of dict values (one level).

    Later keys win over earlier ones; the keys in `PATH_KEYS` become `Path` objects; the input is not
    changed. With `caller_locals` (a flow's `locals()`), the variables are set there too.

    Example:
        >>> unpack_config({"db": {"host": "h1"}, "host": "TOP"})["host"]
        'TOP'
        >>> unpack_config({"host": "TOP", "db": {"host": "h1"}})["host"]
        'h1'
        >>> unpack_config({"paths": {"data_dir": "x"}})["data_dir"]
        PosixPath('x')
    """
    if not config:
        print("⚠️ No config found: pass one with --config file.json or run the flow through papermill")
        return {}
    if flow_name:
        display_config_summary(config, flow_name)
    unpacked: dict[str, Any] = {}
    for key, value in config.items():
        unpacked[key] = value
        if isinstance(value, dict):
            for child_key, child_value in value.items():
                unpacked[child_key] = child_value
    for key in PATH_KEYS:
        if unpacked.get(key) is not None:
            unpacked[key] = Path(unpacked[key])
    if caller_locals is not None:
        caller_locals.update(unpacked)
    print(f"📋 Unpacked {len(unpacked)} config variables: {', '.join(map(str, unpacked))}")
    return unpacked


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if value is None:
        return "*None*"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, list | tuple):
        text = ", ".join(str(item) for item in value)
    elif isinstance(value, dict):
        text = f"*{len(value)} items*"
    else:
        text = str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def generate_config_markdown(config: dict[str, Any], flow_name: str | None = None) -> str:
    """A markdown summary of a config: a table of its plain values, one section per dict value.

    Example:
        >>> print(generate_config_markdown({"region": "eu", "db": {"host": "h"}}, "Clean"))
        ## Configuration for Clean
        <BLANKLINE>
        | Parameter | Value |
        |-----------|-------|
        | region | eu |
        <BLANKLINE>
        ### Db
        <BLANKLINE>
        | Parameter | Value |
        |-----------|-------|
        | host | h |
        <BLANKLINE>
    """
    if not config:
        return "**No configuration provided**\n"
    lines = [f"## Configuration for {flow_name}" if flow_name else "## Configuration", ""]
    plain = {k: v for k, v in config.items() if not (isinstance(v, dict) and v)}
    sections = {k: v for k, v in config.items() if isinstance(v, dict) and v}
    if plain:
        lines += ["| Parameter | Value |", "|-----------|-------|"]
        lines += [f"| {key} | {_cell(value)} |" for key, value in plain.items()]
        lines.append("")
    for key, section in sections.items():
        lines += [f"### {str(key).replace('_', ' ').title()}", "", "| Parameter | Value |", "|-----------|-------|"]
        lines += [f"| {child} | {_cell(value)} |" for child, value in section.items()]
        lines.append("")
    return "\n".join(lines)


def display_config_summary(config: dict[str, Any], flow_name: str | None = None) -> None:
    """Show the config summary as markdown in a notebook (printed outside one)."""
    text = generate_config_markdown(config, flow_name)
    ipython = sys.modules.get("IPython")  # not imported: certainly not inside IPython
    if ipython is None or ipython.get_ipython() is None:
        print(text)
        return
    from IPython.display import Markdown, display

    display(Markdown(text))
