"""CSV reading and writing with trakt's rules: input path resolution, read/write options, schema checks.

pandas 3 is pinned: text columns report dtype `str` (pandas 2 said `object`), which matters for
`schema` mappings (see docs/trakt.md). pandas is imported by the functions that read, combine or write data,
not with this module: loading pipelines (input paths, schema shapes) and commands of other tools need none.
"""

from __future__ import annotations

import csv
import glob
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trakt_dagster.trakt.model import CombineStrategy

if TYPE_CHECKING:
    import pandas as pd

READ_OPTION_KEYS = (
    "delimiter",
    "encoding",
    "header",
    "date_columns",
    "decimal",
    "quotechar",
    "escapechar",
    "skipinitialspace",
    "dtype",
    "na_values",
    "keep_default_na",
    "delimiter_candidates",
)
WRITE_OPTION_KEYS = (
    "delimiter",
    "encoding",
    "header",
    "index",
    "decimal",
    "quotechar",
    "escapechar",
    "lineterminator",
)
DEFAULT_SNIFF_CANDIDATES = (",", ";", "\t", "|")
SNIFF_SAMPLE_CHARS = 8192


# -- input paths --------------------------------------------------------------------------------
def resolve_input_paths(name: str, source: str, input_dir: str | Path, extension: str) -> list[Path]:
    """Files for one input: comma list of paths, globs and directories, relative to `input_dir`.

    Globs and directories keep only files with `extension` (silently); an explicit file with another
    suffix is an error; no files at all is an error.

    Example:
        >>> # resolve_input_paths("src", "a.csv, parts/*.csv", "input", ".csv")
    """
    extension = extension.lower()
    found: list[Path] = []
    for part in (p.strip() for p in source.split(",")):
        if not part:
            continue
        path = Path(part)
        full = path if path.is_absolute() else Path(input_dir) / path
        if any(ch in part for ch in "*?["):
            matches = [Path(m) for m in sorted(glob.glob(str(full), recursive=True))]
            found.extend(m for m in matches if m.is_file() and _has_extension(m, extension))
        elif full.is_dir():
            found.extend(c for c in sorted(full.iterdir()) if c.is_file() and _has_extension(c, extension))
        elif full.is_file():
            if extension and not _has_extension(full, extension):
                raise ValueError(f"Input spec '{part}' does not match expected file extension '{extension}'.")
            found.append(full)
    unique: dict[Path, Path] = {}
    for item in found:
        unique.setdefault(item.resolve(), item)
    if not unique:
        where = Path(input_dir).resolve() if input_dir not in ("", None) else Path.cwd()
        raise FileNotFoundError(f"No input files found for '{name}' using source '{source}'. (searched in {where})")
    return list(unique)  # resolved, as trakt names them in its messages


def _has_extension(path: Path, extension: str) -> bool:
    return not extension or path.suffix.lower() == extension


# -- reading ------------------------------------------------------------------------------------
def read_options(input_name: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """CSV read options: `metadata.read_options`, overridden by the flat metadata keys trakt knows."""
    options = _options_mapping(metadata.get("read_options"), f"input '{input_name}' metadata.read_options")
    for key in READ_OPTION_KEYS:
        if metadata.get(key) is not None:
            options[key] = metadata[key]
    mode = metadata.get("delimiter_mode")
    if isinstance(mode, str) and mode.strip().lower() in {"auto", "sniff"} and "delimiter" not in options:
        options["delimiter"] = "auto"
    return options


def write_options(output_name: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """CSV write options: `metadata.write_options`, overridden by the flat metadata keys trakt knows."""
    options = _options_mapping(metadata.get("write_options"), f"output '{output_name}' metadata.write_options")
    for key in WRITE_OPTION_KEYS:
        if metadata.get(key) is not None:
            options[key] = metadata[key]
    return options


def _options_mapping(value: Any, label: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{label} must be a mapping when provided.")
    return dict(value)


def normalize_header(value: Any) -> int | str | None:
    """trakt's `header` option: true/infer → 'infer', false/none/null → None, digits → that row.

    Example:
        >>> normalize_header(False), normalize_header("infer"), normalize_header("2")
        (None, 'infer', 2)
    """
    if isinstance(value, bool):
        return "infer" if value else None
    if value is None or isinstance(value, int):
        return value
    text = str(value).strip().lower()
    if text in {"none", "null", "false"}:
        return None
    if text in {"infer", "true"}:
        return "infer"
    if text.isdigit():
        return int(text)
    raise ValueError(f"Unsupported CSV header value: {value}")


def sniff_delimiter(path: Path, encoding: str, candidates: Any = None) -> str:
    """Guess the delimiter from the first 8192 characters; `,` when unsure."""
    if candidates is None:
        options = "".join(DEFAULT_SNIFF_CANDIDATES)
    elif isinstance(candidates, str):
        options = candidates
    else:
        options = "".join(str(c) for c in candidates)
    with open(path, encoding=encoding, newline="") as fh:
        sample = fh.read(SNIFF_SAMPLE_CHARS)
    try:
        return csv.Sniffer().sniff(sample, delimiters=options).delimiter
    except csv.Error:
        return ","


def _pandas_read_kwargs(path: Path, options: Mapping[str, Any]) -> dict[str, Any]:
    opts = dict(options)
    delimiter = opts.pop("delimiter", ",")
    candidates = opts.pop("delimiter_candidates", None)
    encoding = opts.pop("encoding", "utf-8")
    if isinstance(delimiter, str) and delimiter.strip().lower() in {"auto", "sniff"}:
        delimiter = sniff_delimiter(path, encoding, candidates)
    dates = opts.pop("date_columns", None)
    if isinstance(dates, str):
        dates = [d.strip() for d in dates.split(",") if d.strip()] or None
    elif dates is not None:
        dates = [str(d) for d in dates]
    kwargs = {
        "sep": delimiter,
        "encoding": encoding,
        "header": normalize_header(opts.pop("header", "infer")),
        "decimal": opts.pop("decimal", "."),
    }
    if dates:
        kwargs["parse_dates"] = dates
    kwargs.update(opts)
    return kwargs


class InputFileError(ValueError):
    """An input file that cannot be read as CSV (empty, not in its encoding, ragged rows, binary); the
    message names the input, the file and, where the parser knows it, the line.

    Example:
        >>> InputFileError("src", Path("in/a.csv"), "the file is empty", None).path
        PosixPath('in/a.csv')
    """

    def __init__(self, input_name: str | None, path: Path, reason: str, line: int | None) -> None:
        label = f"input '{input_name}' " if input_name else ""
        at = f" (line {line})" if line is not None and "line" not in reason else ""
        super().__init__(f"Cannot read {label}file {path}{at}: {reason}")
        self.input_name = input_name
        self.path = path
        self.line = line


def _undecodable_line(path: Path, encoding: str) -> int | None:
    """The first line of `path` that does not decode (UTF-8 and single-byte encodings), else None."""
    try:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    raw.decode(encoding)
                except UnicodeDecodeError:
                    return number
    except (OSError, LookupError):
        return None
    return None


def _read_error(input_name: str | None, path: Path, exc: Exception, encoding: str) -> InputFileError:
    if isinstance(exc, UnicodeDecodeError):
        line = _undecodable_line(path, encoding)
        byte = exc.object[exc.start : exc.start + 1] if isinstance(exc.object, bytes) else b""
        reason = f"it is not {encoding} text (byte {byte!r}); binary file, or set metadata: {{encoding: ...}}"
        return InputFileError(input_name, path, reason, line)
    import pandas as pd

    if isinstance(exc, pd.errors.EmptyDataError):
        return InputFileError(input_name, path, "the file is empty (no header line, no rows)", None)
    text = str(exc).strip().replace("\n", " ")
    match = re.search(r"\bline (\d+)", text)
    return InputFileError(input_name, path, text[:300], int(match.group(1)) if match else None)


@cache
def read_errors() -> tuple[type[Exception], ...]:
    """What reading a bad CSV file raises (pandas and the csv sniffer), turned into `InputFileError`.

    Example:
        >>> import csv; csv.Error in read_errors()
        True
    """
    import pandas as pd

    return (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error)


def read_csv_file(path: Path, options: Mapping[str, Any], input_name: str | None = None) -> pd.DataFrame:
    """One CSV file as a DataFrame, with trakt's read options; a file that cannot be read raises
    `InputFileError` naming the input, the file and the line where known."""
    import pandas as pd

    kwargs = _read_kwargs(path, options, input_name)
    try:
        return pd.read_csv(path, **kwargs)
    except read_errors() as exc:
        raise _read_error(input_name, path, exc, kwargs["encoding"]) from exc


def _read_kwargs(path: Path, options: Mapping[str, Any], input_name: str | None) -> dict[str, Any]:
    encoding = str(options.get("encoding", "utf-8"))
    try:
        return _pandas_read_kwargs(path, options)
    except read_errors() as exc:  # sniffing the delimiter reads the file
        raise _read_error(input_name, path, exc, encoding) from exc


def iter_csv_chunks(
    paths: Sequence[Path], options: Mapping[str, Any], chunk_size: int, input_name: str | None = None
) -> Iterator[pd.DataFrame]:
    """Chunks of at most `chunk_size` rows, file after file (chunk boundaries restart at every file); a file
    that cannot be read raises `InputFileError` naming the input and that file."""
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size <= 0:
        raise ValueError("Stream chunk_size must be a positive integer.")
    import pandas as pd

    for path in paths:
        kwargs = _read_kwargs(path, options, input_name)
        try:
            with pd.read_csv(path, chunksize=chunk_size, **kwargs) as reader:
                yield from reader
        except read_errors() as exc:
            raise _read_error(input_name, path, exc, kwargs["encoding"]) from exc


def delimiter_warning(frame: Any, delimiter: Any) -> str | None:
    """A hint when a frame read as one column looks separated by another delimiter (`a;b;c`).

    Example:
        >>> import pandas as pd
        >>> delimiter_warning(pd.DataFrame({"id;amount": ["1;2"]}), ",")
        "was read as one column 'id;amount' with delimiter ',', but looks ';'-separated"
    """
    columns = getattr(frame, "columns", None)
    if columns is None or len(columns) != 1:
        return None
    header = str(columns[0])
    used = delimiter if isinstance(delimiter, str) else ","
    for candidate in DEFAULT_SNIFF_CANDIDATES:
        if candidate != used and candidate in header:
            return f"was read as one column {header[:60]!r} with delimiter {used!r}, but looks {candidate!r}-separated"
    return None


# -- combining and schema -----------------------------------------------------------------------
def combine_frames(frames: Sequence[pd.DataFrame], strategy: CombineStrategy) -> pd.DataFrame:
    """Several files' frames as one, by trakt's combine strategies."""
    if len(frames) == 1:
        return frames[0]
    import pandas as pd

    first = tuple(frames[0].columns)
    if strategy is CombineStrategy.UNION_BY_NAME:
        return pd.concat(frames, ignore_index=True, sort=False)
    for index, frame in enumerate(frames[1:], start=1):
        columns = tuple(frame.columns)
        if columns != first:
            raise ValueError(
                f"Column mismatch while combining frames: frame 0 columns={first}, frame {index} columns={columns}"
            )
        if strategy is CombineStrategy.VALIDATE_SCHEMA:
            want = tuple(str(t) for t in frames[0].dtypes)
            got = tuple(str(t) for t in frame.dtypes)
            if got != want:
                raise ValueError(
                    f"Schema mismatch while combining frames: frame 0 dtypes={want}, frame {index} dtypes={got}"
                )
    return pd.concat(frames, ignore_index=True)


def schema_shape_error(schema: Any) -> str | None:
    """Why a `schema:` value is malformed (checked when the pipeline loads), or None."""
    if schema is None:
        return None
    if isinstance(schema, list):
        if not all(isinstance(c, str) for c in schema):
            return "schema list must contain column names (strings)."
        if len(set(schema)) != len(schema):
            return "schema list has duplicate column names."
        return None
    if isinstance(schema, Mapping):
        if _is_structured(schema):
            extra = sorted(set(schema) - {"columns", "dtypes"})
            if extra:
                return f"schema has unknown keys: {', '.join(map(str, extra))} (allowed: columns, dtypes)."
            columns = schema.get("columns") or []
            if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
                return "schema 'columns' must be a list of column names."
            if len(set(columns)) != len(columns):
                return "schema 'columns' has duplicate column names."
            dtypes = schema.get("dtypes") or {}
            if not isinstance(dtypes, Mapping):
                return "schema 'dtypes' must be a mapping of column name to dtype."
            unknown = [c for c in dtypes if c not in columns]
            if unknown:
                return f"schema 'dtypes' names columns not in 'columns': {', '.join(map(str, unknown))}."
            return None
        if not all(isinstance(v, str) for v in schema.values()):
            return "schema mapping must map column names to dtype strings."
        return None
    return "schema must be a list of columns, a mapping of column to dtype, or {columns, dtypes}."


def _is_structured(schema: Mapping[str, Any]) -> bool:
    return isinstance(schema.get("columns"), list) or isinstance(schema.get("dtypes"), Mapping)


def check_schema(artifact: str, source: str, frame: pd.DataFrame, schema: Any) -> None:
    """Raise ValueError when `frame` does not match the input's `schema`."""
    if schema is None:
        return
    got = [str(c) for c in frame.columns]
    prefix = f"Artifact '{artifact}' source '{source}' schema"
    dtypes: Mapping[str, Any] = {}
    if isinstance(schema, list) or (isinstance(schema, Mapping) and _is_structured(schema)):
        expected = list(schema) if isinstance(schema, list) else list(schema.get("columns") or [])
        if got != expected:
            raise ValueError(f"{prefix} columns mismatch: expected={expected}, got={got}.")
        if isinstance(schema, Mapping):
            dtypes = schema.get("dtypes") or {}
    else:
        missing = [c for c in schema if c not in got]
        extra = [c for c in got if c not in schema]
        if missing or extra:
            raise ValueError(f"{prefix} columns mismatch: missing={missing}, extra={extra}.")
        dtypes = schema
    wrong = [
        f"{col} expected={want} got={frame[col].dtype}"
        for col, want in dtypes.items()
        if str(frame[col].dtype) != str(want)
    ]
    if wrong:
        raise ValueError(f"{prefix} dtypes mismatch: {', '.join(wrong)}.")


# -- writing ------------------------------------------------------------------------------------
def _to_csv_kwargs(options: Mapping[str, Any]) -> dict[str, Any]:
    opts = dict(options)
    kwargs: dict[str, Any] = {"index": False}
    if "delimiter" in opts:
        kwargs["sep"] = opts.pop("delimiter")
    kwargs.update(opts)
    return kwargs


def write_csv_frame(data: Any, path: Path, options: Mapping[str, Any]) -> None:
    """Write one DataFrame with trakt's defaults (comma, utf-8, header, no index)."""
    if not hasattr(data, "to_csv"):
        raise TypeError("CSV writing expects a DataFrame-like object with to_csv().")
    data.to_csv(path, **_to_csv_kwargs(options))


def write_csv_stream(data: Any, path: Path, options: Mapping[str, Any]) -> None:
    """Write chunks one after another: header with the first, none after; no chunks → empty file."""
    if "mode" in options:
        raise ValueError("CSV stream mode does not allow write_options.mode; Trakt controls chunk write mode.")
    if hasattr(data, "to_csv"):
        raise TypeError("CSV stream writing expects an iterable of chunks, not a single DataFrame.")
    if not isinstance(data, Iterable) or isinstance(data, str | bytes):
        raise TypeError("CSV stream writing expects an iterable of DataFrame-like chunks.")
    kwargs = _to_csv_kwargs(options)
    header = kwargs.pop("header", True)
    encoding = kwargs.pop("encoding", "utf-8")
    wrote = False
    with open(path, "w", encoding=encoding, newline="") as fh:
        for chunk in data:
            if not hasattr(chunk, "to_csv"):
                raise TypeError(f"CSV stream writing expects DataFrame chunks, got {type(chunk).__name__}.")
            chunk.to_csv(fh, header=header if not wrote else False, **kwargs)
            wrote = True
