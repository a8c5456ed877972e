"""The SDK socket client: one JSON request per connection to the orchestrator at `PIT_SOCKET`."""

from __future__ import annotations

import json
import os
import socket

__all__ = ["request"]

_NO_SOCKET = "PIT_SOCKET environment variable not set — is this running inside a pit task?"


def request(method: str, params: dict[str, str] | None = None) -> str:
    """Send `method` with string `params` and return the result; a server error → `RuntimeError("SDK error: …")`.

    Example:
        >>> rows = request("load_data", {"file": "t.parquet", "table": "t", "connection": "db"})  # doctest: +SKIP
    """
    address = os.environ.get("PIT_SOCKET", "")
    if not address:
        raise RuntimeError(_NO_SOCKET)
    payload = json.dumps({"method": method, "params": dict(params or {})}).encode("utf-8")
    try:
        with _connect(address) as conn:
            conn.sendall(payload)
            conn.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    except OSError as exc:
        raise RuntimeError(f"cannot reach the pit SDK server at {address}: {exc.strerror or exc}") from None
    try:
        response = json.loads(b"".join(chunks))
    except ValueError:
        raise RuntimeError(f"SDK error: the server sent an unreadable response to {method}") from None
    if not isinstance(response, dict):
        raise RuntimeError(f"SDK error: the server sent an unexpected response to {method}")
    if response.get("error"):
        raise RuntimeError(f"SDK error: {response['error']}")
    result = response.get("result", "")
    return result if isinstance(result, str) else ""


def _connect(address: str) -> socket.socket:
    """TCP for `host:port` values (pit on Windows), else a Unix socket path."""
    host, sep, port = address.rpartition(":")
    if sep and host and port.isdigit() and "/" not in host and "\\" not in host:
        return socket.create_connection((host.strip("[]"), int(port)))
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(address)
    except BaseException:
        conn.close()
        raise
    return conn
