"""pit's secrets file (§2.6, K14, N12, N16): validation, scoping, structured JSON, age decryption, audit."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pyrage
import pytest
from pyrage import x25519

from trakt_dagster.pit.secrets import (
    AuditRecord,
    SecretNotFoundError,
    SecretsError,
    SecretsFile,
    go_json,
    load_secrets,
)

PASSWORD = "pa55-Wq9!zz"
TOKEN = "tok-7781-abcXYZ"

SECRETS_TOML = f"""
[global]
api_token = "{TOKEN}"
warehouse = "postgresql://loader:{PASSWORD}@db.internal:5432/wh"

[global.db]
host = "global-host"
user = "global-user"
password = "{PASSWORD}"

[sales]
api_token = "sales-token-1"

[sales.db]
host = "h"

[sales.ftp]
host = "ftp.example.test"
user = "ftpuser"
password = "ftp-pass-551"
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def secrets_file(tmp_path_factory: pytest.TempPathFactory) -> SecretsFile:
    return load_secrets(write(tmp_path_factory.mktemp("secrets") / "secrets.toml", SECRETS_TOML))


def load_error(tmp_path: Path, text: str, name: str = "secrets.toml") -> SecretsError:
    path = write(tmp_path / name, text)
    with pytest.raises(SecretsError) as info:
        load_secrets(path)
    return info.value


# --- validation (§6 row 25) ---------------------------------------------------------------------------------


def test_integer_value_fails_naming_file_line_and_key_without_the_value(tmp_path: Path) -> None:
    err = load_error(tmp_path, '[global]\ntoken = "abc-secret-x"\ndb_port = 1433\n')
    message = str(err)
    assert "secrets.toml" in message
    assert "line 3" in message and err.line == 3
    # pit's notation and words for the offending key
    assert 'key "global"."db_port" must be a string or table' in message and err.key == '"global"."db_port"'

    assert "1433" not in message
    assert "abc-secret-x" not in message


def test_integer_field_of_a_structured_secret_fails_with_its_key_path(tmp_path: Path) -> None:
    err = load_error(tmp_path, f'[global.db]\nhost = "h"\npassword = "{PASSWORD}"\nport = 1433\n')
    assert 'field "global"."db"."port" must be a string' in str(err)
    assert err.line == 4
    assert "1433" not in str(err) and PASSWORD not in str(err)


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ('[global]\ndb = { host = "h", port = 1433 }\n', 'field "global"."db"."port"', 2),
        ("[global]\ndb.port = 1433\n", 'field "global"."db"."port"', 2),
        ("[sales]\nenabled = true\n", 'key "sales"."enabled"', 2),
        ('[sales]\nhosts = ["a-host-value", "b"]\n', 'key "sales"."hosts"', 2),
        ('[global.db.nested]\nx = "deep-value"\n', 'field "global"."db"."nested"', 1),
        ("[global]\nratio = 0.5\n", 'key "global"."ratio"', 2),
    ],
)
def test_every_non_string_value_is_rejected(tmp_path: Path, text: str, key: str, line: int) -> None:
    err = load_error(tmp_path, text)
    assert key in str(err) and "must be a string" in str(err)
    assert err.line == line
    for value in ("1433", "a-host-value", "deep-value", "0.5", "true"):
        assert value not in str(err)


def test_top_level_value_is_not_a_scope(tmp_path: Path) -> None:
    err = load_error(tmp_path, 'stray = "top-level-value"\n[global]\nx = "y"\n')
    assert 'section "stray" is not a table' in str(err) and err.line == 1
    assert "top-level-value" not in str(err)


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    err = load_error(tmp_path, '[global]\nok = "fine"\nbroken = = "x"\n')
    assert "secrets.toml" in str(err) and "line 3" in str(err) and err.line == 3
    assert "invalid TOML" in str(err)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SecretsError, match="does not exist"):
        load_secrets(tmp_path / "nope.toml")


# --- scoping and resolution (§6 row 26) ---------------------------------------------------------------------


def test_project_scope_first_then_global(secrets_file: SecretsFile) -> None:
    sales = secrets_file.for_project("sales")
    assert sales.resolve("api_token") == "sales-token-1"
    assert sales.resolve("warehouse") == f"postgresql://loader:{PASSWORD}@db.internal:5432/wh"
    other = secrets_file.for_project("finance")
    assert other.resolve("api_token") == TOKEN


def test_project_secret_shadows_global_whole_without_field_fallback(secrets_file: SecretsFile) -> None:
    sales = secrets_file.for_project("sales")
    assert sales.resolve("db") == '{"host":"h"}'
    assert sales.field("db", "host") == "h"
    with pytest.raises(SecretNotFoundError) as info:
        sales.field("db", "user")
    message = str(info.value)
    assert message == 'field "user" not found in secret "db" for project "sales"'
    assert "[sales]" in (info.value.hint or "") and "global-user" not in (info.value.hint or "")
    # another project still sees the global secret with all its fields
    assert secrets_file.for_project("finance").field("db", "user") == "global-user"


def test_structured_secret_is_compact_sorted_json(secrets_file: SecretsFile) -> None:
    text = secrets_file.for_project("finance").resolve("db")
    assert text == f'{{"host":"global-host","password":"{PASSWORD}","user":"global-user"}}'
    assert json.loads(text) == {"host": "global-host", "user": "global-user", "password": PASSWORD}


def test_structured_json_escapes_like_go(tmp_path: Path) -> None:
    text = '[global.odd]\nz = "<a & b>"\na = "caf\u00e9 \\" \\\\ \\n \\t \\u2028"\nm = "\\u0001"\n'
    secrets = load_secrets(write(tmp_path / "s.toml", text)).for_project("p")
    expected = '{"a":"caf\u00e9 \\" \\\\ \\n \\t \\u2028","m":"\\u0001","z":"\\u003ca \\u0026 b\\u003e"}'
    assert secrets.resolve("odd") == expected
    assert go_json({"b": "2", "a": "1"}) == '{"a":"1","b":"2"}'
    assert go_json([]) == "[]"


def test_empty_structured_secret_resolves_to_empty_object(tmp_path: Path) -> None:
    secrets = load_secrets(write(tmp_path / "s.toml", "[global.empty]\n")).for_project("p")
    assert secrets.resolve("empty") == "{}"
    assert secrets.structured("empty") == {}


def test_missing_secret_names_key_and_scopes(secrets_file: SecretsFile) -> None:
    with pytest.raises(SecretNotFoundError) as info:
        secrets_file.for_project("sales").resolve("nope")
    assert str(info.value) == 'secret "nope" not found for project "sales"'
    assert info.value.hint == "searched [sales], [global]"
    assert isinstance(info.value, SecretsError)


def test_field_of_plain_secret_is_an_error_without_the_value(secrets_file: SecretsFile) -> None:
    with pytest.raises(SecretsError) as info:
        secrets_file.for_project("finance").field("api_token", "x")
    assert "plain value" in str(info.value) and TOKEN not in str(info.value)
    with pytest.raises(SecretsError) as info:
        secrets_file.for_project("finance").structured("warehouse")
    assert "plain value" in str(info.value) and PASSWORD not in str(info.value)


def test_structured_has_and_keys(secrets_file: SecretsFile) -> None:
    sales = secrets_file.for_project("sales")
    ftp = sales.structured("ftp")
    assert ftp == {"host": "ftp.example.test", "user": "ftpuser", "password": "ftp-pass-551"}
    ftp["host"] = "changed"  # a copy: the loaded secrets stay unchanged
    assert sales.field("ftp", "host") == "ftp.example.test"
    assert sales.has("ftp") and sales.has("api_token") and not sales.has("nope")
    assert sales.keys() == ["api_token", "db", "ftp", "warehouse"]


def test_values_lists_everything_a_task_can_obtain(secrets_file: SecretsFile) -> None:
    values = secrets_file.for_project("sales").values()
    assert "sales-token-1" in values
    assert "h" in values and '{"host":"h"}' in values
    assert "ftp-pass-551" in values and "ftpuser" in values
    assert f"postgresql://loader:{PASSWORD}@db.internal:5432/wh" in values
    assert PASSWORD in values  # the password inside the connection URL
    # shadowed secrets cannot be obtained by this project
    assert TOKEN not in values and "global-user" not in values
    assert "" not in values


def test_reprs_show_names_only(secrets_file: SecretsFile) -> None:
    texts = [repr(secrets_file), repr(secrets_file.for_project("sales")), str(secrets_file.for_project("finance"))]
    for text in texts:
        for value in (PASSWORD, TOKEN, "sales-token-1", "ftp-pass-551", "global-user"):
            assert value not in text
    assert "api_token" in texts[0] and "ftp" in texts[1]


def test_loaded_secrets_survive_pickling(secrets_file: SecretsFile) -> None:
    import pickle

    copy = pickle.loads(pickle.dumps(secrets_file.for_project("sales", task="t")))
    assert copy.resolve("db") == '{"host":"h"}' and copy.task == "t"


def test_dag_named_global_searches_one_scope(secrets_file: SecretsFile) -> None:
    secrets = secrets_file.for_project("global")
    assert secrets.searched == ("global",)
    with pytest.raises(SecretNotFoundError, match='^secret ".*" not found for project "global"$'):
        secrets.resolve("nope")


# --- audit (N16) ----------------------------------------------------------------------------------------------


def test_every_lookup_is_audited_with_the_task_name(secrets_file: SecretsFile) -> None:
    records: list[AuditRecord] = []
    sales = secrets_file.for_project("sales", on_access=records.append, task="extract")
    sales.resolve("api_token")
    sales.field("ftp", "user")
    with pytest.raises(SecretNotFoundError):
        sales.resolve("nope")
    with pytest.raises(SecretNotFoundError):
        sales.field("db", "user")
    sales.with_task("load").structured("ftp")
    sales.resolve("db", task="other")
    got = [(r.key, r.field, r.task, r.found) for r in records]
    assert got == [
        ("api_token", None, "extract", True),
        ("ftp", "user", "extract", True),
        ("nope", None, "extract", False),
        ("db", "user", "extract", False),
        ("ftp", None, "load", True),
        ("db", None, "other", True),
    ]
    assert all(r.at > 0 for r in records)
    sales.has("api_token")
    sales.values()
    assert len(records) == 6  # existence checks and masking lists read no secret for a task


def test_with_audit_attaches_a_callback(secrets_file: SecretsFile) -> None:
    records: list[AuditRecord] = []
    secrets = secrets_file.for_project("sales").with_audit(records.append).with_task("t1")
    secrets.resolve("db")
    assert [(r.key, r.task) for r in records] == [("db", "t1")]


# --- age-encrypted files (§6 row 42, N12) --------------------------------------------------------------------


@pytest.fixture(scope="module")
def identity() -> x25519.Identity:
    return x25519.Identity.generate()


@pytest.fixture
def no_age_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No key in the environment and an empty home, so the default key file does not exist."""
    monkeypatch.delenv("PIT_AGE_KEY", raising=False)
    monkeypatch.delenv("PIT_AGE_KEY_FILE", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def encrypted(tmp_path: Path, identity: x25519.Identity) -> Path:
    path = tmp_path / "secrets.toml.age"
    path.write_bytes(pyrage.encrypt(textwrap.dedent(SECRETS_TOML).encode(), [identity.to_public()]))
    return path


def key_file(path: Path, identity: x25519.Identity) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# created: today\n# public key: {identity.to_public()}\n{identity}\n")
    return path


def assert_no_secret_text(message: str, identity: x25519.Identity) -> None:
    for value in (str(identity), PASSWORD, TOKEN, "sales-token-1"):
        assert value not in message


def test_age_file_readable_with_pit_age_key(
    encrypted: Path, identity: x25519.Identity, no_age_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIT_AGE_KEY", str(identity))
    secrets = load_secrets(encrypted).for_project("sales")
    assert secrets.resolve("db") == '{"host":"h"}'
    assert secrets.resolve("warehouse").endswith("@db.internal:5432/wh")


def test_age_file_without_any_key_is_a_clear_error(
    encrypted: Path, identity: x25519.Identity, no_age_env: Path
) -> None:
    with pytest.raises(SecretsError) as info:
        load_secrets(encrypted)
    message = str(info.value)
    assert "secrets.toml.age" in message
    assert "no age identity" in message and "PIT_AGE_KEY" in message and "age-key.txt" in message
    assert_no_secret_text(message, identity)


def test_age_file_with_the_wrong_key_is_a_clear_error(
    encrypted: Path, identity: x25519.Identity, no_age_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = x25519.Identity.generate()
    monkeypatch.setenv("PIT_AGE_KEY", str(wrong))
    with pytest.raises(SecretsError) as info:
        load_secrets(encrypted)
    message = str(info.value)
    assert "cannot decrypt" in message and "secrets.toml.age" in message and "PIT_AGE_KEY" in message
    assert_no_secret_text(message, identity)
    assert str(wrong) not in message


def test_invalid_key_text_is_a_clear_error(
    encrypted: Path, identity: x25519.Identity, no_age_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIT_AGE_KEY", "AGE-SECRET-KEY-NOT-REALLY-A-KEY")
    with pytest.raises(SecretsError) as info:
        load_secrets(encrypted)
    assert "not a valid X25519 identity" in str(info.value)
    assert "NOT-REALLY" not in str(info.value)


def test_identity_lookup_order(
    encrypted: Path, identity: x25519.Identity, no_age_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = key_file(tmp_path / "keys" / "good.txt", identity)
    bad = key_file(tmp_path / "keys" / "bad.txt", x25519.Identity.generate())

    # the default file in the home folder
    key_file(no_age_env / ".config" / "pit" / "age-key.txt", identity)
    assert load_secrets(encrypted).for_project("sales").has("ftp")

    # the age_identity argument comes before the default file
    with pytest.raises(SecretsError, match=r"age_identity \("):
        load_secrets(encrypted, age_identity=str(bad))
    assert load_secrets(encrypted, age_identity=str(good)).for_project("p").has("db")

    # PIT_AGE_KEY_FILE comes before age_identity
    monkeypatch.setenv("PIT_AGE_KEY_FILE", str(good))
    assert load_secrets(encrypted, age_identity=str(bad)).for_project("p").has("db")
    monkeypatch.setenv("PIT_AGE_KEY_FILE", str(tmp_path / "missing.txt"))
    with pytest.raises(SecretsError, match="PIT_AGE_KEY_FILE"):
        load_secrets(encrypted, age_identity=str(good))

    # PIT_AGE_KEY comes first of all
    monkeypatch.setenv("PIT_AGE_KEY_FILE", str(bad))
    monkeypatch.setenv("PIT_AGE_KEY", str(identity))
    assert load_secrets(encrypted, age_identity=str(bad)).for_project("p").has("db")


def test_age_plaintext_is_validated_like_a_plain_file(
    tmp_path: Path, identity: x25519.Identity, no_age_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bad.toml.age"
    path.write_bytes(pyrage.encrypt(b'[global]\nkeep = "k-value-1"\nport = 5432\n', [identity.to_public()]))
    monkeypatch.setenv("PIT_AGE_KEY", str(identity))
    with pytest.raises(SecretsError) as info:
        load_secrets(path)
    assert '"global"."port"' in str(info.value) and "line 3" in str(info.value)
    assert "5432" not in str(info.value) and "k-value-1" not in str(info.value)
