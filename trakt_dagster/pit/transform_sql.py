"""The SQL of pit's transform engine: `{{ ref "x" }}` / `{{ this }}`, ephemeral models as CTEs, and the MSSQL
statements each materialization compiles to (view, table, incremental merge or delete+insert), plus the
optional stored procedure that runs every model in order.

The text produced is the text pit produces, character for character: the same substitutions (a regular
expression, not a template engine, so `{{` inside SQL literals is left alone), the same statement layout and
blank lines, the same CTE lifting. Only MSSQL exists, as in pit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from trakt_dagster.pit.gofmt import go_trim_space

__all__ = [
    "MATERIALIZATIONS",
    "ModelSql",
    "extract_refs",
    "materialize",
    "qualified_name",
    "render_model",
    "split_cte_prefix",
    "stored_procedure",
]

_SPACE = "[\t\n\f\r ]"  # RE2's \s (Go): no vertical tab, no Unicode spaces
REF = re.compile(r"\{\{-?" + _SPACE + r"*ref" + _SPACE + r"+(?:\"([^\"]+)\"|'([^']+)')" + _SPACE + r"*-?\}\}")
THIS = re.compile(r"\{\{-?" + _SPACE + r"*this" + _SPACE + r"*-?\}\}")
_EXPAND = re.compile(r"\$(\$|\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]+))")
MATERIALIZATIONS = ("view", "table", "incremental", "ephemeral")
STRATEGIES = ("merge", "delete_insert")
EPHEMERAL_PREFIX = "__pit_ephemeral_"


def qualified_name(schema: str, name: str) -> str:
    """`[schema].[name]`, as pit writes a model's relation (no escaping).

    Example:
        >>> qualified_name("staging", "stg_orders")
        '[staging].[stg_orders]'
    """
    return f"[{schema}].[{name}]"


def extract_refs(sql: str) -> list[str]:
    """Names referenced with `{{ ref "name" }}` / `{{ ref 'name' }}`, unique, in order of first appearance.

    Example:
        >>> extract_refs("select * from {{ ref 'a' }} join {{- ref \\"b\\" -}} using (id) join {{ ref 'a' }}")
        ['a', 'b']
    """
    seen: dict[str, None] = {}
    for match in REF.finditer(sql):
        seen.setdefault(match.group(1) or match.group(2), None)
    return list(seen)


def _expand_this(value: str) -> str:
    """The replacement text Go's `Regexp.ReplaceAllString` makes of `value` (`$` starts a group reference;
    `{{ this }}` has no groups, so every reference but `$0` is empty and `$$` is one `$`)."""

    def expand(match: re.Match[str]) -> str:
        if match.group(1) == "$":
            return "$"
        name = match.group(2) if match.group(2) is not None else match.group(3)
        return "{{ this }}" if name == "0" else ""

    return _EXPAND.sub(expand, value) if "$" in value else value


def _render(sql: str, resolve: Callable[[str], str], this: str) -> str:
    rendered = REF.sub(lambda m: resolve(m.group(1) or m.group(2)), sql)
    this_text = _expand_this(this)
    if "{{ this }}" in this_text:  # `$0`: the matched text itself, per match
        return THIS.sub(lambda m: this_text.replace("{{ this }}", m.group(0)), rendered)
    return THIS.sub(lambda m: this_text, rendered)


@dataclass(frozen=True)
class ModelSql:
    """What the renderer needs to know of a model: its SQL text, schema and materialization."""

    sql: str
    schema: str
    materialization: str


def render_model(name: str, models: Mapping[str, ModelSql]) -> str:
    """The model's SQL with refs and `this` resolved; ephemeral refs become CTEs (`__pit_ephemeral_<name>`)
    prepended as one `WITH` block, transitive ones first.

    Example:
        >>> models = {"base": ModelSql("select 1 as id", "", "ephemeral"),
        ...           "fct": ModelSql("select * from {{ ref 'base' }}", "dbo", "table")}
        >>> print(render_model("fct", models))
        WITH __pit_ephemeral_base AS (
        select 1 as id
        )
        select * from __pit_ephemeral_base
    """

    def resolve(ref: str) -> str:
        model = models[ref]
        if model.materialization == "ephemeral":
            return EPHEMERAL_PREFIX + ref
        return qualified_name(model.schema, ref)

    order: list[str] = []
    _collect_ephemerals(models[name].sql, models, set(), order)
    ctes = [
        f"{EPHEMERAL_PREFIX}{cte} AS (\n{_render(models[cte].sql, resolve, qualified_name(models[cte].schema, cte))}\n)"
        for cte in order
    ]
    rendered = _render(models[name].sql, resolve, qualified_name(models[name].schema, name))
    if ctes:
        rendered = "WITH " + ",\n".join(ctes) + "\n" + rendered
    return rendered


def _collect_ephemerals(sql: str, models: Mapping[str, ModelSql], seen: set[str], order: list[str]) -> None:
    for ref in extract_refs(sql):
        model = models.get(ref)
        if model is None or model.materialization != "ephemeral" or ref in seen:
            continue
        seen.add(ref)
        _collect_ephemerals(model.sql, models, seen, order)
        order.append(ref)


def split_cte_prefix(sql: str) -> tuple[str, str]:
    """(the leading `WITH ...` block, the statement after it) of a model's SQL, both trimmed; ("", sql) when
    it does not start with `WITH`. Parentheses, string literals and comments are followed, as pit does.

    Example:
        >>> split_cte_prefix("WITH a AS (select 1), b AS (select (2)) select * from a")
        ('WITH a AS (select 1), b AS (select (2))', 'select * from a')
    """
    text = go_trim_space(sql)
    head = text.encode("utf-8", errors="surrogateescape")[:5].upper()
    if len(head) < 5 or head not in (b"WITH ", b"WITH\t", b"WITH\n", b"WITH\r"):
        return "", text
    depth = 0
    i = 0
    while i < len(text):
        char = text[i]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                j = i + 1
                while j < len(text) and text[j] in " \t\n\r":
                    j += 1
                if j >= len(text) or text[j] != ",":
                    return go_trim_space(text[: i + 1]), go_trim_space(text[j:])
        elif char == "'":
            i += 1
            while i < len(text):
                if text[i] == "'":
                    if i + 1 < len(text) and text[i + 1] == "'":
                        i += 1
                    else:
                        break
                i += 1
        elif char == "-" and text[i + 1 : i + 2] == "-":
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif char == "/" and text[i + 1 : i + 2] == "*":
            i += 2
            while i + 1 < len(text):
                if text[i] == "*" and text[i + 1] == "/":
                    i += 2
                    break
                i += 1
            continue
        i += 1
    return "", text


def materialize(
    materialization: str,
    *,
    this: str,
    sql: str,
    unique_key: Sequence[str] = (),
    columns: Sequence[str] = (),
    strategy: str = "",
) -> str:
    """The MSSQL statement(s) of one model, laid out exactly as pit's templates lay them out.

    Example:
        >>> print(materialize("view", this="[dbo].[v]", sql="select 1 as x\\n"), end="")
        CREATE OR ALTER VIEW [dbo].[v] AS
        select 1 as x
    """
    cte, select = split_cte_prefix(sql)
    if materialization == "view":
        return f"CREATE OR ALTER VIEW {this} AS\n{sql}"
    if materialization == "table":
        body = f"{cte}\nSELECT *\nINTO {this}\nFROM (\n{select}\n" if cte else f"SELECT *\nINTO {this}\nFROM (\n{sql}\n"
        return (
            f"BEGIN TRANSACTION;\n\nIF OBJECT_ID('{this}', 'U') IS NOT NULL\n    DROP TABLE {this};\n"
            f"\n{body}) AS __pit_model;\n\nCOMMIT TRANSACTION;\n"
        )
    if materialization != "incremental":
        raise ValueError(f"unknown materialization {materialization!r}: use one of {', '.join(MATERIALIZATIONS)}")
    strategy = strategy or "merge"
    lifted = f"\n{cte}\n" if cte else ""
    if strategy == "merge":
        keys = set(unique_key)
        on = " AND ".join(f"target.[{k}] = source.[{k}]" for k in unique_key)
        update = ", ".join(f"target.[{c}] = source.[{c}]" for c in columns if c not in keys)
        insert = ", ".join(f"[{c}]" for c in columns)
        values = ", ".join(f"source.[{c}]" for c in columns)
        return (
            f"BEGIN TRANSACTION;\n{lifted}\nMERGE {this} AS target\nUSING (\n{select}\n) AS source\nON {on}\n"
            f"WHEN MATCHED THEN\n    UPDATE SET {update}\nWHEN NOT MATCHED THEN\n    INSERT ({insert})\n"
            f"    VALUES ({values});\n\nCOMMIT TRANSACTION;\n"
        )
    if strategy == "delete_insert":
        match = " AND ".join(f"{this}.[{k}] = __pit_source.[{k}]" for k in unique_key)
        return (
            f"BEGIN TRANSACTION;\n{lifted}\nDELETE FROM {this}\nWHERE EXISTS (\n    SELECT 1 FROM (\n{select}\n"
            f"    ) AS __pit_source\n    WHERE {match}\n);\n{lifted}\nINSERT INTO {this}\n{select};\n\n"
            "COMMIT TRANSACTION;\n"
        )
    raise ValueError(f"unknown incremental strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")


def stored_procedure(name: str, schema: str, order: Sequence[str], compiled: Mapping[str, tuple[str, str]]) -> str:
    """`pit compile --stored-procedure`: one MSSQL procedure running every compiled model in `order`.

    `compiled` maps a model to (materialization, compiled SQL); models not in it (ephemeral) are left out but
    keep their place in the numbering, as in pit.

    Example:
        >>> view = ("view", "CREATE OR ALTER VIEW [dbo].[v] AS\\nselect 1")
        >>> print(stored_procedure("pit_d", "dbo", ["v"], {"v": view}))
        CREATE OR ALTER PROCEDURE [dbo].[pit_d]
        AS
        BEGIN
            SET NOCOUNT ON;
            SET XACT_ABORT ON;
        <BLANKLINE>
            BEGIN TRY
                -- [1] v (view)
                CREATE OR ALTER VIEW [dbo].[v] AS
                select 1
        <BLANKLINE>
            END TRY
            BEGIN CATCH
                THROW;
            END CATCH
        END
        <BLANKLINE>
    """
    if not compiled:
        raise ValueError("no compiled models to include in stored procedure")
    parts = [
        f"CREATE OR ALTER PROCEDURE [{schema}].[{name}]\nAS\nBEGIN\n    SET NOCOUNT ON;\n    SET XACT_ABORT ON;\n\n"
    ]
    parts.append("    BEGIN TRY\n")
    for index, model in enumerate(order):
        if model not in compiled:
            continue
        materialization, sql = compiled[model]
        if index > 0:
            parts.append("\n")
        parts.append(f"        -- [{index + 1}] {model} ({materialization})\n")
        for line in sql.rstrip("\n").split("\n"):
            parts.append(f"        {line}\n" if line else "\n")
    parts.append("\n    END TRY\n    BEGIN CATCH\n        THROW;\n    END CATCH\nEND\n")
    return "".join(parts)
