"""FTP for pit's FTP watch: credentials from the secrets, listing with sizes and times, download, archive.

Credentials come from the structured secret `secret` (fields host, user, password) or from pit's legacy
fields (`host`, `user` in `pit.toml`, the password in the plain secret `password_secret`); port and TLS
always come from `pit.toml`, as pit's watcher does. TLS is explicit FTPS (`AUTH TLS`, protected data
channel) with certificate checks against the system's CAs (`SSL_CERT_FILE` adds a private CA).
No message of this module contains the password.
"""

from __future__ import annotations

import contextlib
import ftplib
import os
import posixpath
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from trakt_dagster.pit.gomatch import go_path_match
from trakt_dagster.pit.model import FtpWatchSettings
from trakt_dagster.pit.secrets import ProjectSecrets, SecretsError

FTP_TIMEOUT_S = 30.0


class FtpWatchError(Exception):
    """The watch cannot connect, log in, list, download or move (the message never holds the password)."""


@dataclass(frozen=True)
class FtpCredentials:
    """Where and as whom the watcher connects.

    Example:
        >>> FtpCredentials("ftp.example.com", 21, "etl", "pw", tls=False)
        FtpCredentials(host='ftp.example.com', port=21, user='etl', tls=False)
    """

    host: str
    port: int
    user: str
    password: str
    tls: bool = False

    def __repr__(self) -> str:
        return f"FtpCredentials(host={self.host!r}, port={self.port}, user={self.user!r}, tls={self.tls})"


@dataclass(frozen=True)
class RemoteFile:
    """A plain file in the watched directory: its name, size and modification time (when the server says).

    Example:
        >>> RemoteFile("sales_1.csv", 20, "20261123101502").key
        'sales_1.csv:20:20261123101502'
    """

    name: str
    size: int
    mtime: str = ""

    @property
    def key(self) -> str:
        """The file's identity: a run is requested once per identity (a new size or time is a new file)."""
        return f"{self.name}:{self.size}:{self.mtime}"


def ftp_credentials(settings: FtpWatchSettings, secrets: ProjectSecrets | None) -> FtpCredentials:
    """Resolve the watch's credentials (structured `secret`, else the legacy fields)."""
    if secrets is None:
        raise FtpWatchError("the FTP watch needs a secrets file (none is configured)")
    try:
        if settings.secret:
            conf = secrets.structured(settings.secret)
            missing = [name for name in ("host", "user", "password") if not conf.get(name)]
            if missing:
                raise FtpWatchError(f'FTP secret "{settings.secret}" has no {", ".join(missing)} field')
            return FtpCredentials(conf["host"], settings.port, conf["user"], conf["password"], settings.tls)
        password = secrets.resolve(settings.password_secret)
    except SecretsError as exc:
        raise FtpWatchError(f"cannot resolve the FTP credentials: {exc}") from None
    return FtpCredentials(settings.host, settings.port, settings.user, password, settings.tls)


@contextlib.contextmanager
def ftp_session(creds: FtpCredentials, *, timeout: float = FTP_TIMEOUT_S) -> Iterator[ftplib.FTP]:
    """A logged-in FTP (or explicit FTPS) session, closed afterwards."""
    ftp: ftplib.FTP
    if creds.tls:
        ftp = ftplib.FTP_TLS(context=ssl.create_default_context(), timeout=timeout)
    else:
        ftp = ftplib.FTP(timeout=timeout)
    where = f"{creds.host}:{creds.port}"
    try:
        try:
            ftp.connect(creds.host, creds.port)
        except (OSError, EOFError) as exc:
            raise FtpWatchError(f"cannot connect to {where}: {_reason(exc)}") from None
        try:
            ftp.login(creds.user, creds.password)
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
        except (ftplib.Error, OSError, EOFError) as exc:
            raise FtpWatchError(f'login to {where} as "{creds.user}" failed: {_reason(exc)}') from None
        yield ftp
    finally:
        try:
            ftp.quit()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            ftp.close()


def list_files(ftp: ftplib.FTP, directory: str, pattern: str) -> list[RemoteFile]:
    """Plain files of `directory` whose names match the Go `path.Match` pattern, sorted by name.

    MLSD gives type, size and time in one listing; servers without it are asked NLST, then SIZE and MDTM
    per name (names SIZE refuses are folders).
    """
    try:
        try:
            entries = list(ftp.mlsd(directory or ".", facts=["type", "size", "modify"]))
        except ftplib.error_perm as exc:
            if not str(exc).startswith(("500", "501", "502", "504")):
                raise
            return _list_without_mlsd(ftp, directory, pattern)
    except (ftplib.Error, OSError, EOFError) as exc:
        raise FtpWatchError(f'cannot list "{directory}": {_reason(exc)}') from None
    found = []
    for name, facts in entries:
        if facts.get("type", "file").lower() != "file" or not go_path_match(pattern, name):
            continue
        try:
            size = int(facts.get("size", "-1"))
        except ValueError:
            size = -1
        found.append(RemoteFile(name, size, facts.get("modify", "")))
    return sorted(found, key=lambda f: f.name)


def _list_without_mlsd(ftp: ftplib.FTP, directory: str, pattern: str) -> list[RemoteFile]:
    ftp.voidcmd("TYPE I")
    found = []
    for entry in ftp.nlst(directory or "."):
        name = posixpath.basename(entry.rstrip("/"))
        if name in (".", "..") or not go_path_match(pattern, name):
            continue
        path = remote_path(directory, name)
        try:
            size = ftp.size(path)
        except ftplib.error_perm:
            continue  # a folder
        mtime = ""
        with contextlib.suppress(ftplib.Error):
            mtime = ftp.voidcmd(f"MDTM {path}").split()[-1]
        found.append(RemoteFile(name, size if size is not None else -1, mtime))
    return sorted(found, key=lambda f: f.name)


def remote_path(directory: str, name: str) -> str:
    """`directory/name` on the server.

    Example:
        >>> remote_path("/in/", "a.csv"), remote_path("", "a.csv")
        ('/in/a.csv', 'a.csv')
    """
    return f"{directory.rstrip('/')}/{name}" if directory.rstrip("/") else (f"/{name}" if directory else name)


def download(ftp: ftplib.FTP, directory: str, name: str, target: Path) -> int:
    """Fetch `directory/name` into `target` (complete or not at all); returns the bytes written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    written = 0
    try:
        with tmp.open("wb") as out:

            def write(chunk: bytes) -> None:
                nonlocal written
                out.write(chunk)
                written += len(chunk)

            ftp.retrbinary(f"RETR {remote_path(directory, name)}", write)
        os.replace(tmp, target)
    except (ftplib.Error, OSError, EOFError) as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise FtpWatchError(f'cannot download "{remote_path(directory, name)}": {_reason(exc)}') from None
    return written


def make_dirs(ftp: ftplib.FTP, folder: str) -> None:
    """Create `folder` and its parents on the server (existing ones are fine)."""
    current = "/" if folder.startswith("/") else ""
    for part in (p for p in folder.split("/") if p and p != "."):
        current = posixpath.join(current, part) if current else part
        with contextlib.suppress(ftplib.error_perm):
            ftp.mkd(current)


def move(ftp: ftplib.FTP, source: str, target: str) -> None:
    """Rename (RNFR/RNTO) `source` to `target` on the server."""
    try:
        ftp.rename(source, target)
    except (ftplib.Error, OSError, EOFError) as exc:
        raise FtpWatchError(f'cannot move "{source}" to "{target}": {_reason(exc)}') from None


def mtime_text(value: str) -> str:
    """An MLSD/MDTM time (`YYYYMMDDHHMMSS[.fff]`, UTC) in ISO form, or the text as it is.

    Example:
        >>> mtime_text("20261123101502")
        '2026-11-23T10:15:02+00:00'
    """
    try:
        return datetime.strptime(value[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC).isoformat()
    except ValueError:
        return value


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).strip() or type(exc).__name__
