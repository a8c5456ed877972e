"""Read a TOML file together with the line of every table and key, so errors can name where they are.

`tomllib` gives values without positions; `TomlDocument` scans the text once for table headers
(`[dag]`, `[dag.sql]`, `[[tasks]]` counted per array) and `key = value` lines inside them.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trakt_dagster.core.errors import cut_text
from trakt_dagster.core.text_files import read_config_text

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
    _tables: dict[tuple[str, int | None], int] = field(default_factory=dict)
    _keys: dict[tuple[str, int | None, str], int] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> TomlDocument:
        """Parse a file; raises `TomlSyntaxError` (with the line), `TextFileError` (too large, not UTF-8; with
        the line) or `OSError`."""
        return cls.parse(read_config_text(Path(path)), Path(path))

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
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            match = _AT_LINE.search(str(exc))
            raise TomlSyntaxError(str(exc), int(match.group(1)) if match else None) from None
        except RecursionError:
            raise TomlSyntaxError(
                "arrays or inline tables are nested too deeply to read", _deepest_line(text)
            ) from None
        except ValueError as exc:  # e.g. an integer of more digits than Python converts
            digits = re.search(r"\d{1000,}", text)
            line = text.count("\n", 0, digits.start()) + 1 if digits else None
            raise TomlSyntaxError(f"a value cannot be read: {cut_text(str(exc), 200)}", line) from None
        doc = cls(path=path, data=data, text=text)
        doc._index()
        return doc

    def _index(self) -> None:
        table = ""
        index: int | None = None
        counters: dict[str, int] = {}
        for number, line in enumerate(self.text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                name = header.group(2).strip()
                if not name:
                    continue
                table = ".".join(_unquote(part) for part in name.split("."))
                if header.group(1) == "[[":
                    index = counters.get(table, -1) + 1
                    counters[table] = index
                else:
                    index = _array_index_of(table, counters)
                self._tables.setdefault((table, index), number)
                continue
            key = _KEY.match(line)
            if key:
                raw = key.group(1)
                name = _unquote(raw) if raw[0] in "\"'" else raw.split(".")[0]
                self._keys.setdefault((table, index, name), number)

    def key_line(self, table: str, key: str, *, index: int | None = None) -> int | None:
        """The line of `key` in `table` when it is written there (no fallback to the table header)."""
        return self._keys.get((table, index, key))

    def line_of(self, table: str, key: str | None = None, *, index: int | None = None) -> int | None:
        """The line of `key` in `table` (the `index`-th entry of an array of tables), else of the table header."""
        if key is not None and (table, index, key) in self._keys:
            return self._keys[(table, index, key)]
        return self._tables.get((table, index))


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
