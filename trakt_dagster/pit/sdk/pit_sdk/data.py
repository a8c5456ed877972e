"""Data passing between tasks: named Parquet files in the run's data folder (`$PIT_DATA_DIR`)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pit_sdk._deps import require
from pit_sdk._socket import request

__all__ = ["data_dir", "load_data", "read_input", "write_output"]

_NO_DATA_DIR = "PIT_DATA_DIR environment variable not set — is this running inside a pit task?"


def data_dir() -> Path:
    """The run's data folder from `PIT_DATA_DIR`.

    Example:
        >>> folder = data_dir()  # doctest: +SKIP
    """
    folder = os.environ.get("PIT_DATA_DIR", "")
    if not folder:
        raise RuntimeError(_NO_DATA_DIR)
    return Path(folder)


def write_output(name: str, data: Any) -> str:
    """Write `data` (pyarrow Table, pandas or polars DataFrame) to `$PIT_DATA_DIR/<name>.parquet`; its path.

    The file is written to a temporary name and renamed, so readers never see half a file.

    Example:
        >>> path = write_output("orders", orders_df)  # doctest: +SKIP
    """
    target = _output_path(name)
    kind = _kind(data)
    if kind == "polars-lazy":
        raise TypeError("write_output got a polars LazyFrame: call .collect() first and pass the DataFrame")
    if kind == "other":
        raise TypeError(
            f"write_output cannot write a {type(data).__module__}.{type(data).__name__}: pass a pyarrow Table, "
            "a pandas DataFrame or a polars DataFrame"
        )
    with _atomic(target) as tmp:
        if kind == "polars":
            data.write_parquet(str(tmp))
        else:
            pa = require("pyarrow", "pyarrow", "write_output")
            pq = require("pyarrow.parquet", "pyarrow", "write_output")
            table = pa.Table.from_pandas(data) if kind == "pandas" else data
            if isinstance(table, pa.RecordBatch):
                table = pa.Table.from_batches([table])
            pq.write_table(table, str(tmp))
    return str(target)


def _write_table(name: str, table: Any) -> str:
    """Write a pyarrow Table to `$PIT_DATA_DIR/<name>.parquet` atomically (used by `output_sql`); its path."""
    pq = require("pyarrow.parquet", "pyarrow", "writing Parquet")
    target = _output_path(name)
    with _atomic(target) as tmp:
        pq.write_table(table, str(tmp))
    return str(target)


def read_input(name: str) -> Any:
    """Read `$PIT_DATA_DIR/<name>.parquet` (written by an upstream task) as a pyarrow Table.

    Example:
        >>> table = read_input("orders")  # doctest: +SKIP
    """
    path = _output_path(name)
    pq = require("pyarrow.parquet", "pyarrow", "read_input")
    if not path.is_file():
        raise FileNotFoundError(f"no data named {name!r}: {path} does not exist (is it written by an upstream task?)")
    return pq.read_table(str(path))


def load_data(name: str, table: str, connection: str, *, schema: str = "dbo", mode: str = "append") -> str:
    """Ask the orchestrator to bulk-load `$PIT_DATA_DIR/<name>.parquet` into `table`; its result text.

    `connection` is the name of the secret holding the connection string. `schema` is always sent.

    Example:
        >>> load_data("claims", "claims", "warehouse_db")  # doctest: +SKIP
        '1500 rows loaded'
    """
    params = {"file": f"{name}.parquet", "table": table, "connection": connection, "schema": schema, "mode": mode}
    return request("load_data", params)


def _output_path(name: str) -> Path:
    if not name or os.path.isabs(name) or ".." in Path(name).parts:
        raise ValueError(f"invalid data name {name!r}: use a plain name such as 'orders' (no '..', not absolute)")
    return data_dir() / f"{name}.parquet"


def _kind(data: Any) -> str:
    cls = type(data)
    module, name = cls.__module__.split(".")[0], cls.__name__
    if module == "polars":
        return {"DataFrame": "polars", "LazyFrame": "polars-lazy"}.get(name, "other")
    if module == "pandas" and name == "DataFrame":
        return "pandas"
    if module == "pyarrow" and name in ("Table", "RecordBatch"):
        return "arrow"
    return "other"


@contextlib.contextmanager
def _atomic(target: Path) -> Iterator[Path]:
    """A path for writing `target`: `target`'s own name in a hidden folder beside it, renamed into place.

    Nothing named `*.parquet` appears in the data folder before the file is complete, the file gets the
    mode an ordinary write gives (umask), and folders left by earlier killed writes of `target` are removed.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    for old in target.parent.glob(f".{glob.escape(target.name)}.*-*.tmp"):
        pid = old.name.rsplit(".", 2)[-2].split("-")[-2]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=f"-{os.getpid()}-sdk.tmp", dir=target.parent))
    tmp = staging / target.name
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
