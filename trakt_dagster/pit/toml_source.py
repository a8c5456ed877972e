"""Read a TOML file together with the line of every table and key, so errors can name where they are.

`tomllib` gives values without positions; `TomlDocument` scans the text once for table headers
(`[dag]`, `[dag.sql]`, `[[tasks]]` counted per array) and `key = value` lines inside them.

The values are read by toml-rs (a compiled TOML 1.0 reader, about fifteen times faster than the pure-Python
`tomllib`: a load of hundreds of projects notices) when it is certain to read the file exactly as `tomllib`
does; anything else, and every file toml-rs rejects, is read by `tomllib`, so every error message and line
stays tomllib's. `tests/pit/test_toml_fast.py` checks that the two agree.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trakt_dagster.core.errors import cut_text
from trakt_dagster.core.source_text import MAX_BYTES, leading_comment_of
from trakt_dagster.core.text_files import read_config_text

try:
    import toml_rs as _toml_rs
except ImportError:  # pragma: no cover - pinned in requirements; without it tomllib reads every file
    _toml_rs = None

FAST_MAX_OPENERS = 500
"""Files with more `[` and `{` than this are read by tomllib only. toml-rs recurses without a limit (tens of
thousands of nested arrays overflow the stack and end the process), while tomllib stops with a
RecursionError a few hundred levels deep (reported as "nested too deeply"); a file with at most this many
brackets cannot nest deeper (a pit.toml has two for each `[[tasks]]` header and one for each array)."""
_LONG_DIGITS = re.compile(r"[0-9_]{600}")
"""Python converts at most `sys.get_int_max_str_digits()` decimal digits (at least 640) to an integer, which
tomllib reports; toml-rs builds such integers anyway. Such a file goes to tomllib."""
FAST_MAX_DEPTH = 100
"""A document toml-rs read that nests deeper than this (possible only with more than this many brackets) is
read again by tomllib, which decides whether it is too deep for it."""

# Both patterns are free of nested quantifiers over the same characters: they run in linear time on any
# line (a header pattern with `\s*([^\]]+?)\s*` took minutes on a line of a few thousand spaces).
_HEADER = re.compile(r"^[ \t]*(\[\[?)([^\]\n]*)\]\]?[ \t]*(?:#.*)?$")
_KEY = re.compile(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_\-.]+)\s*=""")
_AT_LINE = re.compile(r"\(at line (\d+), column \d+\)")


class TomlSyntaxError(ValueError):
    """The file is not valid TOML; `line` is where the parser stopped (when it said so)."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


@functools.lru_cache(maxsize=1024)  # a file's headers repeat (`[[tasks]]`): each text is split once
def _table_name(header: str) -> str:
    """The table a header's text names: `dag . "my sql"` → `dag.my sql`."""
    return ".".join(_unquote(part) for part in header.split("."))


def _unquote(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        return name[1:-1]
    return name


@dataclass
class TomlDocument:
    """A parsed TOML file with the lines of its tables and keys.

    Example:
        >>> doc = TomlDocument.parse('[dag]\\nname = "x"\\n[[tasks]]\\nname = "a"\\n', Path("pit.toml"))
        >>> doc.data["dag"]["name"], doc.line_of("dag", "name"), doc.line_of("tasks", "name", index=0)
        ('x', 2, 4)
    """

    path: Path
    data: dict[str, Any]
    text: str
    had_bom: bool = False
    """Whether the file started with a byte-order mark (`text` is without it)."""
    _tables: dict[tuple[str, int | None], int] = field(default_factory=dict)
    _keys: dict[tuple[str, int | None, str], int] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> TomlDocument:
        """Parse a file; raises `TomlSyntaxError` (with the line), `TextFileError` (too large, not UTF-8; with
        the line) or `OSError`."""
        path = Path(path)
        text = read_config_text(path, keep_bom=True)
        had_bom = text.startswith("\ufeff")
        doc = cls.parse(text[1:] if had_bom else text, path)
        doc.had_bom = had_bom
        return doc

    def leading_comment(self) -> str | None:
        """The comment the file starts with, as `core.source_text.leading_comment` reads it from the file (None
        for a file with a byte-order mark or larger than it reads, as there), from the text already read.

        Example:
            >>> TomlDocument.parse("# Daily sales.\\n[dag]\\n", Path("pit.toml")).leading_comment()
            'Daily sales.'
        """
        if self.had_bom or len(self.text) * 4 > MAX_BYTES and len(self.text.encode("utf-8")) > MAX_BYTES:
            return None
        return leading_comment_of(self.text, self.path.suffix)

    @classmethod
    def parse(cls, text: str, path: Path) -> TomlDocument:
        """Parse `text`; anything tomllib cannot read (also nesting too deep for it, or integers of thousands
        of digits) raises `TomlSyntaxError`.

        Example:
            >>> TomlDocument.parse("a = " + "[" * 5000, Path("x.toml"))
            Traceback (most recent call last):
            ...
            trakt_dagster.pit.toml_source.TomlSyntaxError: arrays or inline tables are nested too deeply to read
        """
        data = _fast_loads(text)
        if data is None:
            data = _tomllib_loads(text)
        doc = cls(path=path, data=data, text=text)
        doc._index()
        return doc

    def _index(self) -> None:
        table = ""
        index: int | None = None
        counters: dict[str, int] = {}
        tables, keys = self._tables, self._keys
        for number, line in enumerate(self.text.splitlines(), start=1):
            # Only a line whose first non-blank character is `[` can be a header, and such a line is never a key:
            # each line is matched against the one pattern it can match (blank and comment lines against none).
            first = line.lstrip()[:1]
            if first == "[":
                header = _HEADER.match(line)
                if not header:
                    continue
                name = header.group(2).strip()
                if not name:
                    continue
                table = _table_name(name)
                if header.group(1) == "[[":
                    index = counters.get(table, -1) + 1
                    counters[table] = index
                else:
                    index = _array_index_of(table, counters)
                tables.setdefault((table, index), number)
                continue
            if not first or first == "#":
                continue
            key = _KEY.match(line)
            if key:
                raw = key.group(1)
                name = _unquote(raw) if raw[0] in "\"'" else raw.split(".")[0]
                keys.setdefault((table, index, name), number)

    def key_lines_of(self) -> Mapping[tuple[str, int | None, str], int]:
        """The line of every key written, by (table, array index or None, key): what `key_line` looks up."""
        return self._keys

    def key_line(self, table: str, key: str, *, index: int | None = None) -> int | None:
        """The line of `key` in `table` when it is written there (no fallback to the table header)."""
        return self._keys.get((table, index, key))

    def line_of(self, table: str, key: str | None = None, *, index: int | None = None) -> int | None:
        """The line of `key` in `table` (the `index`-th entry of an array of tables), else of the table header."""
        if key is not None:
            found = self._keys.get((table, index, key))
            if found is not None:
                return found
        return self._tables.get((table, index))


def _fast_loads(text: str) -> dict[str, Any] | None:
    """`tomllib.loads(text)` read by toml-rs in its TOML 1.0 mode, or None when tomllib must read it: toml-rs
    is missing, rejects the text, or could read it differently (a byte-order mark, which toml-rs skips and
    tomllib rejects; nesting tomllib may find too deep; integers of more digits than Python converts).

    Example:
        >>> _fast_loads('[dag]\\nname = "x"\\n') == tomllib.loads('[dag]\\nname = "x"\\n')
        True
        >>> _fast_loads("a = ") is None  # invalid: tomllib reads it and says where
        True
    """
    if _toml_rs is None or text.startswith("\ufeff") or _LONG_DIGITS.search(text):
        return None
    openers = text.count("[") + text.count("{")
    if openers > FAST_MAX_OPENERS:
        return None
    try:
        data = _toml_rs.loads(text, toml_version="1.0.0")
    except BaseException as exc:  # noqa: BLE001 - any failure, also a panic of the Rust code: tomllib decides
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return None
    if openers > FAST_MAX_DEPTH and _nests_deeper(data, FAST_MAX_DEPTH):
        return None
    return data


def _nests_deeper(value: Any, limit: int) -> bool:
    """Whether arrays and tables nest more than `limit` deep in a value read from TOML (without recursion).

    Example:
        >>> _nests_deeper({"a": [[1], {"b": 2}]}, 3), _nests_deeper({"a": [[1], {"b": 2}]}, 2)
        (False, True)
    """
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def _tomllib_loads(text: str) -> dict[str, Any]:
    """`tomllib.loads(text)`, its failures as `TomlSyntaxError` with the line where known."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _AT_LINE.search(str(exc))
        raise TomlSyntaxError(str(exc), int(match.group(1)) if match else None) from None
    except RecursionError:
        raise TomlSyntaxError("arrays or inline tables are nested too deeply to read", _deepest_line(text)) from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        digits = re.search(r"\d{1000,}", text)
        line = text.count("\n", 0, digits.start()) + 1 if digits else None
        raise TomlSyntaxError(f"a value cannot be read: {cut_text(str(exc), 200)}", line) from None


def _deepest_line(text: str, limit: int = 100) -> int | None:
    """The first line where brackets and braces (outside strings, roughly) open more than `limit` deep."""
    depth, line, quote = 0, 1, ""
    for char in text:
        if char == "\n":
            line += 1
        elif quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
            if depth > limit:
                return line
        elif char in "]}":
            depth -= 1
    return None


def _array_index_of(table: str, counters: dict[str, int]) -> int | None:
    """`[tasks.env]` after the 3rd `[[tasks]]` belongs to that entry: its index, else None."""
    parent = table.rsplit(".", 1)[0] if "." in table else None
    while parent:
        if parent in counters:
            return counters[parent]
        parent = parent.rsplit(".", 1)[0] if "." in parent else None
    return None
