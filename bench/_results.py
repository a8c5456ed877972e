"""Write one benchmark's section of bench/RESULTS.md (sections are replaced, others kept)."""

from __future__ import annotations

import platform
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = """# Benchmark results

Produced by the scripts in `bench/` (`make bench` runs them all). Each section compares trakt-dagster with
the tool run natively on the same machine; ratios are trakt-dagster / native (lower is better).
"""


def machine() -> str:
    import os

    return (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}"
    )


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section between `<!-- name -->` markers."""
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = f"<!-- {name} -->\n{body.strip()}\n\n_Measured {stamp} on {machine()}._\n<!-- /{name} -->"
    pattern = re.compile(rf"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)


def best(fn: Callable[[], object], repeat: int) -> float:
    """The fastest of `repeat` timed calls of `fn`, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)
