"""A pit-compatible `pit_sdk` for task scripts run by trakt-dagster: secrets, data passing, SQL and FTP.

It imports with the standard library only; pyarrow, pandas, polars, duckdb and SQLAlchemy are loaded by
the functions that need them, with a clear error naming the package to add to the project.

Example:
    >>> from pit_sdk import write_output, read_input  # doctest: +SKIP
"""

from pit_sdk.data import load_data, read_input, write_output
from pit_sdk.db import output_sql, read_sql
from pit_sdk.ftp import ftp_download, ftp_list, ftp_move, ftp_upload
from pit_sdk.secret import get_secret, get_secret_field

__all__ = [
    "ftp_download",
    "ftp_list",
    "ftp_move",
    "ftp_upload",
    "get_secret",
    "get_secret_field",
    "load_data",
    "output_sql",
    "read_input",
    "read_sql",
    "write_output",
]
