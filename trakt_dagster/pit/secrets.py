"""pit's secrets file: scopes of string secrets, plain or age-encrypted, resolved per project with an audit hook.

The file is TOML whose top-level tables are scopes (`[global]` and one per DAG name). A secret is a string
or a table of strings (a structured secret). A project sees its own scope first, then `[global]`, and a
secret always comes whole from the first scope that has it. No value ever appears in an error or a repr.
"""

from __future__ import annotations

import json
import os
import re
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from trakt_dagster.pit.gofmt import go_quote

__all__ = [
    "AuditFn",
    "AuditRecord",
    "GLOBAL_SCOPE",
    "ProjectSecrets",
    "SecretNotFoundError",
    "SecretValue",
    "SecretsError",
    "SecretsFile",
    "go_json",
    "load_secrets",
    "parse_secrets_text",
]

GLOBAL_SCOPE = "global"
SecretValue = str | Mapping[str, str]
"""A plain secret (str) or a structured one (field name → str)."""


class SecretsError(Exception):
    """A secrets file that cannot be read or used; the message names the file, line and key, never a value.

    Example:
        >>> err = SecretsError("[global] db_port must be a string", path=Path("s.toml"), line=2, key="[global] db_port")
        >>> (err.line, err.key)
        (2, '[global] db_port')
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ):
        super().__init__(message)
        self.path = path
        self.line = line
        self.key = key
        self.hint = hint
        """Why, in more words than pit's message (which scopes were searched, where the secret came from)."""


class SecretNotFoundError(SecretsError):
    """A secret (or a field of a structured secret) that no searched scope defines.

    Example:
        >>> SecretsFile(Path("s.toml"), {}).for_project("sales").has("x")
        False
    """


@dataclass(frozen=True)
class AuditRecord:
    """One secret lookup: which key (and field), by which task, whether it was found, and when (epoch seconds).

    Example:
        >>> AuditRecord(key="db", field="user", task="extract", found=True, at=0.0).field
        'user'
    """

    key: str
    field: str | None
    task: str | None
    found: bool
    at: float


AuditFn = Callable[[AuditRecord], None]


def go_json(value: Any) -> str:
    """Compact JSON exactly as Go's `json.Marshal` writes it: sorted map keys, `<`, `>`, `&`, U+2028/9 escaped.

    Example:
        >>> go_json({"user": "u", "host": "<h&>"})
        '{"host":"\\\\u003ch\\\\u0026\\\\u003e","user":"u"}'
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        if char in text:
            text = text.replace(char, escaped)
    # Go writes invalid UTF-8 (here: lone surrogates) as U+FFFD
    return _SURROGATE.sub("\ufffd", text)


_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class SecretsFile:
    """A loaded secrets file: its path and its scopes (scope → secret name → value).

    Example:
        >>> sf = SecretsFile(Path("s.toml"), {"global": {"token": "t0k"}, "sales": {"db": {"host": "h"}}})
        >>> sf.for_project("sales").resolve("db"), sf.for_project("sales").resolve("token")
        ('{"host":"h"}', 't0k')
        >>> sf
        SecretsFile(path='s.toml', scopes={'global': ['token'], 'sales': ['db']})
    """

    path: Path
    scopes: Mapping[str, Mapping[str, SecretValue]]

    def __post_init__(self) -> None:
        object.__setattr__(self, "scopes", _freeze(self.scopes))

    def __repr__(self) -> str:
        names = {scope: sorted(secrets) for scope, secrets in self.scopes.items()}
        return f"SecretsFile(path={str(self.path)!r}, scopes={names!r})"

    def for_project(
        self, dag_name: str, *, on_access: AuditFn | None = None, task: str | None = None
    ) -> ProjectSecrets:
        """The secrets as the project `dag_name` sees them (its scope, then `[global]`).

        Example:
            >>> SecretsFile(Path("s.toml"), {"global": {"k": "v"}}).for_project("sales").resolve("k")
            'v'
        """
        scopes = {scope: self.scopes[scope] for scope in (dag_name, GLOBAL_SCOPE) if scope in self.scopes}
        return ProjectSecrets(dag_name=dag_name, scopes=scopes, source=self.path, on_access=on_access, task=task)


@dataclass(frozen=True)
class ProjectSecrets:
    """Secret lookup for one project: project scope first, then `[global]`, whole secrets only; audited.

    `task` (or the `task=` argument of a lookup) is recorded in every `AuditRecord` passed to `on_access`.

    Example:
        >>> scopes = {"global": {"db": {"host": "g", "user": "u"}}, "sales": {"db": {"host": "h"}}}
        >>> sf = SecretsFile(Path("s.toml"), scopes)
        >>> seen = []
        >>> ps = sf.for_project("sales", on_access=seen.append, task="extract")
        >>> ps.resolve("db"), ps.field("db", "host"), seen[0].task
        ('{"host":"h"}', 'h', 'extract')
    """

    dag_name: str
    searched: tuple[str, ...] = ()
    scopes: Mapping[str, Mapping[str, SecretValue]] = dataclass_field(default_factory=dict)
    source: Path | None = None
    on_access: AuditFn | None = None
    task: str | None = None

    def __post_init__(self) -> None:
        if not self.searched:  # the project scope, then [global]
            object.__setattr__(self, "searched", tuple(dict.fromkeys([self.dag_name, GLOBAL_SCOPE])))
        object.__setattr__(self, "scopes", _freeze(self.scopes))

    def __repr__(self) -> str:
        return f"ProjectSecrets(dag_name={self.dag_name!r}, keys={self.keys()!r}, task={self.task!r})"

    def with_task(self, task: str | None) -> ProjectSecrets:
        """The same secrets with audit records attributed to `task`.

        Example:
            >>> SecretsFile(Path("s.toml"), {}).for_project("p").with_task("t1").task
            't1'
        """
        return ProjectSecrets(self.dag_name, self.searched, self.scopes, self.source, self.on_access, task)

    def with_audit(self, on_access: AuditFn | None) -> ProjectSecrets:
        """The same secrets reporting every lookup to `on_access`.

        Example:
            >>> seen = []
            >>> ps = SecretsFile(Path("s.toml"), {}).for_project("p").with_audit(seen.append)
            >>> ps.has("x"), seen
            (False, [])
        """
        return ProjectSecrets(self.dag_name, self.searched, self.scopes, self.source, on_access, self.task)

    def keys(self) -> list[str]:
        """Names of every secret this project can resolve, sorted.

        Example:
            >>> SecretsFile(Path("s.toml"), {"global": {"b": "1", "a": "2"}}).for_project("p").keys()
            ['a', 'b']
        """
        return sorted({key for scope in self.scopes.values() for key in scope})

    def has(self, key: str) -> bool:
        """True when some searched scope defines `key` (not audited: no value is read).

        Example:
            >>> SecretsFile(Path("s.toml"), {"global": {"k": "v"}}).for_project("p").has("k")
            True
        """
        return self._lookup(key) is not None

    def resolve(self, key: str, *, task: str | None = None) -> str:
        """The secret `key`: a plain value, or a structured secret as compact sorted JSON (Go's encoding).

        Example:
            >>> sf = SecretsFile(Path("s.toml"), {"global": {"db": {"user": "u", "host": "h"}}})
            >>> sf.for_project("p").resolve("db")
            '{"host":"h","user":"u"}'
        """
        found = self._lookup(key)
        self._audit(key, None, task, found is not None)
        if found is None:
            raise self._not_found(key)
        _, value = found
        return value if isinstance(value, str) else go_json(dict(value))

    def field(self, secret: str, field: str, *, task: str | None = None) -> str:
        """One field of the structured secret `secret` (an error for a plain secret or a missing field).

        Example:
            >>> SecretsFile(Path("s.toml"), {"global": {"db": {"user": "u"}}}).for_project("p").field("db", "user")
            'u'
        """
        found = self._lookup(secret)
        if found is None:
            self._audit(secret, field, task, False)
            raise self._not_found(secret)
        scope, value = found
        if isinstance(value, str):
            self._audit(secret, field, task, False)
            raise SecretsError(
                f"secret {go_quote(secret)} is a plain value, not a structured secret (use Resolve instead)",
                path=self.source,
                key=f"[{scope}] {secret}",
                hint=f'"{secret}" comes from [{scope}] as a plain value; ask for it with get_secret',
            )
        if field not in value:
            self._audit(secret, field, task, False)
            names = ", ".join(sorted(value)) or "no fields"
            raise SecretNotFoundError(
                f"field {go_quote(field)} not found in secret {go_quote(secret)} for project {go_quote(self.dag_name)}",
                path=self.source,
                key=f"[{scope}.{secret}] {field}",
                hint=f"the secret comes whole from [{scope}], which has: {names} (no per-field fallback to [global])",
            )
        self._audit(secret, field, task, True)
        return value[field]

    def structured(self, key: str, *, task: str | None = None) -> dict[str, str]:
        """The structured secret `key` as a new dict (an error for a plain secret).

        Example:
            >>> SecretsFile(Path("s.toml"), {"global": {"ftp": {"host": "h"}}}).for_project("p").structured("ftp")
            {'host': 'h'}
        """
        found = self._lookup(key)
        if found is None or isinstance(found[1], str):
            self._audit(key, None, task, False)
            if found is None:
                raise self._not_found(key)
            raise SecretsError(
                f'secret "{key}" (from [{found[0]}]) is a plain value, not a structured secret with fields',
                path=self.source,
                key=f"[{found[0]}] {key}",
            )
        self._audit(key, None, task, True)
        return dict(found[1])

    def values(self) -> list[str]:
        """Every text a task of this project could obtain (values, field values, resolved JSON), for masking.

        Passwords embedded in URL-shaped values (`scheme://user:password@host`) are included too, decoded
        and as written. Empty strings are left out. Not audited.

        Example:
            >>> sf = SecretsFile(Path("s.toml"), {"global": {"tok": "t0k", "db": {"pw": "p4ss"}}})
            >>> sf.for_project("p").values()
            ['p4ss', 't0k', '{"pw":"p4ss"}']
        """
        found: set[str] = set()
        for key in self.keys():
            hit = self._lookup(key)
            assert hit is not None
            value = hit[1]
            texts = [value] if isinstance(value, str) else [*value.values(), go_json(dict(value))]
            for text in texts:
                found.add(text)
                found.update(_url_passwords(text))
        found.discard("")
        return sorted(found)

    def _lookup(self, key: str) -> tuple[str, SecretValue] | None:
        for scope in self.searched:
            secrets = self.scopes.get(scope)
            if secrets is not None and key in secrets:
                return scope, secrets[key]
        return None

    def _not_found(self, key: str) -> SecretNotFoundError:
        where = ", ".join(f"[{scope}]" for scope in self.searched)
        return SecretNotFoundError(
            f"secret {go_quote(key)} not found for project {go_quote(self.dag_name)}",
            path=self.source,
            key=key,
            hint=f"searched {where}",
        )

    def field_names(self, key: str) -> list[str]:
        """The field names of the structured secret `key` (empty for a plain or missing one); not audited.

        Example:
            >>> sf = SecretsFile(Path("s.toml"), {"global": {"ftp": {"port": "21", "host": "h"}}})
            >>> sf.for_project("p").field_names("ftp")
            ['host', 'port']
        """
        found = self._lookup(key)
        return [] if found is None or isinstance(found[1], str) else sorted(found[1])

    def _audit(self, key: str, field: str | None, task: str | None, found: bool) -> None:
        if self.on_access is not None:
            self.on_access(AuditRecord(key=key, field=field, task=task or self.task, found=found, at=time.time()))


def load_secrets(path: Path | str, *, age_identity: str | None = None) -> SecretsFile:
    """Read and validate a secrets file; a name ending in `.age` is decrypted with an x25519 age identity.

    The identity comes from, in order: env `PIT_AGE_KEY` (the `AGE-SECRET-KEY-...` text), env
    `PIT_AGE_KEY_FILE` (a key file), `age_identity` (a key file, as in `pit_config.toml`), then
    `~/.config/pit/age-key.txt` (`$XDG_CONFIG_HOME/pit/age-key.txt` when that is set).

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "secrets.toml"
        >>> _ = p.write_text('[global]\\ntoken = "t0k"\\n')
        >>> load_secrets(p).for_project("sales").resolve("token")
        't0k'
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SecretsError(f"secrets file {path} does not exist", path=path) from None
    except OSError as exc:
        raise SecretsError(
            f"cannot read secrets file {path}: {exc.strerror or type(exc).__name__}", path=path
        ) from None
    if path.name.endswith(".age"):
        raw = _decrypt(path, raw, age_identity)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SecretsError(f"secrets file {path}, line {line}: not valid UTF-8", path=path, line=line) from None
    return SecretsFile(path=path, scopes=parse_secrets_text(text, path))


def parse_secrets_text(text: str, path: Path) -> dict[str, dict[str, SecretValue]]:
    """Parse and validate the TOML text of a secrets file (`path` is only used in messages).

    Example:
        >>> parse_secrets_text('[global.db]\\nhost = "h"\\n', Path("s.toml"))
        {'global': {'db': {'host': 'h'}}}
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.search(r"\(at line (\d+), column (\d+)\)", message)
        line = int(match.group(1)) if match else None
        reason = re.sub(r"\s*\(at [^)]*\)\s*$", "", message)
        where = f", line {line}, column {match.group(2)}" if match else ""
        raise SecretsError(f"secrets file {path}{where}: invalid TOML: {reason}", path=path, line=line) from None
    except (RecursionError, ValueError, MemoryError) as exc:  # tomllib: nesting too deep, huge integers
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise SecretsError(f"secrets file {path}: invalid TOML: {reason}", path=path) from None
    scopes: dict[str, dict[str, SecretValue]] = {}
    for scope, section in data.items():
        if not isinstance(section, dict):
            message = f"section {go_quote(scope)} is not a table (a scope: [global] or [<dag name>])"
            _invalid(text, path, (), scope, section, message)
        secrets: dict[str, SecretValue] = {}
        for key, value in section.items():
            if isinstance(value, str):
                secrets[key] = value
            elif isinstance(value, dict):
                for name, item in value.items():
                    if not isinstance(item, str):
                        _invalid(
                            text, path, (scope, key), name, item, f"field {_go_key(scope, key, name)} must be a string"
                        )
                secrets[key] = dict(value)
            else:
                _invalid(text, path, (scope,), key, value, f"key {_go_key(scope, key)} must be a string or table")
        scopes[scope] = secrets
    return scopes


def _go_key(*parts: str) -> str:
    """pit's notation for a key of the secrets file: `"global"."db"."port"`.

    Example:
        >>> _go_key("global", "db", "port")
        '"global"."db"."port"'
    """
    return ".".join(go_quote(part) for part in parts)


def _invalid(text: str, path: Path, table: tuple[str, ...], key: str, value: object, message: str) -> None:
    line = _find_line(text, table, key)
    where = f", line {line}" if line else ""
    raise SecretsError(
        f"secrets file {path}{where}: {message} (found {_kind(value)})",
        path=path,
        line=line,
        key=_go_key(*table, key),
    )


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, str):
        return "a string"
    return "a date/time"


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def _find_line(text: str, table: tuple[str, ...], key: str) -> int | None:
    """Best-effort line of `key` inside `table` (tomllib keeps no positions): headers, dotted and inline keys."""
    target = (*table, key)
    header: tuple[str, ...] = ()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            inner = line.lstrip("[")
            end = _unquoted_index(inner, "]")
            if end is None:
                continue
            header = _split_key(inner[:end])
            if header == target:
                return number
            continue
        equals = _unquoted_index(line, "=")
        if equals is None:
            continue
        path = (*header, *_split_key(line[:equals]))
        if path == target:
            return number
        if path and len(path) < len(target) and target[: len(path)] == path:
            # an inline table holding the key: `db = { host = "h", port = 1 }`
            inner_key = re.escape(_key(target[len(path)]))
            if re.search(rf"[{{,]\s*{inner_key}\s*=", line[equals + 1 :]):
                return number
    return None


def _unquoted_index(text: str, char: str) -> int | None:
    quote = ""
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == char:
            return i
    return None


def _split_key(text: str) -> tuple[str, ...]:
    parts: list[str] = []
    current = ""
    quote = ""
    for c in text:
        if quote:
            if c == quote:
                quote = ""
            else:
                current += c
        elif c in "\"'":
            quote = c
        elif c == ".":
            parts.append(current.strip())
            current = ""
        else:
            current += c
    parts.append(current.strip())
    return tuple(parts)


def _url_passwords(text: str) -> Iterator[str]:
    if "://" not in text or "@" not in text:
        return
    try:
        password = urlsplit(text).password
    except ValueError:
        return
    if password:
        yield password
        yield unquote(password)


def _freeze(scopes: Mapping[str, Mapping[str, SecretValue]]) -> dict[str, dict[str, SecretValue]]:
    """Private copies of the scopes (plain dicts, so the objects stay picklable); lookups hand out copies."""
    return {
        scope: {key: value if isinstance(value, str) else dict(value) for key, value in secrets.items()}
        for scope, secrets in scopes.items()
    }


# --- age decryption ---------------------------------------------------------------------------------------

_KEY_HINT = (
    "set PIT_AGE_KEY to the AGE-SECRET-KEY-... text, set PIT_AGE_KEY_FILE to a key file, set age_identity "
    "in pit_config.toml, or create ~/.config/pit/age-key.txt"
)


def _decrypt(path: Path, ciphertext: bytes, age_identity: str | None) -> bytes:
    try:
        import pyrage
        from pyrage import x25519
    except ImportError:
        raise SecretsError(
            f"secrets file {path} is age-encrypted but age support is not installed: add the 'pyrage' package",
            path=path,
        ) from None
    source, key_text = _identity_text(path, age_identity)
    identities = []
    for line in key_text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(x25519.Identity.from_str(line))
        except Exception:
            raise SecretsError(
                f"cannot decrypt secrets file {path}: the age identity from {source} is not a valid X25519 "
                "identity (expected a line starting with AGE-SECRET-KEY-); " + _KEY_HINT,
                path=path,
            ) from None
    if not identities:
        raise SecretsError(
            f"cannot decrypt secrets file {path}: {source} holds no age identity; " + _KEY_HINT, path=path
        )
    try:
        return pyrage.decrypt(ciphertext, identities)
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        raise SecretsError(
            f"cannot decrypt secrets file {path} with the age identity from {source} ({reason}): provide the key "
            "the file was encrypted for; " + _KEY_HINT,
            path=path,
        ) from None


def _identity_text(path: Path, age_identity: str | None) -> tuple[str, str]:
    """(where the identity came from, its text), following pit's lookup order."""
    raw = os.environ.get("PIT_AGE_KEY", "")
    if raw.strip():
        return "PIT_AGE_KEY", raw
    env_file = os.environ.get("PIT_AGE_KEY_FILE", "")
    if env_file:
        return _read_key_file(path, Path(env_file).expanduser(), f"PIT_AGE_KEY_FILE ({env_file})")
    if age_identity:
        return _read_key_file(path, Path(age_identity).expanduser(), f"age_identity ({age_identity})")
    default = _default_identity_path()
    if default.is_file():
        return _read_key_file(path, default, str(default))
    raise SecretsError(f"secrets file {path} is age-encrypted but no age identity was found: " + _KEY_HINT, path=path)


def _read_key_file(path: Path, key_file: Path, source: str) -> tuple[str, str]:
    try:
        return source, key_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise SecretsError(
            f"cannot decrypt secrets file {path}: cannot read the age key file of {source}: {reason}; " + _KEY_HINT,
            path=path,
        ) from None


def _default_identity_path() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(config) if config and Path(config).is_absolute() else Path.home() / ".config"
    return base / "pit" / "age-key.txt"
