"""Every tool's own `run` command prints the run's progress: a live line on a terminal (a real pseudo-terminal
here), plain lines through pipes; pit's and trakt's commands keep their own output, with the live line only on
a terminal and erased at the end."""

from __future__ import annotations

import os
import re
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import BIN

ERASE = "\r\x1b[K"
CASES = {
    # tool: (arguments after `trakt-dagster`, the pipeline name in the progress lines, prints the tool's own output)
    "trakt": (
        ["trakt", "run", "--pipeline", "sales_multi_file", "--input-dir", "pipelines/sales_multi_file/input"],
        "sales_multi_file",
        True,
    ),
    "pit": (["pit", "run", "sqlite_reports", "--project-dir", "."], "sqlite_reports", True),
    "flowrun": (["flowrun", "run", "api_ingest", "--root", "."], "api_ingest", False),
    "loom": (["loom", "run", "OrdersNightly", "--root", ".", "--partition", "2026-03-30"], "OrdersNightly", False),
    "ductaflow": (["ductaflow", "run", "prepare_demand", "--root", "."], "demand_scenarios__prepare_demand", False),
}
TIMEOUT_S = 600


def environment() -> dict[str, str]:
    env = {**os.environ, "TERM": "xterm"}
    env.pop("DAGSTER_HOME", None)  # an ephemeral instance
    return env


def run_on_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run `trakt-dagster ARGS` with stdin, stdout and stderr on one pseudo-terminal; what it wrote there."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        [str(BIN / "trakt-dagster"), *args], cwd=cwd, env=environment(), stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break  # exited and nothing left to read (a child process may still hold the terminal)
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    return code, b"".join(chunks).decode(errors="replace")


def screen(raw: str) -> list[str]:
    """The lines a terminal shows after `raw`: `\\r` goes back to the line's start, `ESC[K` clears the rest of the
    line, colours are dropped."""
    raw = re.sub(r"\x1b\[[0-9;]*m", "", raw)
    lines: list[str] = []
    line: list[str] = []
    col = 0
    i = 0
    while i < len(raw):
        if raw.startswith("\x1b[K", i):
            del line[col:]
            i += 3
            continue
        char = raw[i]
        if char == "\r":
            col = 0
        elif char == "\n":
            lines.append("".join(line))
            line, col = [], 0
        else:
            if col < len(line):
                line[col] = char
            else:
                line.append(char)
            col += 1
        i += 1
    if line:
        lines.append("".join(line))
    return lines


def same_shape(lines: list[str]) -> list[str]:
    """Lines with numbers, run ids, timestamps and durations blanked (two runs differ only there; a duration
    is `850ms` in one run and `1.2s` in a slower one)."""
    durations = r"\b(?:\d+(?:\.\d+)?(?:ns|µs|us|ms|s|m|h))+\b"
    return [re.sub(rf"[0-9a-f]{{8}}-[0-9a-f-]{{27}}|{durations}|\d+", "#", line).rstrip() for line in lines]


def progress_of(texts: list[str], pipeline: str) -> list[str]:
    return [t for t in texts if t.startswith(f"{pipeline} [")]


def check_counts(progress: list[str], pipeline: str) -> None:
    """Every task has its start and end line; the end lines count 1..n of n."""
    started = [p for p in progress if re.fullmatch(rf"{re.escape(pipeline)} \[[^\]]+\] started", p)]
    ended = [
        p for p in progress if re.fullmatch(rf"{re.escape(pipeline)} \[[^\]]+\] succeeded in \S+ s \(\d+/\d+ done\)", p)
    ]
    assert started and len(started) == len(ended) and len(started) + len(ended) == len(progress), progress
    counts = [tuple(map(int, re.search(r"\((\d+)/(\d+) done\)", p).groups())) for p in ended]
    total = counts[-1][1]
    assert counts == [(k, total) for k in range(1, total + 1)], counts


@pytest.mark.parametrize("tool", sorted(CASES))
def test_run_command_prints_a_live_line_on_a_terminal_and_plain_lines_through_pipes(
    tool: str, example_root: Path
) -> None:
    args, pipeline, own_output = CASES[tool]
    piped = subprocess.run(
        [str(BIN / "trakt-dagster"), *args],
        cwd=example_root,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert piped.returncode == 0, piped.stdout[-3000:] + piped.stderr[-3000:]
    code, raw = run_on_terminal(args, example_root)
    assert code == 0, raw[-3000:]

    # on the terminal: one line rewritten in place (drawn again after other output), every task's start and end,
    # counted up to n of n
    live = progress_of(raw.split(ERASE), pipeline)
    check_counts(list(dict.fromkeys(p.split("\r")[0].rstrip("\n") for p in live)), pipeline)
    shown = screen(raw)
    # through pipes: no terminal control characters at all
    assert "\r" not in piped.stdout + piped.stderr and "\x1b[K" not in piped.stdout + piped.stderr
    if own_output:
        # the tool's own output, exactly as through pipes; the live line is erased at the end
        assert not progress_of(shown, pipeline), shown
        assert not progress_of(piped.stderr.splitlines() + piped.stdout.splitlines(), pipeline)
        assert same_shape(shown) == same_shape(piped.stderr.splitlines() + piped.stdout.splitlines())
        if tool == "pit":
            assert piped.stderr == ""  # pit prints nothing but its summary
    else:
        # the last progress line stays on screen, above the command's summary; through pipes, plain lines
        kept = progress_of(shown, pipeline)
        assert len(kept) == 1 and re.search(r"\((\d+)/\1 done\)$", kept[0]), shown
        check_counts(progress_of(piped.stderr.splitlines(), pipeline), pipeline)
        assert " - dagster - " not in piped.stderr and "STEP_START" not in piped.stderr  # not Dagster's log
        # the command's own summary (run id, status, manifest, one line per task or instance) follows it, in order
        summary = same_shape([line for line in piped.stdout.splitlines() if line.startswith(SUMMARY)])
        assert summary and is_subsequence(summary, same_shape(shown[shown.index(kept[0]) :])), (summary, shown)


SUMMARY = ("run id:", "status:", "manifest:", "  ")
"""How the lines of flowrun's, loom's and ductaflow's run summaries start (not the user code's own prints)."""


def is_subsequence(wanted: list[str], lines: list[str]) -> bool:
    found = iter(lines)
    return all(any(line == want for line in found) for want in wanted)
