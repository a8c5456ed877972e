"""Read a pipeline's configuration file (YAML, TOML) as text, with bounded size and located decoding errors."""

from __future__ import annotations

from pathlib import Path

MAX_CONFIG_BYTES = 16 * 1024 * 1024
"""Largest configuration file read (pipeline files are kilobytes; this keeps memory bounded)."""


class TextFileError(ValueError):
    """A configuration file that is too large or not UTF-8; `line` is where the first bad byte is.

    Example:
        >>> TextFileError("not UTF-8", 3).line
        3
    """

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def read_config_text(path: Path, max_bytes: int = MAX_CONFIG_BYTES, *, keep_bom: bool = False) -> str:
    """The UTF-8 text of `path` (a leading byte-order mark removed, unless `keep_bom`). Raises `OSError` when it
    cannot be read and `TextFileError` when it is larger than `max_bytes` or not UTF-8.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "p.yaml"
        >>> _ = p.write_bytes(b"name: a\\nowner: caf\\xe9\\n")
        >>> read_config_text(p)
        Traceback (most recent call last):
        ...
        trakt_dagster.core.text_files.TextFileError: line 2 is not valid UTF-8 (byte 0xe9 at column 11)
    """
    path = Path(path)
    with open(path, "rb") as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise TextFileError(f"the file is larger than {max_bytes // (1024 * 1024)} MiB; it is not read")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise TextFileError(
            f"line {line} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {column})", line
        ) from None
    return text[1:] if not keep_bom and text.startswith("\ufeff") else text
