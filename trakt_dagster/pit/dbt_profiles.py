"""dbt `profiles.yml` generation from a pit `[dag.dbt]` table and its structured connection secret.

Error messages name fields, never their values: a connection's password cannot end up in an exception.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from trakt_dagster.core.atomic import atomic_path

# pip name -> dbt adapter type
ADAPTERS = {"dbt-duckdb": "duckdb", "dbt-postgres": "postgres", "dbt-sqlserver": "sqlserver"}
DEFAULT_SCHEMAS = {"duckdb": "main", "postgres": "public", "sqlserver": "dbo"}
DEFAULT_PORTS = {"postgres": 5432, "sqlserver": 1433}
DEFAULT_DRIVER = "ODBC Driver 17 for SQL Server"

# connections that let `dbt parse` load a project without reaching a database
PLACEHOLDER_CONNECTIONS: dict[str, dict[str, str]] = {
    "duckdb": {"path": ":memory:"},
    "postgres": {"host": "localhost", "database": "placeholder", "user": "placeholder", "password": "placeholder"},
    "sqlserver": {"host": "localhost", "database": "placeholder", "user": "placeholder", "password": "placeholder"},
}


class DbtProfileError(ValueError):
    """A `profiles.yml` cannot be made from the `[dag.dbt]` settings (the message names fields, not values).

    Example:
        >>> str(DbtProfileError("dbt adapter 'dbt-x' is not supported"))
        "dbt adapter 'dbt-x' is not supported"
    """


def adapter_type(adapter: str) -> str:
    """dbt's adapter type for a pip requirement (`dbt-postgres`, `dbt-sqlserver==1.8.0`, `duckdb`).

    Example:
        >>> adapter_type("dbt-duckdb"), adapter_type("dbt-sqlserver>=1.8"), adapter_type("postgres")
        ('duckdb', 'sqlserver', 'postgres')
    """
    name = re.split(r"[\s=<>!~;\[]", adapter.strip(), maxsplit=1)[0].lower().replace("_", "-")
    if name in ADAPTERS:
        return ADAPTERS[name]
    if name in ADAPTERS.values():
        return name
    supported = ", ".join(ADAPTERS)
    raise DbtProfileError(f"[dag.dbt] adapter {adapter!r} is not supported; supported adapters: {supported}")


def _threads(threads: str | None) -> int:
    text = (threads or "").strip()
    if not text:
        return 1
    if not text.isdigit() or int(text) < 1:
        raise DbtProfileError(f"[dag.dbt] threads must be a whole number ≥ 1 (a string in pit.toml), not {threads!r}")
    return int(text)


def _port(connection: Mapping[str, str], kind: str) -> int:
    text = str(connection.get("port") or "").strip()
    if not text:
        return DEFAULT_PORTS[kind]
    if not text.isdigit():
        raise DbtProfileError("field 'port' of the [dag.dbt] connection secret is not a number")
    return int(text)


def _required(connection: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = str(connection.get(name) or "").strip()
        if value:
            return value
    raise DbtProfileError(f"the [dag.dbt] connection secret has no field {' or '.join(repr(n) for n in names)}")


def _duckdb_output(connection: Mapping[str, str] | None, *, profile: str, base_dir: Path) -> dict[str, Any]:
    connection = connection or {}
    raw = str(connection.get("path") or connection.get("database") or "").strip() or f"{profile}.duckdb"
    path = raw if raw == ":memory:" or raw.startswith("md:") else os.fspath((base_dir / raw).absolute())
    return {"type": "duckdb", "path": path, "schema": str(connection.get("schema") or DEFAULT_SCHEMAS["duckdb"])}


def _server_output(kind: str, connection: Mapping[str, str], *, driver: str) -> dict[str, Any]:
    host = _required(connection, "host")
    database = _required(connection, "database", "dbname")
    user = _required(connection, "user")
    port = _port(connection, kind)
    schema = str(connection.get("schema") or DEFAULT_SCHEMAS[kind])
    password = str(connection.get("password") or "")
    if kind == "postgres":
        return {
            "type": kind,
            "host": host,
            "port": port,
            "dbname": database,
            "schema": schema,
            "user": user,
            "password": password,
        }
    return {
        "type": kind,
        "driver": driver,
        "server": host,
        "port": port,
        "database": database,
        "schema": schema,
        "user": user,
        "password": password,
        "encrypt": True,
        "trust_cert": True,
    }


def profile_document(
    *,
    profile: str,
    target: str,
    threads: str | None,
    adapter: str,
    connection: Mapping[str, str] | None,
    base_dir: Path,
    driver: str = DEFAULT_DRIVER,
) -> dict[str, Any]:
    """The `profiles.yml` content as data (see `write_profiles`).

    Example:
        >>> doc = profile_document(profile="shop", target="prod", threads="2", adapter="dbt-duckdb",
        ...                        connection={"database": ":memory:"}, base_dir=Path("/w"))
        >>> doc["shop"]["outputs"]["prod"]
        {'type': 'duckdb', 'path': ':memory:', 'schema': 'main', 'threads': 2}
    """
    kind = adapter_type(adapter)
    if kind == "duckdb":
        output = _duckdb_output(connection, profile=profile, base_dir=Path(base_dir))
    elif connection is None:
        raise DbtProfileError(
            f"a {kind} dbt project needs a connection: set [dag.dbt] connection to the name of a structured "
            "secret with host, port, database, schema, user and password"
        )
    else:
        output = _server_output(kind, connection, driver=driver or DEFAULT_DRIVER)
    output["threads"] = _threads(threads)
    return {profile: {"target": target, "outputs": {target: output}}}


def write_profiles(
    directory: Path,
    *,
    profile: str,
    target: str = "prod",
    threads: str | None,
    adapter: str,
    connection: Mapping[str, str] | None,
    base_dir: Path,
    driver: str = DEFAULT_DRIVER,
) -> Path:
    """Write `directory/profiles.yml` (mode 0600, atomically) for one profile and target; returns the file.

    `adapter` is the pip name from `[dag.dbt]` (`dbt-duckdb`, `dbt-postgres`, `dbt-sqlserver`, a version
    spec allowed). `connection` holds the structured secret's fields: `host`, `port`, `database`, `schema`,
    `user`, `password`. DuckDB uses `path` or `database` as the database file, relative paths resolved
    against `base_dir`, and without a connection `base_dir/<profile>.duckdb`. Default schemas: `main`
    (duckdb), `public` (postgres), `dbo` (sqlserver); default ports 5432 / 1433; `threads` (a string in
    pit.toml) defaults to 1. SQL Server profiles use `driver` with `encrypt` and `trust_cert` on, like pit.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> p = write_profiles(d, profile="shop", threads=None, adapter="dbt-duckdb", connection=None, base_dir=d)
        >>> p.name, oct(p.stat().st_mode & 0o777), yaml.safe_load(p.read_text())["shop"]["target"]
        ('profiles.yml', '0o600', 'prod')
    """
    document = profile_document(
        profile=profile,
        target=target,
        threads=threads,
        adapter=adapter,
        connection=connection,
        base_dir=base_dir,
        driver=driver,
    )
    for output in document[profile]["outputs"].values():
        database = output.get("path", ":memory:") if output.get("type") == "duckdb" else ":memory:"
        if database != ":memory:" and not database.startswith("md:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)  # DuckDB creates the file, not its folder
    path = Path(directory) / "profiles.yml"
    with atomic_path(path, mode=0o600) as tmp:  # credentials: owner only, whatever the umask
        tmp.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def write_placeholder_profiles(directory: Path, *, profile: str, target: str, adapter: str) -> Path:
    """A `profiles.yml` good enough for `dbt parse` (no database is contacted): DuckDB in memory, or dummies.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> p = write_placeholder_profiles(d, profile="shop", target="prod", adapter="dbt-duckdb")
        >>> yaml.safe_load(p.read_text())["shop"]["outputs"]["prod"]["path"]
        ':memory:'
    """
    kind = adapter_type(adapter)
    return write_profiles(
        directory,
        profile=profile,
        target=target,
        threads=None,
        adapter=kind,
        connection=PLACEHOLDER_CONNECTIONS[kind],
        base_dir=Path(directory),
    )
