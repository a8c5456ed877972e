"""Whether a name or a path written in a pipeline file can be used at all (NUL bytes, control characters,
lengths no file system takes), so such values are load errors instead of failures deep inside a run.

Example:
    >>> path_text_problem("data/in.csv") is None, path_text_problem("a\\x00b.csv")
    (True, 'contains a NUL byte')
    >>> name_problem("x" * 300)
    'is 300 bytes long (at most 200)'
"""

from __future__ import annotations

MAX_NAME_BYTES = 200
"""Longest pipeline or task name: names become folder and file names (at most 255 bytes on most systems)
with a short suffix added."""
MAX_PART_BYTES = 255
MAX_PATH_BYTES = 4096


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def path_text_problem(text: str) -> str | None:
    """Why `text` (a file path, glob or folder from a pipeline file) cannot be a path, or None."""
    if "\x00" in text:
        return "contains a NUL byte"
    if len(text) * 4 <= MAX_PART_BYTES:
        return None  # at most 4 bytes a character: no part (nor the whole) can be too long
    if _utf8_len(text) > MAX_PATH_BYTES:
        return f"is {_utf8_len(text)} bytes long (paths take at most {MAX_PATH_BYTES})"
    longest = max((part for part in text.replace("\\", "/").split("/")), key=_utf8_len, default="")
    if _utf8_len(longest) > MAX_PART_BYTES:
        return f"has a part of {_utf8_len(longest)} bytes (file and folder names take at most {MAX_PART_BYTES})"
    return None


def name_problem(name: object) -> str | None:
    """Why `name` cannot name a pipeline or a task (not text, empty, a NUL byte, too long), or None."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not text"
    if not name.strip():
        return "is empty"
    if "\x00" in name:
        return "contains a NUL byte"
    if _utf8_len(name) > MAX_NAME_BYTES:
        return f"is {_utf8_len(name)} bytes long (at most {MAX_NAME_BYTES})"
    return None
