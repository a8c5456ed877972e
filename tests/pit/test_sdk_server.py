"""pit's SDK socket server and the bundled `pit_sdk` (§2.7, K14, K15, N9, N16; §6 rows 26–30, 43, 44).

Everything is real: Unix (and TCP) sockets, task subprocesses importing `pit_sdk`, and a pyftpdlib FTP server
on 127.0.0.1 started and stopped by this module.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

import trakt_dagster.pit
from tests.servers import postgres_server
from trakt_dagster.pit.sdk_server import SdkServer, encode_response
from trakt_dagster.pit.secrets import AuditRecord, ProjectSecrets, SecretsFile, load_secrets

SDK_PATH = Path(trakt_dagster.pit.__file__).resolve().parent / "sdk"
FTP_USER = "pit-ftp-user"
FTP_PASSWORD = "Ftp-Pa55-8812"
DB_PASSWORD = "Db-Pa55-4471"
TOKEN = "tok-global-0192"
ALL_SECRET_VALUES = (FTP_PASSWORD, DB_PASSWORD, TOKEN, "sales-only-token-77")


# --- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A real FTP server on 127.0.0.1 (random port) serving a temporary home folder; (port, home)."""
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    home = tmp_path_factory.mktemp("ftp_home")
    (home / "incoming").mkdir()
    (home / "done").mkdir()
    for name, text in {"sales_1.csv": "id\n1\n", "sales_2.csv": "id\n2\n", "SALES_3.csv": "id\n3\n"}.items():
        (home / "incoming" / name).write_text(text)
    (home / "incoming" / "notes.txt").write_text("n")
    (home / "incoming" / "sales_dir.csv").mkdir()  # a folder: never listed as a file
    authorizer = DummyAuthorizer()
    authorizer.add_user(FTP_USER, FTP_PASSWORD, str(home), perm="elradfmwMT")
    # a wrong password is answered at once (pyftpdlib waits 3 s by default)
    handler = type("TestFTPHandler", (FTPHandler,), {"authorizer": authorizer, "auth_failed_timeout": 0.01})
    server = FTPServer(("127.0.0.1", 0), handler)
    port = server.socket.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=serve, name="test-ftp", daemon=True)
    thread.start()
    try:
        yield port, home
    finally:
        stop.set()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def secrets_file(tmp_path_factory: pytest.TempPathFactory, ftp_server: tuple[int, Path]) -> SecretsFile:
    port, _ = ftp_server
    text = f"""
        [global]
        token = "{TOKEN}"
        warehouse = "postgresql://loader:{DB_PASSWORD}@db.internal:5432/wh"

        [global.db]
        host = "global-host"
        user = "global-user"
        password = "{DB_PASSWORD}"

        [sales]
        sales_token = "sales-only-token-77"
        odd = "<&>"

        [sales.db]
        host = "h"

        [sales.ftp]
        host = "127.0.0.1"
        port = "{port}"
        user = "{FTP_USER}"
        password = "{FTP_PASSWORD}"

        [sales.ftp_tls]
        host = "127.0.0.1"
        port = "{port}"
        user = "{FTP_USER}"
        password = "{FTP_PASSWORD}"
        tls = "true"

        [sales.ftp_bad_login]
        host = "127.0.0.1"
        port = "{port}"
        user = "{FTP_USER}"
        password = "wrong-{FTP_PASSWORD}"
    """
    path = tmp_path_factory.mktemp("secrets") / "secrets.toml"
    path.write_text(textwrap.dedent(text))
    return load_secrets(path)


@pytest.fixture
def audit(secrets_file: SecretsFile) -> list[AuditRecord]:
    return []


@pytest.fixture
def secrets(secrets_file: SecretsFile, audit: list[AuditRecord]) -> ProjectSecrets:
    return secrets_file.for_project("sales", on_access=audit.append)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "run" / "data"
    folder.mkdir(parents=True)
    return folder


class LoadCalls:
    """An injected load_data function that records its arguments and returns a row count from the file."""

    def __init__(self) -> None:
        self.calls: list[tuple[Path, str, str, str | None, str]] = []

    def __call__(self, path: Path, url: str, table: str, schema: str | None, mode: str) -> int:
        self.calls.append((path, url, table, schema, mode))
        return pq.read_metadata(path).num_rows


@pytest.fixture
def loads() -> LoadCalls:
    return LoadCalls()


@pytest.fixture
def logs() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def server(
    data_dir: Path, secrets: ProjectSecrets, loads: LoadCalls, logs: list[tuple[str, str]]
) -> Iterator[SdkServer]:
    with SdkServer(
        data_dir=data_dir,
        task_name="extract",
        secrets=secrets,
        load_data=loads,
        log=lambda level, text: logs.append((level, text)),
    ) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def pit_sdk() -> Iterator[Any]:
    """The bundled pit_sdk imported in this process (removed from sys.path/sys.modules afterwards)."""
    sys.path.insert(0, str(SDK_PATH))
    try:
        import pit_sdk

        yield pit_sdk
    finally:
        sys.path.remove(str(SDK_PATH))
        for name in [m for m in sys.modules if m == "pit_sdk" or m.startswith("pit_sdk.")]:
            del sys.modules[name]


@pytest.fixture
def task_env(server: SdkServer, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> SdkServer:
    monkeypatch.setenv("PIT_SOCKET", server.address)
    monkeypatch.setenv("PIT_DATA_DIR", str(data_dir))
    return server


def raw(address: str, payload: bytes, *, half_close: bool = True) -> bytes:
    """One raw exchange with the server: send `payload`, half-close, read to EOF."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(address)
        conn.sendall(payload)
        if half_close:
            conn.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := conn.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def call(address: str, method: str, **params: str) -> dict[str, str]:
    response = raw(address, json.dumps({"method": method, "params": params}).encode())
    assert response.endswith(b"\n") and response.count(b"\n") == 1
    return json.loads(response)


def write_parquet(path: Path, rows: int = 3) -> Path:
    pq.write_table(pa.table({"id": list(range(rows))}), path)
    return path


# --- wire protocol ---------------------------------------------------------------------------------------------


def test_responses_are_byte_compatible_with_pit(server: SdkServer) -> None:
    assert raw(server.address, b'{"method": "get_secret", "params": {"key": "db"}}') == (
        b'{"result":"{\\"host\\":\\"h\\"}"}\n'
    )
    assert raw(server.address, b'{"method":"get_secret","params":{"key":"odd"}}') == (
        b'{"result":"\\u003c\\u0026\\u003e"}\n'
    )
    assert raw(server.address, b'{"method":"nope","params":{}}') == b'{"result":"","error":"unknown method: nope"}\n'
    assert encode_response("r", "") == b'{"result":"r"}\n'


def test_plain_secret_and_global_fallback(server: SdkServer) -> None:
    assert call(server.address, "get_secret", key="sales_token") == {"result": "sales-only-token-77"}
    assert call(server.address, "get_secret", key="token") == {"result": TOKEN}
    assert call(server.address, "get_secret_field", secret="ftp", field="user") == {"result": FTP_USER}


def test_project_secret_shadows_global_without_field_fallback(server: SdkServer) -> None:
    # §6 row 26
    assert json.loads(call(server.address, "get_secret", key="db")["result"]) == {"host": "h"}
    reply = call(server.address, "get_secret_field", secret="db", field="user")
    assert reply == {"result": "", "error": 'field "user" not found in secret "db" for project "sales"'}


def test_secret_errors_are_pits_words(server: SdkServer, logs: list[tuple[str, str]]) -> None:
    # pit's Store.Resolve / ResolveField texts, byte for byte; the searched scopes go to the Dagster log only
    assert raw(server.address, b'{"method":"get_secret","params":{"key":"nope"}}') == (
        b'{"result":"","error":"secret \\"nope\\" not found for project \\"sales\\""}\n'
    )
    assert call(server.address, "get_secret_field", secret="token", field="x")["error"] == (
        'secret "token" is a plain value, not a structured secret (use Resolve instead)'
    )
    assert call(server.address, "get_secret", key='a"b')["error"] == 'secret "a\\"b" not found for project "sales"'
    assert any("searched [sales], [global]" in text for _, text in logs)


def test_no_secrets_means_no_secret_methods(data_dir: Path) -> None:
    # §6 row 27
    with SdkServer(data_dir=data_dir, task_name="t", secrets=None) as sdk:
        assert raw(sdk.address, b'{"method":"get_secret","params":{"key":"x"}}') == (
            b'{"result":"","error":"unknown method: get_secret"}\n'
        )
        assert call(sdk.address, "get_secret_field", secret="x", field="y")["error"] == (
            "unknown method: get_secret_field"
        )
        assert "get_secret" not in sdk.methods and "load_data" in sdk.methods


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        # §6 row 28; the texts are Go's json.Decoder's, as pit sends them
        (
            b'{"method": "get_secret", "params": {"key": 1}}',
            "json: cannot unmarshal number into Go struct field Request.params of type string",
        ),
        (
            b'{"method": "get_secret", "params": ["key"]}',
            "json: cannot unmarshal array into Go struct field Request.params of type map[string]string",
        ),
        (b'{"method": 7}', "json: cannot unmarshal number into Go struct field Request.method of type string"),
        (b'["get_secret"]', "json: cannot unmarshal array into Go value of type sdk.Request"),
        (b'{"method": "get_secret", "params": {"key": "x"}', "unexpected EOF"),
        (b"not json at all", "invalid character 'o' in literal null (expecting 'u')"),
        (b'{"method" "x"}', "invalid character '\"' after object key"),
        (b"", "EOF"),
    ],
)
def test_invalid_requests(server: SdkServer, payload: bytes, error: str) -> None:
    assert raw(server.address, payload) == encode_response("", f"invalid request: {error}")


def test_missing_and_empty_params(server: SdkServer) -> None:
    assert call(server.address, "get_secret") == {"result": "", "error": "missing required parameter: key"}
    assert call(server.address, "get_secret", key="") == {"result": "", "error": "missing required parameter: key"}
    # Go decodes null into an empty string, which pit then calls missing
    assert json.loads(raw(server.address, b'{"method": "get_secret", "params": {"key": null}}')) == {
        "result": "",
        "error": "missing required parameter: key",
    }
    assert call(server.address, "get_secret_field", secret="db")["error"] == "missing required parameter: field"
    assert call(server.address, "load_data", file="x.parquet")["error"] == "missing required parameter: table"
    assert call(server.address, "ftp_list", secret="ftp")["error"] == "missing required parameter: directory"


def test_request_without_half_close_is_answered(server: SdkServer) -> None:
    # like Go's json.Decoder, the server answers once one whole JSON value has arrived
    reply = raw(server.address, b'{"method":"get_secret","params":{"key":"token"}}', half_close=False)
    assert json.loads(reply) == {"result": TOKEN}
    reply = raw(server.address, b'{"method":"get_secret","params":{"key":1}}', half_close=False)
    assert reply.startswith(b'{"result":"","error":"invalid request: ')


def test_audit_records_carry_the_task_name(server: SdkServer, audit: list[AuditRecord]) -> None:
    call(server.address, "get_secret", key="token")
    call(server.address, "get_secret_field", secret="ftp", field="host")
    call(server.address, "get_secret", key="nope")
    assert [(r.key, r.field, r.task, r.found) for r in audit] == [
        ("token", None, "extract", True),
        ("ftp", "host", "extract", True),
        ("nope", None, "extract", False),
    ]


def test_concurrent_clients(server: SdkServer) -> None:
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.connect(server.address)  # connected, sends nothing: must not hold up anyone else
    try:
        keys = ["token", "sales_token", "db", "nope"] * 16
        expected = {"token": TOKEN, "sales_token": "sales-only-token-77", "db": '{"host":"h"}', "nope": ""}
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            replies = list(pool.map(lambda key: call(server.address, "get_secret", key=key), keys))
        assert time.monotonic() - started < 60  # generous: a serial server would wait for the stalled client
        assert [r["result"] for r in replies] == [expected[k] for k in keys]
        assert all(("error" in r) == (k == "nope") for r, k in zip(replies, keys))
    finally:
        stalled.close()


def test_socket_is_unique_short_and_removed_on_close(data_dir: Path) -> None:
    first = SdkServer(data_dir=data_dir, task_name="a", secrets=None).start()
    second = SdkServer(data_dir=data_dir, task_name="a", secrets=None).start()
    try:
        assert first.address != second.address
        for sdk in (first, second):
            assert len(sdk.address.encode()) < 100
            assert Path(sdk.address).is_socket()
            assert oct(Path(sdk.address).parent.stat().st_mode & 0o777) == "0o700"
            assert Path(sdk.address).parent.name.startswith("pit-")
    finally:
        first.close()
        second.close()
    for sdk in (first, second):
        assert not Path(sdk.address).exists() and not Path(sdk.address).parent.exists()
    with pytest.raises(OSError):
        raw(first.address, b"{}")


def test_socket_is_removed_when_the_task_fails(data_dir: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="task failed"),
        SdkServer(data_dir=data_dir, task_name="t", secrets=None) as sdk,
    ):
        address = sdk.address
        assert Path(address).exists()
        raise RuntimeError("task failed")
    assert not Path(address).exists() and not Path(address).parent.exists()


def test_tcp_transport(data_dir: Path, secrets: ProjectSecrets, pit_sdk: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with SdkServer(data_dir=data_dir, task_name="t", secrets=secrets, transport="tcp") as sdk:
        host, port = sdk.address.rsplit(":", 1)
        assert host == "127.0.0.1" and port.isdigit()
        monkeypatch.setenv("PIT_SOCKET", sdk.address)
        assert pit_sdk.get_secret("token") == TOKEN


# --- secret values never leak (§6 row 44) ------------------------------------------------------------------------


def test_error_texts_and_logs_never_contain_secret_values(
    data_dir: Path, secrets: ProjectSecrets, logs: list[tuple[str, str]]
) -> None:
    def failing_load(path: Path, url: str, table: str, schema: str | None, mode: str) -> int:
        raise RuntimeError(f"could not connect to {url}")  # a driver that echoes the URL, password included

    write_parquet(data_dir / "t.parquet")
    with SdkServer(
        data_dir=data_dir,
        task_name="t",
        secrets=secrets,
        load_data=failing_load,
        log=lambda level, text: logs.append((level, text)),
    ) as sdk:
        replies = [
            call(sdk.address, "load_data", file="t.parquet", table="t", connection="warehouse"),
            call(sdk.address, "get_secret_field", secret="token", field="x"),
            call(sdk.address, "get_secret_field", secret="ftp", field="nope"),
            call(sdk.address, "ftp_list", secret="ftp_bad_login", directory="/incoming"),
            call(sdk.address, "ftp_list", secret="token", directory="/incoming"),
        ]
    errors = [reply["error"] for reply in replies]
    assert all(errors), errors
    assert "could not connect to" in errors[0] and "***" in errors[0]
    assert "login" in errors[3].lower()
    texts = errors + [text for _, text in logs]
    for text in texts:
        for value in ALL_SECRET_VALUES:
            assert value not in text, text
    assert any(level == "warning" for level, _ in logs)


# --- load_data ----------------------------------------------------------------------------------------------------


def test_load_data_calls_the_injected_function(server: SdkServer, data_dir: Path, loads: LoadCalls) -> None:
    write_parquet(data_dir / "claims.parquet", rows=4)
    reply = call(server.address, "load_data", file="claims.parquet", table="claims", connection="warehouse")
    assert reply == {"result": "4 rows loaded"}
    reply = call(
        server.address,
        "load_data",
        file="claims.parquet",
        table="c2",
        connection="warehouse",
        schema="s",
        mode="truncate_and_load",
    )
    assert reply == {"result": "4 rows loaded"}
    url = f"postgresql://loader:{DB_PASSWORD}@db.internal:5432/wh"
    path = (data_dir / "claims.parquet").resolve()
    assert loads.calls == [(path, url, "claims", None, "append"), (path, url, "c2", "s", "truncate_and_load")]


@pytest.mark.parametrize("name", ["../x.parquet", "sub/../../x.parquet", "/etc/passwd", "..", ".", "link/x.parquet"])
def test_load_data_refuses_paths_outside_the_data_dir(
    server: SdkServer, data_dir: Path, loads: LoadCalls, name: str
) -> None:
    # §6 row 29
    write_parquet(data_dir.parent / "x.parquet")
    (data_dir / "link").symlink_to(data_dir.parent)
    reply = call(server.address, "load_data", file=name, table="t", connection="warehouse")
    assert reply == {"result": "", "error": f"file path {json.dumps(name)} escapes data directory"}
    assert loads.calls == []


def test_load_data_errors(data_dir: Path, secrets: ProjectSecrets, server: SdkServer) -> None:
    absent = (data_dir / "absent.parquet").resolve()
    assert call(server.address, "load_data", file="absent.parquet", table="t", connection="warehouse")["error"] == (
        f"loading data: reading parquet file: opening file: open {absent}: no such file or directory"
    )
    write_parquet(data_dir / "t.parquet")
    assert call(server.address, "load_data", file="t.parquet", table="t", connection="nope")["error"] == (
        'resolving connection "nope": secret "nope" not found for project "sales"'
    )
    assert call(server.address, "load_data", file="t.parquet", table="t", connection="warehouse", mode="upsert")[
        "error"
    ] == ('loading data: unsupported load mode "upsert" (must be append, truncate_and_load, or create_or_replace)')
    with SdkServer(data_dir=data_dir, task_name="t", secrets=secrets) as sdk:
        reply = call(sdk.address, "load_data", file="t.parquet", table="t", connection="warehouse")
        assert reply["error"] == "loading data: load_data is not available"
    with SdkServer(data_dir=data_dir, task_name="t", secrets=None, load_data=LoadCalls()) as sdk:
        reply = call(sdk.address, "load_data", file="t.parquet", table="t", connection="warehouse")
        assert reply["error"] == "secrets store not configured (use --secrets flag)"


# --- FTP against a real server ---------------------------------------------------------------------------------


def test_ftp_list_with_pattern(server: SdkServer) -> None:
    reply = call(server.address, "ftp_list", secret="ftp", directory="/incoming", pattern="sales_*.csv")
    assert reply == {"result": '["sales_1.csv","sales_2.csv"]'}
    everything = json.loads(call(server.address, "ftp_list", secret="ftp", directory="/incoming")["result"])
    assert everything == ["SALES_3.csv", "notes.txt", "sales_1.csv", "sales_2.csv"]
    assert call(server.address, "ftp_list", secret="ftp", directory="/incoming", pattern="[")["result"] == "[]"


def test_ftp_download_single_and_by_pattern(server: SdkServer, data_dir: Path) -> None:
    reply = call(server.address, "ftp_download", secret="ftp", remote_path="/incoming/notes.txt")
    assert json.loads(reply["result"]) == [str(data_dir.resolve() / "notes.txt")]
    assert (data_dir / "notes.txt").read_text() == "n"
    reply = call(server.address, "ftp_download", secret="ftp", directory="/incoming", pattern="sales_*.csv")
    assert json.loads(reply["result"]) == [str(data_dir.resolve() / n) for n in ("sales_1.csv", "sales_2.csv")]
    assert (data_dir / "sales_2.csv").read_text() == "id\n2\n"
    assert sorted(p.name for p in data_dir.iterdir()) == ["notes.txt", "sales_1.csv", "sales_2.csv"]
    missing = call(server.address, "ftp_download", secret="ftp", remote_path="/incoming/absent.csv")
    assert missing["error"].startswith('retrieving "/incoming/absent.csv": 550 ')
    nothing = call(server.address, "ftp_download", secret="ftp", directory="/incoming", pattern="*.xlsx")
    assert nothing == {"result": "null"}  # pit marshals the empty (nil) list of a batch that matched nothing
    assert sorted(p.name for p in data_dir.iterdir()) == ["notes.txt", "sales_1.csv", "sales_2.csv"]


def test_ftp_upload_and_move(server: SdkServer, data_dir: Path, ftp_server: tuple[int, Path]) -> None:
    _, home = ftp_server
    (data_dir / "summary.csv").write_text("total\n42\n")
    assert call(server.address, "ftp_upload", secret="ftp", local_name="summary.csv", remote_path="/summary.csv") == {
        "result": ""
    }
    assert (home / "summary.csv").read_text() == "total\n42\n"
    assert call(server.address, "ftp_move", secret="ftp", src="/summary.csv", dst="/done/summary.csv") == {"result": ""}
    assert not (home / "summary.csv").exists() and (home / "done" / "summary.csv").read_text() == "total\n42\n"
    refused = call(server.address, "ftp_upload", secret="ftp", local_name="../secrets.toml", remote_path="/x")
    assert refused["error"] == 'filename "../secrets.toml" escapes data directory'
    gone = call(server.address, "ftp_move", secret="ftp", src="/absent.txt", dst="/done/absent.txt")
    assert gone["error"].startswith('moving "/absent.txt" to "/done/absent.txt": 550 ')


def test_ftp_tls_field_asks_for_tls(server: SdkServer) -> None:
    # the test server has no TLS: a client that honours tls = "true" fails at AUTH TLS instead of logging in
    reply = call(server.address, "ftp_list", secret="ftp_tls", directory="/incoming")
    # host and port are values of the secrets file, so they are masked like any secret value
    assert reply == {"result": "", "error": 'connecting to ***:***: 500 Command "AUTH" not understood.'}
    bad = call(server.address, "ftp_list", secret="ftp_bad_login", directory="/incoming")
    assert bad == {"result": "", "error": 'login as "***": 530 Authentication failed.'}


def test_ftp_needs_a_structured_secret_with_credentials(server: SdkServer, data_dir: Path) -> None:
    assert call(server.address, "ftp_list", secret="token", directory="/")["error"] == (
        'resolving token.host: secret "token" is a plain value, not a structured secret (use Resolve instead)'
    )
    assert call(server.address, "ftp_list", secret="db", directory="/")["error"] == (
        'resolving db.user: field "user" not found in secret "db" for project "sales"'
    )
    with SdkServer(data_dir=data_dir, task_name="t", secrets=None) as sdk:
        assert call(sdk.address, "ftp_list", secret="ftp", directory="/")["error"] == (
            "secrets store not configured (use --secrets flag)"
        )


# --- pit_sdk in this process: client, data, SQL, FTP ---------------------------------------------------------------


def test_sdk_client_secrets_and_errors(pit_sdk: Any, task_env: SdkServer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert pit_sdk.get_secret("db") == '{"host":"h"}'
    assert pit_sdk.get_secret_field("ftp", "user") == FTP_USER
    with pytest.raises(RuntimeError, match=r'^SDK error: secret "nope" not found'):
        pit_sdk.get_secret("nope")
    monkeypatch.delenv("PIT_SOCKET")
    with pytest.raises(RuntimeError) as info:
        pit_sdk.get_secret("db")
    assert str(info.value) == "PIT_SOCKET environment variable not set — is this running inside a pit task?"


def test_sdk_load_data_sends_file_schema_and_mode(
    pit_sdk: Any, task_env: SdkServer, data_dir: Path, loads: LoadCalls
) -> None:
    pit_sdk.write_output("claims", pa.table({"id": [1, 2]}))
    assert pit_sdk.load_data("claims", "claims", "warehouse") == "2 rows loaded"
    assert pit_sdk.load_data("claims", "c", "warehouse", schema="public", mode="truncate_and_load") == "2 rows loaded"
    assert [(c[0].name, c[2], c[3], c[4]) for c in loads.calls] == [
        ("claims.parquet", "claims", "dbo", "append"),
        ("claims.parquet", "c", "public", "truncate_and_load"),
    ]


def test_sdk_write_output_is_atomic_and_typed(pit_sdk: Any, task_env: SdkServer, data_dir: Path) -> None:
    first = pit_sdk.write_output("t", pd.DataFrame({"a": [1, 2]}))
    second = pit_sdk.write_output("t", pa.table({"a": [3]}))
    assert first == second == str(data_dir / "t.parquet")
    assert [p.name for p in data_dir.iterdir()] == ["t.parquet"]  # no temp file left behind
    assert pit_sdk.read_input("t").to_pydict() == {"a": [3]}
    with pytest.raises(TypeError, match="pyarrow Table, a pandas DataFrame or a polars DataFrame"):
        pit_sdk.write_output("bad", [1, 2, 3])

    with pytest.raises(FileNotFoundError, match="no data named 'absent'"):
        pit_sdk.read_input("absent")


def test_sdk_read_sql_and_output_sql(pit_sdk: Any, task_env: SdkServer, data_dir: Path, tmp_path: Path) -> None:
    import sqlite3

    import duckdb

    db_file = tmp_path / "w.db"
    with sqlite3.connect(db_file) as db:
        db.execute("create table t (id integer, name text)")
        db.executemany("insert into t values (?, ?)", [(1, "a"), (2, "b")])
    db.close()
    table = pit_sdk.read_sql(f"sqlite:///{db_file}", "select id, name from t order by id")
    assert table.to_pydict() == {"id": [1, 2], "name": ["a", "b"]}
    frame = pit_sdk.read_sql(f"sqlite:///{db_file}", "select id from t", return_type="pandas")
    assert list(frame["id"]) == [1, 2]

    duck_file = tmp_path / "w.duckdb"
    with duckdb.connect(str(duck_file)) as duck:
        duck.execute("create table t as select range as id from range(5)")
    path = pit_sdk.output_sql(f"duckdb:///{duck_file}", "select id * 10 as x from t order by id", "tens")
    assert path == str(data_dir / "tens.parquet")
    assert pq.read_table(path).to_pydict() == {"x": [0, 10, 20, 30, 40]}

    with pytest.raises(RuntimeError, match=r"'mssql://'.*connectorx"):
        pit_sdk.read_sql("mssql://sa:pw@host/db", "select 1")
    with pytest.raises(ValueError, match="return_type"):
        pit_sdk.read_sql(f"sqlite:///{db_file}", "select 1", return_type="numpy")


def test_sdk_ftp_functions(pit_sdk: Any, task_env: SdkServer, data_dir: Path, ftp_server: tuple[int, Path]) -> None:
    _, home = ftp_server
    assert pit_sdk.ftp_list("ftp", "/incoming", "sales_?.csv") == ["sales_1.csv", "sales_2.csv"]
    # pit's calling style: the positional path is the directory when a pattern is given
    assert pit_sdk.ftp_download("ftp", "/incoming", pattern="SALES_*") == [str(data_dir.resolve() / "SALES_3.csv")]
    assert pit_sdk.ftp_download("ftp", directory="/incoming", pattern="notes.*") == [
        str(data_dir.resolve() / "notes.txt")
    ]
    (data_dir / "up.txt").write_text("up")
    assert pit_sdk.ftp_upload("ftp", "up.txt", "/up.txt") is None
    assert pit_sdk.ftp_move("ftp", "/up.txt", "/done/up.txt") is None
    assert (home / "done" / "up.txt").read_text() == "up"
    with pytest.raises(RuntimeError, match='^SDK error: moving "/absent.txt" to "/done/absent.txt": 550'):
        pit_sdk.ftp_move("ftp", "/absent.txt", "/done/absent.txt")


# --- task subprocesses (§6 rows 30 and 43) -----------------------------------------------------------------------


def run_task(script: str, server: SdkServer, data_dir: Path, tmp_path: Path, *flags: str) -> dict[str, Any]:
    path = tmp_path / "task.py"
    path.write_text(textwrap.dedent(script))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIT_")}
    env.update(PYTHONPATH=str(SDK_PATH), PIT_SOCKET=server.address, PIT_DATA_DIR=str(data_dir))
    done = subprocess.run(
        [sys.executable, *flags, str(path)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_tasks_pass_data_and_read_secrets_through_the_bundled_sdk(
    server: SdkServer, data_dir: Path, tmp_path: Path
) -> None:
    task_a = """
        import json
        import pandas as pd
        from pit_sdk import get_secret, get_secret_field, write_output

        path = write_output("t", pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", "c"]}))
        try:
            get_secret_field("db", "user")
            shadow = "no error"
        except RuntimeError as exc:
            shadow = str(exc)
        print(json.dumps({"path": path, "db": get_secret("db"), "shadow": shadow}))
    """
    a = run_task(task_a, server, data_dir, tmp_path)
    assert a["path"] == str(data_dir / "t.parquet")
    assert a["db"] == '{"host":"h"}'
    assert a["shadow"].startswith("SDK error: ") and '"user"' in a["shadow"]

    task_b = """
        import importlib, json
        import pit_sdk.secret
        from pit_sdk import read_input

        try:
            importlib.import_module("pit_sdk.secrets")
            secrets_import = "imported"
        except ModuleNotFoundError as exc:
            secrets_import = f"ModuleNotFoundError: {exc.name}"
        table = read_input("t")
        print(json.dumps({"rows": table.to_pydict(), "secrets_import": secrets_import,
                          "token": pit_sdk.secret.get_secret("token")}))
    """
    b = run_task(task_b, server, data_dir, tmp_path)
    assert b["rows"] == {"id": [1, 2, 3], "name": ["a", "b", "c"]}
    assert b["secrets_import"] == "ModuleNotFoundError: pit_sdk.secrets"
    assert b["token"] == TOKEN


def test_bundled_sdk_imports_with_the_standard_library_only(server: SdkServer, data_dir: Path, tmp_path: Path) -> None:
    script = """
        import json, os, sys
        import pit_sdk
        from pit_sdk import get_secret, write_output

        heavy = sorted(m for m in ("pyarrow", "pandas", "polars", "duckdb", "sqlalchemy") if m in sys.modules)
        try:
            write_output("t", object())
            missing = "written"
        except RuntimeError as exc:
            missing = str(exc)
        except TypeError as exc:
            missing = "TypeError: " + str(exc)
        try:
            pit_sdk.read_input("t")
        except RuntimeError as exc:
            read = str(exc)
        socket_value = os.environ.pop("PIT_SOCKET")
        try:
            get_secret("token")
        except RuntimeError as exc:
            no_socket = str(exc)
        os.environ["PIT_SOCKET"] = socket_value
        del os.environ["PIT_DATA_DIR"]
        try:
            pit_sdk.read_input("t")
        except RuntimeError as exc:
            no_data_dir = str(exc)
        print(json.dumps({"heavy": heavy, "all": pit_sdk.__all__, "missing": missing, "read": read,
                          "no_socket": no_socket, "no_data_dir": no_data_dir, "token": get_secret("token")}))
    """
    # -S: no site-packages at all, only the standard library and PYTHONPATH
    out = run_task(script, server, data_dir, tmp_path, "-S")
    assert out["heavy"] == []
    assert set(out["all"]) == {
        "get_secret", "get_secret_field", "read_sql", "output_sql", "write_output", "read_input", "load_data",
        "ftp_list", "ftp_download", "ftp_upload", "ftp_move",
    }  # fmt: skip
    assert out["missing"].startswith("TypeError")  # an unsupported object is rejected before any import
    assert "'pyarrow' package" in out["read"] and "add it to the project" in out["read"]
    assert out["no_socket"] == "PIT_SOCKET environment variable not set — is this running inside a pit task?"
    assert "PIT_DATA_DIR" in out["no_data_dir"]
    assert out["token"] == TOKEN


# --- read_sql on a real PostgreSQL server -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_port() -> Iterator[int]:
    """A throwaway PostgreSQL server on 127.0.0.1 (trust auth, user `pit`), started and stopped here."""
    with postgres_server("pit") as port:
        yield port


@pytest.mark.slow
def test_sdk_read_sql_on_postgresql(pit_sdk: Any, task_env: SdkServer, data_dir: Path, postgres_port: int) -> None:
    query = "select g as id, 'n' || g as name from generate_series(1, 3) as g order by g"
    for scheme in ("postgresql", "postgres"):
        table = pit_sdk.read_sql(f"{scheme}://pit@127.0.0.1:{postgres_port}/postgres", query)
        assert table.to_pydict() == {"id": [1, 2, 3], "name": ["n1", "n2", "n3"]}
    path = pit_sdk.output_sql(f"postgresql://pit@127.0.0.1:{postgres_port}/postgres", query, "pg")
    assert pq.read_table(path).column("name").to_pylist() == ["n1", "n2", "n3"]
