"""pit's SDK socket server: the task-side `pit_sdk` asks it for secrets, bulk loads and FTP transfers.

One server per task attempt (§5 N9), on a Unix socket in a fresh private temp folder (or TCP on 127.0.0.1).
The wire format is pit's, byte for byte: one JSON request per connection, `{"method": ..., "params": {...}}`
with string params, answered by one line `{"result":"...","error":"..."}` (`error` omitted when empty). Every
error text is the one pit's Go server sends (`missing required parameter: key`, `secret "x" not found for
project "sales"`, `invalid request: unexpected EOF`); where trakt-dagster knows more (which scopes were
searched), it says so in the Dagster log, not in the reply. Error texts never contain secret values: every
outgoing error is masked with the project's secret values.
"""

from __future__ import annotations

import contextlib
import ftplib
import os
import posixpath
import shutil
import socket
import socketserver
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Literal

from trakt_dagster.core.atomic import atomic_path
from trakt_dagster.core.redact import Redactor
from trakt_dagster.pit.gofmt import go_quote
from trakt_dagster.pit.gomatch import go_path_match
from trakt_dagster.pit.sdk_request import RequestError, complete_length, decode_request
from trakt_dagster.pit.secrets import ProjectSecrets, SecretsError, go_json

__all__ = ["LoadDataFn", "LogFn", "SdkServer", "encode_response"]

LoadDataFn = Callable[[Path, str, str, str | None, str], int]
"""`load_data(parquet_path, connection_url, table, schema, mode) -> rows loaded`."""

LogFn = Callable[[str, str], None]
"""`log(level, message)`; level is "debug", "info", "warning" or "error"."""

_MAX_REQUEST = 1 << 20
LOAD_MODES = ("append", "truncate_and_load", "create_or_replace")
_SOCKET_NAME = "sdk.sock"
_MAX_SOCKET_PATH = 100


class _SdkError(Exception):
    """A handler failure whose message is sent to the task as the response's `error` (pit's wording)."""


_Params = dict[str, str]
_Handler = Callable[[_Params], str]
NO_SECRETS = "secrets store not configured (use --secrets flag)"


def _required(params: _Params, name: str, note: str = "") -> str:
    """A required parameter (pit treats an empty one as missing)."""
    value = params.get(name, "")
    if not value:
        raise _SdkError(f"missing required parameter: {name}{note}")
    return value


def encode_response(result: str, error: str = "") -> bytes:
    """One response line as pit's Go server writes it (`error` omitted when empty, Go string escaping).

    Example:
        >>> encode_response('{"host":"h"}')
        b'{"result":"{\\\\"host\\\\":\\\\"h\\\\"}"}\\n'
        >>> encode_response("", "unknown method: x")
        b'{"result":"","error":"unknown method: x"}\\n'
    """
    line = '{"result":' + go_json(result)
    if error:
        line += ',"error":' + go_json(error)
    return (line + "}\n").encode("utf-8")


class SdkServer:
    """Serves pit's SDK protocol for one task attempt; a context manager that cleans up its socket.

    `get_secret`/`get_secret_field` exist only when `secrets` is given (as in pit); every lookup is audited
    with `task_name`. `load_data` calls the injected `load_data` function; FTP methods use `ftplib`.

    Example:
        >>> import tempfile, pathlib
        >>> with SdkServer(data_dir=pathlib.Path(tempfile.mkdtemp()), task_name="t", secrets=None) as server:
        ...     env = {"PIT_SOCKET": server.address}
        >>> "get_secret" in server.methods, os.path.exists(env["PIT_SOCKET"])
        (False, False)
    """

    def __init__(
        self,
        *,
        data_dir: Path,
        task_name: str,
        secrets: ProjectSecrets | None,
        load_data: LoadDataFn | None = None,
        log: LogFn | None = None,
        transport: Literal["unix", "tcp"] = "unix",
        request_timeout: float = 30.0,
        ftp_timeout: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.task_name = task_name
        self.secrets = secrets
        self._load_data = load_data
        self._log = log
        self._transport = transport
        self._request_timeout = request_timeout
        self._ftp_timeout = ftp_timeout
        self._redactor = Redactor(secrets.values() if secrets is not None else ())
        self._handlers: dict[str, _Handler] = {
            "load_data": self._load_data_handler,
            "ftp_list": self._ftp_list,
            "ftp_download": self._ftp_download,
            "ftp_upload": self._ftp_upload,
            "ftp_move": self._ftp_move,
        }
        if secrets is not None:
            self._handlers["get_secret"] = self._get_secret
            self._handlers["get_secret_field"] = self._get_secret_field
        self._server: socketserver.BaseServer | None = None
        self._thread: threading.Thread | None = None
        self._folder: Path | None = None
        self._address: str | None = None
        self._busy = threading.Condition()
        self._in_flight = 0
        self._closed = False

    # --- lifecycle ---------------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """The value for `PIT_SOCKET`: the Unix socket path (or `127.0.0.1:<port>` with TCP).

        Example:
            >>> import tempfile, pathlib
            >>> with SdkServer(data_dir=pathlib.Path(tempfile.mkdtemp()), task_name="t", secrets=None) as s:
            ...     s.address.endswith("sdk.sock")
            True
        """
        if self._address is None:
            raise RuntimeError("the SDK server is not started")
        return self._address

    @property
    def methods(self) -> tuple[str, ...]:
        """The method names this server answers, sorted.

        Example:
            >>> import pathlib
            >>> SdkServer(data_dir=pathlib.Path("."), task_name="t", secrets=None).methods[0]
            'ftp_download'
        """
        return tuple(sorted(self._handlers))

    def start(self) -> SdkServer:
        """Bind the socket and serve connections on a background thread; returns self.

        Example:
            >>> import tempfile, pathlib
            >>> server = SdkServer(data_dir=pathlib.Path(tempfile.mkdtemp()), task_name="t", secrets=None).start()
            >>> server.close()
        """
        if self._server is not None:
            return self
        if self._closed:
            raise RuntimeError("the SDK server was closed; create a new one")
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner._serve_connection(self.request)

        if self._transport == "tcp":
            server: socketserver.BaseServer = _TcpServer(("127.0.0.1", 0), Handler)
            host, port = server.server_address[:2]  # type: ignore[misc]
            self._address = f"{host}:{port}"
        else:
            self._folder = _short_temp_folder()
            path = str(self._folder / _SOCKET_NAME)
            try:
                server = _UnixServer(path, Handler)
            except BaseException:
                shutil.rmtree(self._folder, ignore_errors=True)
                raise
            self._address = path
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"pit-sdk-{self.task_name}", daemon=True
        )
        self._thread.start()
        return self

    def close(self, *, wait: float = 5.0) -> None:
        """Stop accepting, wait up to `wait` seconds for requests in flight, remove the socket file and folder.

        Safe to call twice and after a failed start.

        Example:
            >>> import tempfile, pathlib
            >>> server = SdkServer(data_dir=pathlib.Path(tempfile.mkdtemp()), task_name="t", secrets=None).start()
            >>> path = server.address; server.close(); server.close(); os.path.exists(path)
            False
        """
        self._closed = True
        server, self._server = self._server, None
        if self._folder is not None:  # the socket file goes first: no new connection can arrive
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
        if server is not None:
            with self._busy:
                self._busy.wait_for(lambda: self._in_flight == 0, timeout=wait)
            # `shutdown()` waits for the serving loop's next poll; a task must not pay that, so it happens
            # in the background (the listening socket is already unreachable)
            threading.Thread(target=_stop_server, args=(server,), name="pit-sdk-stop", daemon=True).start()

    def __enter__(self) -> SdkServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- protocol ----------------------------------------------------------------------------------------

    def handle_request(self, raw: bytes) -> bytes:
        """Answer one complete request (the bytes a client sent) with the response line; no socket involved.

        Example:
            >>> import pathlib
            >>> server = SdkServer(data_dir=pathlib.Path("."), task_name="t", secrets=None)
            >>> server.handle_request(b'{"method": "get_secret", "params": {"key": "x"}}')
            b'{"result":"","error":"unknown method: get_secret"}\\n'
        """
        text = raw.decode("utf-8", errors="replace")
        try:
            end = complete_length(text, at_eof=True)
            assert end is not None
            request = decode_request(text[:end])
        except RequestError as exc:
            return encode_response("", f"invalid request: {exc}")
        return self._dispatch(request.method, request.params)

    def _serve_connection(self, conn: socket.socket) -> None:
        with self._busy:
            self._in_flight += 1
        try:
            conn.settimeout(self._request_timeout)
            response = self._respond(conn)
            with contextlib.suppress(OSError):
                conn.sendall(response)
        finally:
            with self._busy:
                self._in_flight -= 1
                self._busy.notify_all()

    def _respond(self, conn: socket.socket) -> bytes:
        buffer = b""
        while True:
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                return encode_response("", "invalid request: i/o timeout")
            except OSError as exc:
                return encode_response("", f"invalid request: {exc.strerror or type(exc).__name__}")
            if not chunk:
                break
            buffer += chunk
            if len(buffer) > _MAX_REQUEST:
                return encode_response("", f"invalid request: larger than {_MAX_REQUEST} bytes")
            # like Go's json.Decoder, answer as soon as one whole JSON value has arrived
            try:
                if complete_length(buffer.decode("utf-8", errors="replace"), at_eof=False) is not None:
                    return self.handle_request(buffer)
            except RequestError:
                return self.handle_request(buffer)
        return self.handle_request(buffer)

    def _dispatch(self, method: str, params: _Params) -> bytes:
        handler = self._handlers.get(method)
        if handler is None:
            self._emit("warning", f"pit SDK: unknown method {method!r} requested by task {self.task_name!r}")
            return encode_response("", f"unknown method: {method}")
        try:
            result = handler(params)
        except Exception as exc:
            error = self._redactor.text(_error_text(exc))
            hint = getattr(exc, "hint", None)
            detail = f" ({self._redactor.text(hint)})" if hint else ""
            self._emit("warning", f"pit SDK {method} failed for task {self.task_name!r}: {error}{detail}")
            return encode_response("", error)
        self._emit("debug", f"pit SDK {method} answered for task {self.task_name!r}")
        return encode_response(result)

    def _emit(self, level: str, message: str) -> None:
        if self._log is not None:
            with contextlib.suppress(Exception):
                self._log(level, message)

    # --- secrets -----------------------------------------------------------------------------------------

    def _get_secret(self, params: _Params) -> str:
        assert self.secrets is not None
        return self.secrets.resolve(_required(params, "key"), task=self.task_name)

    def _get_secret_field(self, params: _Params) -> str:
        assert self.secrets is not None
        secret = _required(params, "secret")
        return self.secrets.field(secret, _required(params, "field"), task=self.task_name)

    # --- load_data ---------------------------------------------------------------------------------------

    def _load_data_handler(self, params: _Params) -> str:
        name, table = _required(params, "file"), _required(params, "table")
        connection = _required(params, "connection")
        if self.secrets is None:
            raise _SdkError(NO_SECRETS)
        mode = params.get("mode") or "append"
        path = self._data_path(name, f"file path {go_quote(name)} escapes data directory")
        try:
            url = self.secrets.resolve(connection, task=self.task_name)
        except SecretsError as exc:
            raise _SdkError(f"resolving connection {go_quote(connection)}: {exc}") from exc
        if mode not in LOAD_MODES:
            raise _SdkError(
                f"loading data: unsupported load mode {go_quote(mode)} "
                "(must be append, truncate_and_load, or create_or_replace)"
            )
        if not path.is_file():
            raise _SdkError(f"loading data: reading parquet file: opening file: open {path}: no such file or directory")
        if self._load_data is None:
            raise _SdkError("loading data: load_data is not available")
        try:
            rows = self._load_data(path, url, table, params.get("schema") or None, mode)
        except Exception as exc:  # noqa: BLE001 - every driver error goes back to the task, as pit's does
            raise _SdkError(f"loading data: {_error_text(exc)}") from exc
        return f"{rows} rows loaded"

    def _data_path(self, name: str, refusal: str) -> Path:
        """`data_dir / name`, refusing absolute names and anything that resolves outside the data dir."""
        if not name or os.path.isabs(name) or name.startswith(("/", "\\")):
            raise _SdkError(refusal)
        root = self.data_dir.resolve()
        target = (root / name).resolve()
        if target == root or not target.is_relative_to(root):
            raise _SdkError(refusal)
        return target

    # --- FTP ---------------------------------------------------------------------------------------------

    def _ftp_list(self, params: _Params) -> str:
        secret, directory = _required(params, "secret"), _required(params, "directory")
        pattern = params.get("pattern") or "*"
        with self._ftp(secret) as ftp:
            return go_json(_matching_names(ftp, directory, pattern))

    def _ftp_download(self, params: _Params) -> str:
        secret = _required(params, "secret")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._ftp(secret) as ftp:
            if params.get("pattern"):
                directory = _required(params, "directory", " (required with pattern)")
                local = []
                for name in _matching_names(ftp, directory, params["pattern"]):
                    try:
                        local.append(self._download(ftp, f"{directory}/{name}", name))
                    except _SdkError as exc:
                        raise _SdkError(f"downloading {go_quote(name)}: {exc}") from exc
            else:
                remote = _required(params, "remote_path", " (or use directory+pattern for batch)")
                local = [self._download(ftp, remote, posixpath.basename(remote.rstrip("/")) or "/")]
        # like pit: a batch that matched nothing is JSON null
        return go_json([str(path) for path in local] or None)

    def _download(self, ftp: ftplib.FTP, remote: str, name: str) -> Path:
        target = self._data_path(name, f"filename {go_quote(name)} escapes data directory")
        with atomic_path(target) as tmp, open(tmp, "wb") as out:
            try:
                ftp.retrbinary(f"RETR {remote}", out.write)
            except ftplib.Error as exc:
                raise _SdkError(f"retrieving {go_quote(remote)}: {exc}") from exc
        return target

    def _ftp_upload(self, params: _Params) -> str:
        secret, local_name = _required(params, "secret"), _required(params, "local_name")
        remote = _required(params, "remote_path")
        path = self._data_path(local_name, f"filename {go_quote(local_name)} escapes data directory")
        with self._ftp(secret) as ftp:
            try:
                source = path.open("rb")
            except OSError as exc:
                raise _SdkError(f"opening {go_quote(str(path))}: open {path}: {_os_reason(exc).lower()}") from exc
            with source:
                try:
                    ftp.storbinary(f"STOR {remote}", source)
                except ftplib.Error as exc:
                    raise _SdkError(f"uploading to {go_quote(remote)}: {exc}") from exc
        return ""

    def _ftp_move(self, params: _Params) -> str:
        secret, src, dst = _required(params, "secret"), _required(params, "src"), _required(params, "dst")
        with self._ftp(secret) as ftp:
            try:
                ftp.rename(src, dst)
            except ftplib.Error as exc:
                raise _SdkError(f"moving {go_quote(src)} to {go_quote(dst)}: {exc}") from exc
        return ""

    @contextlib.contextmanager
    def _ftp(self, secret: str) -> Iterator[ftplib.FTP]:
        """A logged-in FTP (or FTPS with `tls = "true"`) session from the structured secret `secret`: its
        `host`, `user` and `password` fields, and the optional `port` (default 21) and `tls`."""
        if self.secrets is None:
            raise _SdkError(NO_SECRETS)
        login = {}
        for name in ("host", "user", "password"):
            try:
                login[name] = self.secrets.field(secret, name, task=self.task_name)
            except SecretsError as exc:
                raise _SdkError(f"resolving {secret}.{name}: {exc}") from exc
        present = self.secrets.field_names(secret)
        port = 21
        if "port" in present:
            with contextlib.suppress(ValueError):  # pit ignores a port it cannot read
                port = int(self.secrets.field(secret, "port", task=self.task_name))
        tls = "tls" in present and self.secrets.field(secret, "tls", task=self.task_name) == "true"
        ftp: ftplib.FTP = ftplib.FTP_TLS(timeout=self._ftp_timeout) if tls else ftplib.FTP(timeout=self._ftp_timeout)
        address = f"{login['host']}:{port}"
        try:
            try:
                ftp.connect(login["host"], port)
                if isinstance(ftp, ftplib.FTP_TLS):
                    ftp.auth()
            except (OSError, EOFError, ftplib.Error) as exc:
                raise _SdkError(f"connecting to {address}: {_dial_reason(exc, address)}") from None
            try:
                ftp.login(login["user"], login["password"])
                if isinstance(ftp, ftplib.FTP_TLS):
                    ftp.prot_p()
            except (OSError, EOFError, ftplib.Error) as exc:
                raise _SdkError(f"login as {go_quote(login['user'])}: {exc}") from None
            yield ftp
        finally:
            try:
                ftp.quit()
            except Exception:
                ftp.close()


class _UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = socket.SOMAXCONN  # the default 5 refuses bursts of concurrent clients


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = socket.SOMAXCONN


def _short_temp_folder() -> Path:
    """A fresh private folder for the socket, short enough for AF_UNIX (falls back to /tmp)."""
    folder = Path(tempfile.mkdtemp(prefix="pit-"))
    if len(str(folder / _SOCKET_NAME).encode()) >= _MAX_SOCKET_PATH and os.path.isdir("/tmp"):
        shutil.rmtree(folder, ignore_errors=True)
        folder = Path(tempfile.mkdtemp(prefix="pit-", dir="/tmp"))
    return folder


def _error_text(exc: Exception) -> str:
    if isinstance(exc, _SdkError | SecretsError):
        return str(exc)
    if isinstance(exc, ftplib.Error):
        return str(exc)
    if isinstance(exc, OSError):
        return _os_reason(exc)
    return str(exc) or type(exc).__name__


def _dial_reason(exc: BaseException, address: str) -> str:
    """Go's wording for a failed FTP connection (`dial tcp h:21: connect: connection refused`)."""
    if isinstance(exc, ftplib.Error):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"dial tcp {address}: i/o timeout"
    return f"dial tcp {address}: connect: {_os_reason(exc).lower()}"


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _matching_names(ftp: ftplib.FTP, directory: str, pattern: str) -> list[str]:
    """Plain file names in `directory` matching the Go `path.Match` pattern, sorted (MLSD, else NLST)."""
    try:
        names = [
            name for name, facts in ftp.mlsd(directory, facts=["type"]) if facts.get("type", "file").lower() == "file"
        ]
    except ftplib.error_perm as exc:
        if not str(exc).startswith(("500", "502", "504")):
            raise
        names = [posixpath.basename(entry.rstrip("/")) for entry in ftp.nlst(directory)]
    return sorted(name for name in names if name not in (".", "..") and go_path_match(pattern, name))


def _remote_join(directory: str, name: str) -> str:
    return f"{directory.rstrip('/')}/{name}" if directory.rstrip("/") else f"/{name}"


def _stop_server(server: socketserver.BaseServer) -> None:
    server.shutdown()
    server.server_close()
