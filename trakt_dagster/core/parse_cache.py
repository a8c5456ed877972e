"""Keep parsed pipeline files beside Python's bytecode, so a code location's next start reads them back.

A code server parses every pipeline file on each start and reload, and so does every run worker; for a root of
hundreds of pipelines that parse is a large part of the load. The parsed value of a file (its data and the line
of each key, plain Python data) is written to the `__pycache__` folder beside the file, under a name that says
which Python wrote it, and read back on the next load instead of parsing again.

It behaves as Python's own bytecode cache does: nothing is written when bytecode writing is off
(`PYTHONDONTWRITEBYTECODE`, `python -B`), `sys.pycache_prefix` (`PYTHONPYCACHEPREFIX`) moves it, and a folder that
cannot be written to is simply not cached. Unlike bytecode it is keyed by the file's *text* (a hash of it and of
the parser's version), not its modification time, so an edited file is never read stale. Values are stored with
`marshal`: reading one runs no code, and a value marshal cannot hold (a date, say) is not cached. Only files that
parsed without error are cached: a broken file is parsed every time, so its error message and line are always
the parser's own.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trakt_dagster.core.atomic import atomic_replace_bytes

FORMAT = b"trakt-dagster parse cache 1\n"
"""First bytes of every entry (the entry's layout; a new layout gets a new number)."""
_DIGEST_BYTES = 16
_MISSING = object()


def cache_path(source: Path) -> Path:
    """Where the parsed value of `source` is kept: `__pycache__/<file name>.<python tag>.parsed` beside it, or
    under `sys.pycache_prefix` (mirroring the file's folder) when that is set.

    Example:
        >>> str(cache_path(Path("/p/sales/pipeline.yaml"))).replace(sys.implementation.cache_tag, "TAG")
        '/p/sales/__pycache__/pipeline.yaml.TAG.parsed'
    """
    name = f"{source.name}.{sys.implementation.cache_tag}.parsed"
    if sys.pycache_prefix:
        folder = Path(os.path.abspath(source.parent))
        return Path(sys.pycache_prefix, *folder.parts[1:], name)
    return source.parent / "__pycache__" / name


def _digest(text: str, parser: str) -> bytes:
    key = hashlib.blake2b(parser.encode("utf-8"), digest_size=_DIGEST_BYTES)
    key.update(b"\0")
    key.update(text.encode("utf-8", "surrogatepass"))
    return key.digest()


def cached_parse(source: Path, text: str, parser: str, parse: Callable[[str], Any]) -> Any:
    """`parse(text)`, or the value stored for this exact `text` and `parser` by an earlier call.

    `parser` names the parser and everything its result depends on (its version, its limits): a different
    `parser` never reads another's entry. `parse` must return plain data (dicts, lists, tuples, strings,
    numbers, booleans, None); it raises for a broken file, and then nothing is stored.

    Example:
        >>> import tempfile, json
        >>> source = Path(tempfile.mkdtemp()) / "p.json"
        >>> cached_parse(source, '{"a": 1}', "json", json.loads)
        {'a': 1}
    """
    digest = _digest(text, parser)
    cache = cache_path(source)
    stored = _read(cache, digest)
    if stored is not _MISSING:
        return stored
    value = parse(text)
    if not sys.dont_write_bytecode:
        _write(cache, digest, value)
    return value


def _read(cache: Path, digest: bytes) -> Any:
    try:
        with open(cache, "rb") as handle:
            raw = handle.read()
    except OSError:
        return _MISSING
    head = len(FORMAT) + _DIGEST_BYTES
    if raw[: len(FORMAT)] != FORMAT or raw[len(FORMAT) : head] != digest:
        return _MISSING  # another text (the file was edited), another parser, or another layout
    try:
        return marshal.loads(raw[head:])
    except (EOFError, ValueError, TypeError):
        return _MISSING  # a damaged entry: parse again (and replace it)


def _write(cache: Path, digest: bytes, value: Any) -> None:
    try:
        payload = marshal.dumps(value)
    except ValueError:
        return  # not plain data (e.g. a date): not cached
    with contextlib.suppress(OSError):  # a read-only folder, a full disk: the next load parses again
        atomic_replace_bytes(cache, FORMAT + digest + payload)
