"""pit's SDK socket server: the task-side `pit_sdk` asks it for secrets, bulk loads and FTP transfers.

One server per task attempt (§5 N9), on a Unix socket in a fresh private temp folder (or TCP on 127.0.0.1).
The wire format is pit's, byte for byte: one JSON request per connection, `{"method": ..., "params": {...}}`
with string params, answered by one line `{"result":"...","error":"..."}` (`error` omitted when empty).
Error texts never contain secret values: every outgoing error is masked with the project's secret values.
"""

from __future__ import annotations

import contextlib
import ftplib
import json
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
from typing import Any, Literal

from trakt_dagster.core.atomic import atomic_path
from trakt_dagster.core.redact import Redactor
from trakt_dagster.pit.gomatch import go_path_match
from trakt_dagster.pit.secrets import ProjectSecrets, SecretsError, go_json

__all__ = ["LoadDataFn", "LogFn", "SdkServer", "encode_response"]

LoadDataFn = Callable[[Path, str, str, str | None, str], int]
"""`load_data(parquet_path, connection_url, table, schema, mode) -> rows loaded`."""

LogFn = Callable[[str, str], None]
"""`log(level, message)`; level is "debug", "info", "warning" or "error"."""

_MAX_REQUEST = 1 << 20
_SOCKET_NAME = "sdk.sock"
_MAX_SOCKET_PATH = 100


class _SdkError(Exception):
    """A handler failure whose message is sent to the task as the response's `error`."""


class _MissingParam(KeyError):
    """A required request parameter that is absent or empty."""


class _Params(dict[str, str]):
    """Request params; a missing or empty required one raises `_MissingParam` (→ `missing param: <name>`)."""

    def __getitem__(self, name: str) -> str:
        value = super().get(name, "")
        if value == "":
            raise _MissingParam(name)
        return value


_Handler = Callable[[_Params], str]


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
        request, problem = _parse_request(raw, complete=True)
        if request is None:
            return encode_response("", f"invalid request: {problem}")
        return self._dispatch(*request)

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
                return encode_response("", "invalid request: timed out waiting for the request")
            except OSError as exc:
                return encode_response("", f"invalid request: {exc.strerror or type(exc).__name__}")
            if not chunk:
                break
            buffer += chunk
            if len(buffer) > _MAX_REQUEST:
                return encode_response("", f"invalid request: larger than {_MAX_REQUEST} bytes")
            # like Go's json.Decoder, answer as soon as one whole JSON value has arrived
            request, problem = _parse_request(buffer, complete=False)
            if request is not None:
                return self._dispatch(*request)
            if problem is not None:
                return encode_response("", f"invalid request: {problem}")
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
            self._emit("warning", f"pit SDK {method} failed for task {self.task_name!r}: {error}")
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
        return self.secrets.resolve(params["key"], task=self.task_name)

    def _get_secret_field(self, params: _Params) -> str:
        assert self.secrets is not None
        return self.secrets.field(params["secret"], params["field"], task=self.task_name)

    # --- load_data ---------------------------------------------------------------------------------------

    def _load_data_handler(self, params: _Params) -> str:
        name, table, connection = params["file"], params["table"], params["connection"]
        schema = params.get("schema") or None
        mode = params.get("mode") or "append"
        path = self._data_path(name, "file")
        if not path.is_file():
            raise _SdkError(f'data file "{name}" not found in the data directory')
        if self._load_data is None:
            raise _SdkError("load_data is not available")
        if self.secrets is None:
            raise _SdkError(f'cannot resolve connection "{connection}": no secrets file is loaded')
        url = self.secrets.resolve(connection, task=self.task_name)
        rows = self._load_data(path, url, table, schema, mode)
        return f"{rows} rows loaded"

    def _data_path(self, name: str, what: str) -> Path:
        """`data_dir / name`, refusing absolute names and anything that resolves outside the data dir."""
        refused = _SdkError(f'{what} "{name}" refused: it must stay inside the data directory (no "..", not absolute)')
        if not name or os.path.isabs(name) or name.startswith(("/", "\\")):
            raise refused
        root = self.data_dir.resolve()
        target = (root / name).resolve()
        if target == root or not target.is_relative_to(root):
            raise refused
        return target

    # --- FTP ---------------------------------------------------------------------------------------------

    def _ftp_list(self, params: _Params) -> str:
        directory = params["directory"]
        pattern = params.get("pattern") or "*"
        with self._ftp(params["secret"]) as ftp:
            return go_json(_matching_names(ftp, directory, pattern))

    def _ftp_download(self, params: _Params) -> str:
        secret = params["secret"]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if params.get("pattern"):
            directory = params["directory"]
            with self._ftp(secret) as ftp:
                names = _matching_names(ftp, directory, params["pattern"])
                local = [self._download(ftp, _remote_join(directory, name), name) for name in names]
        else:
            remote = params["remote_path"]
            name = posixpath.basename(remote.rstrip("/"))
            with self._ftp(secret) as ftp:
                local = [self._download(ftp, remote, name)]
        return go_json([str(path) for path in local])

    def _download(self, ftp: ftplib.FTP, remote: str, name: str) -> Path:
        if name in ("", ".", ".."):
            raise _SdkError(f'remote file "{remote}" has no usable file name')
        target = self._data_path(name, "file name")
        with atomic_path(target) as tmp, open(tmp, "wb") as out:
            ftp.retrbinary(f"RETR {remote}", out.write)
        return target

    def _ftp_upload(self, params: _Params) -> str:
        secret, local_name, remote = params["secret"], params["local_name"], params["remote_path"]
        path = self._data_path(local_name, "local_name")
        if not path.is_file():
            raise _SdkError(f'local file "{local_name}" not found in the data directory')
        with self._ftp(secret) as ftp, path.open("rb") as source:
            ftp.storbinary(f"STOR {remote}", source)
        return ""

    def _ftp_move(self, params: _Params) -> str:
        secret, src, dst = params["secret"], params["src"], params["dst"]
        with self._ftp(secret) as ftp:
            ftp.rename(src, dst)
        return ""

    @contextlib.contextmanager
    def _ftp(self, secret: str) -> Iterator[ftplib.FTP]:
        """A logged-in FTP (or FTPS with `tls = "true"`) session from the structured secret `secret`."""
        if self.secrets is None:
            raise _SdkError(f'cannot resolve FTP secret "{secret}": no secrets file is loaded')
        conf = self.secrets.structured(secret, task=self.task_name)
        missing = [name for name in ("host", "user", "password") if name not in conf]
        if missing or not conf["host"]:
            raise _SdkError(
                f'FTP secret "{secret}" needs the fields host, user and password (missing: '
                f"{', '.join(missing) or 'host'})"
            )
        try:
            port = int(conf.get("port") or "21")
        except ValueError:
            raise _SdkError(f'FTP secret "{secret}": field "port" must be a whole number') from None
        tls = conf.get("tls") == "true"
        ftp: ftplib.FTP = ftplib.FTP_TLS(timeout=self._ftp_timeout) if tls else ftplib.FTP(timeout=self._ftp_timeout)
        try:
            try:
                ftp.connect(conf["host"], port)
                ftp.login(conf["user"], conf["password"])
                if isinstance(ftp, ftplib.FTP_TLS):
                    ftp.prot_p()
            except (OSError, EOFError) as exc:
                raise _SdkError(f'FTP connection for secret "{secret}" failed: {_os_reason(exc)}') from None
            except ftplib.Error as exc:
                raise _SdkError(f'FTP login for secret "{secret}" failed: {exc}') from None
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


def _parse_request(raw: bytes, *, complete: bool) -> tuple[tuple[str, _Params] | None, str | None]:
    """((method, params), None) for a valid request, (None, why) for an invalid one, and (None, None) while
    the JSON value is not complete yet (only when more input may come: `complete` is False)."""
    text = raw.decode("utf-8", errors="replace").lstrip()
    if not text:
        return None, "empty request (EOF before any JSON)" if complete else None
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as exc:
        return None, f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})" if complete else None
    if not isinstance(value, dict):
        return None, f"the request must be a JSON object, not {_json_kind(value)}"
    method = value.get("method", "")
    if method is None:
        method = ""
    if not isinstance(method, str):
        return None, f'"method" must be a string, not {_json_kind(method)}'
    params = value.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return None, f'"params" must be an object of strings, not {_json_kind(params)}'
    for key, item in params.items():
        if not isinstance(item, str):
            return None, f'param "{key}" must be a string, not {_json_kind(item)}'
    return (method, _Params(params)), None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _error_text(exc: Exception) -> str:
    if isinstance(exc, _MissingParam):
        return f"missing param: {exc.args[0]}"
    if isinstance(exc, _SdkError | SecretsError):
        return str(exc)
    if isinstance(exc, ftplib.Error):
        return f"FTP error: {exc}"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {_os_reason(exc)}"
    return f"{type(exc).__name__}: {exc}"


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
