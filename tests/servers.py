"""Servers tests start for themselves and stop afterwards (loopback only)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_bin(name: str) -> str:
    """A PostgreSQL server program (`initdb`, `pg_ctl`, ...): on PATH or in Debian's /usr/lib/postgresql."""
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if found is None:
        raise AssertionError(f"PostgreSQL's {name} is not installed (make test installs the 'postgresql' package)")
    return str(found)


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def postgres_server(user: str, database: str | None = None) -> Iterator[int]:
    """A throwaway PostgreSQL server on 127.0.0.1 (trust auth for `user`, optional extra `database`);
    yields its port and stops it (and removes its data) afterwards."""
    # Not under pytest's tmp folder: that one is private to root and the server runs as 'postgres'.
    data = Path(tempfile.mkdtemp(prefix="trakt-dagster-pg-"))
    port = free_port()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    subprocess.run(
        _as_postgres([pg_bin("initdb"), "-D", str(data), "-U", user, "--auth=trust"]), check=True, capture_output=True
    )
    log = data / "server.log"
    options = f"-p {port} -h 127.0.0.1 -k {data} -F"
    subprocess.run(
        _as_postgres([pg_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o", options, "start"]),
        check=True,
        capture_output=True,
    )
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)]).returncode != 0:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        if database:
            subprocess.run([pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, database], check=True)
        yield port
    finally:
        subprocess.run(_as_postgres([pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


class FtpServer:
    """A pyftpdlib FTP server on 127.0.0.1 serving `home` to one user, in a thread; `stop()` and `start()`
    again on the same port (to test a broken connection).

    Example:
        >>> # with FtpServer(home, "u", "pw") as server: ... server.port ...
    """

    def __init__(
        self, home: Path, user: str, password: str, port: int = 0, tls: tuple[Path, Path] | None = None
    ) -> None:
        import logging

        log = logging.getLogger("pyftpdlib")
        log.setLevel(logging.WARNING)
        if not log.handlers:  # else pyftpdlib configures its own INFO logging on every serve_forever call
            log.addHandler(logging.NullHandler())
        self.home = home
        self.user = user
        self.password = password
        self.port = port
        self.tls = tls
        """(certificate, key) files: explicit FTPS (AUTH TLS) required on the control and data channels."""
        self._server = None
        self._thread = None
        self._stop = None

    def start(self) -> FtpServer:
        import threading

        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.ioloop import IOLoop
        from pyftpdlib.servers import FTPServer as _Server

        authorizer = DummyAuthorizer()
        authorizer.add_user(self.user, self.password, str(self.home), perm="elradfmwMT")
        attributes = {"authorizer": authorizer, "auth_failed_timeout": 0.01}
        base = FTPHandler
        if self.tls is not None:
            from pyftpdlib.handlers import TLS_FTPHandler

            base = TLS_FTPHandler
            attributes.update(
                certfile=str(self.tls[0]), keyfile=str(self.tls[1]), tls_control_required=True, tls_data_required=True
            )
        handler = type("TestFTPHandler", (base,), attributes)
        server = _Server(("127.0.0.1", self.port), handler, ioloop=IOLoop())  # its own loop: servers stop alone
        self.port = server.socket.getsockname()[1]
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
            server.close_all()

        self._server, self._stop = server, stop
        self._thread = threading.Thread(target=serve, name="test-ftp", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._thread.join(timeout=30)
            self._stop = None

    def __enter__(self) -> FtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def graphql(port: int, query: str, variables: dict | None = None, *, timeout: float = 60) -> dict:
    """POST a GraphQL query to a Dagster webserver on 127.0.0.1:`port` and return its `data` (its errors fail)."""
    import json
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = json.loads(response.read())
    if "errors" in body:
        raise RuntimeError(body["errors"])
    return body["data"]


@contextmanager
def service(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A long-running process (webserver, daemon) in its own session, logging to `log`; stopped (SIGTERM,
    then SIGKILL) with its whole process group afterwards."""
    import signal

    with open(log, "w") as out:
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield process
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


def self_signed_certificate(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for `host` (an IP address SAN) and its key, as PEM files in `folder`: (cert, key)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path
