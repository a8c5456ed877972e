"""FTP transfers done by the orchestrator with a structured secret (host, user, password, port?, tls?).

The task never sees the FTP password: it names the secret and the orchestrator connects.
"""

from __future__ import annotations

import json

from pit_sdk._socket import request

__all__ = ["ftp_download", "ftp_list", "ftp_move", "ftp_upload"]


def ftp_list(secret: str, directory: str, pattern: str = "") -> list[str]:
    """Names of the files in the remote `directory` matching `pattern` (Go `path.Match`; empty = all).

    Example:
        >>> names = ftp_list("ftp_creds", "/incoming", "sales_*.csv")  # doctest: +SKIP
    """
    return _names(request("ftp_list", {"secret": secret, "directory": directory, "pattern": pattern}))


def ftp_download(
    secret: str, remote_path: str | None = None, *, directory: str | None = None, pattern: str | None = None
) -> list[str]:
    """Download one remote file, or every file of a directory matching `pattern`, into `$PIT_DATA_DIR`.

    Returns the local paths. As in pit, `ftp_download(secret, "/dir", pattern="*.csv")` treats the
    positional path as the directory.

    Example:
        >>> paths = ftp_download("ftp_creds", "/incoming/report.csv")  # doctest: +SKIP
        >>> paths = ftp_download("ftp_creds", directory="/incoming", pattern="*.csv")  # doctest: +SKIP
    """
    params = {"secret": secret}
    if pattern is not None or directory is not None:
        folder = directory if directory is not None else remote_path
        if not folder:
            raise ValueError("ftp_download with a pattern needs the remote directory")
        params.update(directory=folder, pattern=pattern or "*")
    elif remote_path:
        params["remote_path"] = remote_path
    else:
        raise ValueError("ftp_download needs remote_path, or directory and pattern")
    return _names(request("ftp_download", params))


def ftp_upload(secret: str, local_name: str, remote_path: str) -> None:
    """Upload `$PIT_DATA_DIR/<local_name>` to `remote_path` on the server.

    Example:
        >>> ftp_upload("ftp_creds", "summary.csv", "/outgoing/summary.csv")  # doctest: +SKIP
    """
    request("ftp_upload", {"secret": secret, "local_name": local_name, "remote_path": remote_path})


def ftp_move(secret: str, src: str, dst: str) -> None:
    """Move or rename a remote file.

    Example:
        >>> ftp_move("ftp_creds", "/incoming/a.csv", "/done/a.csv")  # doctest: +SKIP
    """
    request("ftp_move", {"secret": secret, "src": src, "dst": dst})


def _names(result: str) -> list[str]:
    value = json.loads(result) if result else []
    return [str(item) for item in value or []]
