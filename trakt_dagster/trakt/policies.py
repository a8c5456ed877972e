"""trakt's policy helpers (join, dedupe, rename) and the quality gate rules (spec §2.17).

Step code uses them as `from trakt import JoinPolicy, apply_join_policy, ...`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trakt_dagster.core.errors import excerpt

QUALITY_CHECK_EVENT = "quality_gate.check"
"""Event a gate emits per evaluated rule; trakt-dagster turns it into a Dagster asset check result."""

GATE_RULES = ("required_columns", "unique_keys", "row_count", "max_null_ratio")


def _emit(ctx: Any, name: str, **attrs: Any) -> None:
    emit = getattr(ctx, "emit_event", None)
    if callable(emit):
        emit(name, **attrs)


# -- join -------------------------------------------------------------------------------------------
@dataclass
class JoinPolicy:
    """How to join two frames: keys, join type, column collisions and unmatched rows.

    Example:
        >>> import pandas as pd
        >>> left = pd.DataFrame({"id": [1, 2]}); right = pd.DataFrame({"id": [1], "v": ["a"]})
        >>> apply_join_policy(left, right, JoinPolicy(keys=["id"], unmatched="drop"))["v"].tolist()
        ['a']
    """

    keys: list[str]
    how: str = "left"
    collision: str = "suffix"
    suffixes: tuple[str, str] = ("_left", "_right")
    unmatched: str = "allow"


def apply_join_policy(left: Any, right: Any, policy: JoinPolicy, *, ctx: Any = None) -> Any:
    """Join `left` and `right` by `policy` (unmatched = left-only rows)."""
    if not hasattr(left, "merge") or not hasattr(right, "merge"):
        raise TypeError("Join policy helpers require pandas DataFrame-like inputs.")
    if not policy.keys:
        raise ValueError("Join policy requires at least one key column.")
    _one_of("join type", policy.how, ("left", "right", "inner", "outer"))
    _one_of("collision policy", policy.collision, ("suffix", "none"))
    _one_of("unmatched policy", policy.unmatched, ("allow", "warn", "drop", "fail"))
    missing_left = sorted(set(policy.keys) - set(left.columns))
    missing_right = sorted(set(policy.keys) - set(right.columns))
    if missing_left or missing_right:
        raise ValueError(f"Join keys missing from input frames: left={missing_left}, right={missing_right}.")
    suffixes = tuple(policy.suffixes) if policy.collision == "suffix" else ("", "")
    merged = left.merge(right, on=list(policy.keys), how=policy.how, suffixes=suffixes, indicator=True)
    unmatched = int((merged["_merge"] == "left_only").sum())
    if policy.unmatched == "warn" and unmatched:
        _emit(ctx, "warning.join_unmatched", unmatched_count=unmatched, keys=list(policy.keys))
    elif policy.unmatched == "drop":
        merged = merged[merged["_merge"] == "both"]
    elif policy.unmatched == "fail" and unmatched:
        raise ValueError(f"Join policy failed due to {unmatched} unmatched rows.")
    return merged.drop(columns="_merge").reset_index(drop=True)


# -- dedupe -----------------------------------------------------------------------------------------
@dataclass
class DedupePolicy:
    """Which row wins among rows with the same keys.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"id": [1, 1], "ts": [1, 2]})
        >>> apply_dedupe_policy(df, DedupePolicy(keys=["id"], winner="latest", order_by="ts"))["ts"].tolist()
        [2]
    """

    keys: list[str]
    winner: str = "latest"
    order_by: str | None = None


_ORDERED_WINNERS = {"latest": False, "max": False, "earliest": True, "min": True}


def apply_dedupe_policy(data: Any, policy: DedupePolicy) -> Any:
    """Keep one row per key combination by `policy.winner`; the index is reset."""
    if not policy.keys:
        raise ValueError("Dedupe policy requires at least one key column.")
    _one_of("dedupe winner policy", policy.winner, (*_ORDERED_WINNERS, "first", "last", "non_null"))
    missing = sorted(set(policy.keys) - set(data.columns))
    if missing:
        raise ValueError(f"Dedupe keys missing from dataframe: {missing}.")
    keys = list(policy.keys)
    if policy.winner in _ORDERED_WINNERS:
        if policy.order_by is None:
            raise ValueError(f"Dedupe winner '{policy.winner}' requires 'order_by'.")
        if policy.order_by not in data.columns:
            raise ValueError(f"Dedupe order_by column is missing: {policy.order_by}.")
        ordered = data.sort_values(policy.order_by, ascending=_ORDERED_WINNERS[policy.winner], kind="stable")
        return ordered.drop_duplicates(subset=keys, keep="first").reset_index(drop=True)
    if policy.winner in ("first", "last"):
        return data.drop_duplicates(subset=keys, keep=policy.winner).reset_index(drop=True)
    filled = data.notna().sum(axis=1)
    ordered = data.assign(__filled=filled).sort_values("__filled", ascending=False)
    return ordered.drop_duplicates(subset=keys, keep="first").drop(columns="__filled").reset_index(drop=True)


# -- rename -----------------------------------------------------------------------------------------
@dataclass
class RenamePolicy:
    """Column renames with required and optional source columns.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"a": [1]})
        >>> list(apply_rename_policy(df, RenamePolicy({"a": "x", "b": "y"}, required=["a"])).columns)
        ['x']
    """

    mapping: dict[str, str]
    required: list[str] = field(default_factory=list)
    optional: list[str] = field(default_factory=list)
    warn_on_missing_optional: bool = True


def apply_rename_policy(data: Any, policy: RenamePolicy, *, ctx: Any = None) -> Any:
    """Rename the columns that exist; missing required columns fail, missing optional ones warn."""
    missing = sorted(set(policy.required) - set(data.columns))
    if missing:
        raise ValueError(f"Missing required columns for rename: {missing}.")
    optional_missing = sorted(set(policy.optional) - set(data.columns))
    if optional_missing and policy.warn_on_missing_optional:
        _emit(ctx, "warning.rename_optional_missing", columns=optional_missing)
    renamed = data.rename(columns={old: new for old, new in policy.mapping.items() if old in data.columns})
    duplicated = sorted({c for c in renamed.columns if list(renamed.columns).count(c) > 1})
    if duplicated:
        raise ValueError(f"Rename produced duplicate target columns: {duplicated}.")
    return renamed


# -- quality gate -----------------------------------------------------------------------------------
@dataclass
class QualityGatePolicy:
    """The rules of the built-in quality gate (`uses: trakt.steps.quality_gate`).

    Example:
        >>> QualityGatePolicy.from_value({"mode": "warn", "unique_keys": ["id"]}).mode
        'warn'
    """

    mode: str = "fail"
    required_columns: list[str] = field(default_factory=list)
    unique_keys: list[list[str]] = field(default_factory=list)
    row_count: dict[str, int] = field(default_factory=dict)
    max_null_ratio: dict[str, float] = field(default_factory=dict)
    gate_modes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_value(cls, value: QualityGatePolicy | Mapping[str, Any]) -> QualityGatePolicy:
        """Parse and check a policy mapping (unknown keys are ignored, as in trakt)."""
        if isinstance(value, QualityGatePolicy):
            value = value.__dict__
        if not isinstance(value, Mapping):
            raise ValueError(f"Quality gate policy must be a mapping, got {type(value).__name__}.")
        mode = _mode(value.get("mode", "fail"), "mode")
        required = _names(value.get("required_columns") or [], "required_columns")
        keys = value.get("unique_keys") or []
        if isinstance(keys, str) or not isinstance(keys, Sequence):
            raise ValueError("Quality gate unique_keys must be a list of column names (or of lists of them).")
        unique = [[k] if isinstance(k, str) else _names(k, "unique_keys") for k in keys]
        rows = dict(_mapping(value.get("row_count"), "row_count"))
        for bound in ("min", "max"):
            if bound in rows and (isinstance(rows[bound], bool) or not isinstance(rows[bound], int)):
                raise ValueError(f"Quality gate row_count.{bound} must be an integer.")
        if rows.get("min", 0) < 0 or ("max" in rows and rows["max"] < rows.get("min", 0)):
            raise ValueError("Quality gate row_count needs 0 <= min <= max.")
        ratios = {str(k): v for k, v in _mapping(value.get("max_null_ratio"), "max_null_ratio").items()}
        for column, ratio in ratios.items():
            if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
                raise ValueError(f"Quality gate max_null_ratio for '{column}' must be a number between 0 and 1.")
        gate_modes = {
            str(k): _mode(v, f"gate_modes.{k}") for k, v in _mapping(value.get("gate_modes"), "gate_modes").items()
        }
        unknown = sorted(set(gate_modes) - set(GATE_RULES))
        if unknown:
            raise ValueError(f"Quality gate gate_modes names unknown gates: {unknown} (known: {list(GATE_RULES)}).")
        return cls(mode, required, unique, rows, ratios, gate_modes)

    def mode_of(self, rule: str) -> str:
        return self.gate_modes.get(rule, self.mode)

    def rules(self) -> list[str]:
        """The rules this policy checks, in evaluation order."""
        present = {
            "required_columns": bool(self.required_columns),
            "unique_keys": bool(self.unique_keys),
            "row_count": bool(self.row_count),
            "max_null_ratio": bool(self.max_null_ratio),
        }
        return [rule for rule in GATE_RULES if present[rule]]


def _mode(value: Any, label: str) -> str:
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in ("warn", "fail"):
        raise ValueError(f"Quality gate {label} must be 'warn' or 'fail', got {excerpt(value)}.")
    return text


def _mapping(value: Any, label: str) -> Mapping[str, Any]:
    if value is None or value == {}:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"Quality gate {label} must be a mapping, got {type(value).__name__} {excerpt(value)}.")
    return value


def _names(value: Any, label: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"Quality gate {label} must be a list of column names.")
    return list(value)


def evaluate_quality_gates(data: Any, policy: Any, *, ctx: Any = None) -> tuple[Any, dict[str, int]]:
    """Check `data` against `policy`; returns `(data, metrics)` or raises on the first fail-mode violation.

    Each check emits `quality_gate.check` (rule, passed, severity, measured values); warn-mode
    violations also emit `warning.quality_gate`.

    Example:
        >>> import pandas as pd
        >>> _, metrics = evaluate_quality_gates(pd.DataFrame({"id": [1, 1]}), {"mode": "warn", "unique_keys": ["id"]})
        >>> metrics
        {'quality_checks': 1, 'quality_violations': 1, 'quality_warnings': 1}
    """
    rules = QualityGatePolicy.from_value(policy)
    metrics = {"quality_checks": 0, "quality_violations": 0, "quality_warnings": 0}
    for rule, check, message, measured in _checks(data, rules):
        metrics["quality_checks"] += 1
        severity = "warn" if rules.mode_of(rule) == "warn" else "error"
        _emit(ctx, QUALITY_CHECK_EVENT, gate=rule, check=check, passed=message is None, severity=severity, **measured)
        if message is None:
            continue
        metrics["quality_violations"] += 1
        if severity == "warn":
            metrics["quality_warnings"] += 1
            _emit(ctx, "warning.quality_gate", gate=rule, message=message, **measured)
        else:
            raise ValueError(message)
    return data, metrics


def _checks(data: Any, policy: QualityGatePolicy):  # noqa: ANN202 - generator of (rule, check, message, measured)
    columns = list(getattr(data, "columns", []))
    if policy.required_columns:
        missing = [c for c in policy.required_columns if c not in columns]
        message = f"Missing required columns: {missing}." if missing else None
        yield "required_columns", check_name("required_columns"), message, {"missing_columns": missing}
    for keys in policy.unique_keys:
        absent = [k for k in keys if k not in columns]
        if absent:
            yield (
                "unique_keys",
                check_name("unique_keys", *keys),
                f"Unique key columns missing: {absent}.",
                {"keys": keys},
            )
            continue
        duplicates = int(data.duplicated(subset=keys).sum())
        message = f"Found {duplicates} duplicate rows for unique keys {keys}." if duplicates else None
        yield "unique_keys", check_name("unique_keys", *keys), message, {"keys": keys, "duplicate_rows": duplicates}
    if policy.row_count:
        rows = len(data)
        low, high = policy.row_count.get("min"), policy.row_count.get("max")
        message = None
        if low is not None and rows < low:
            message = f"Row count {rows} is below the minimum {low}."
        elif high is not None and rows > high:
            message = f"Row count {rows} is above the maximum {high}."
        yield "row_count", check_name("row_count"), message, {"rows": rows, "min": low, "max": high}
    for column, limit in policy.max_null_ratio.items():
        if column not in columns:
            message = f"Column '{column}' for max_null_ratio is missing."
            yield "max_null_ratio", check_name("max_null_ratio", column), message, {"column": column}
            continue
        ratio = float(data[column].isna().mean()) if len(data) else 0.0
        message = f"Null ratio {ratio:.4f} of column '{column}' exceeds {limit}." if ratio > limit else None
        yield (
            "max_null_ratio",
            check_name("max_null_ratio", column),
            message,
            {
                "column": column,
                "null_ratio": round(ratio, 6),
                "max_null_ratio": limit,
            },
        )


def check_name(rule: str, *parts: str) -> str:
    """The asset check name of one gate check: `unique_keys__id`, `max_null_ratio__amount`, `row_count`."""
    return "__".join((rule, *parts))


def gate_check_names(policy: QualityGatePolicy) -> list[tuple[str, str]]:
    """(check name, rule) of every check a policy evaluates, in evaluation order."""
    names: list[tuple[str, str]] = []
    if policy.required_columns:
        names.append((check_name("required_columns"), "required_columns"))
    names.extend((check_name("unique_keys", *keys), "unique_keys") for keys in policy.unique_keys)
    if policy.row_count:
        names.append((check_name("row_count"), "row_count"))
    names.extend((check_name("max_null_ratio", column), "max_null_ratio") for column in policy.max_null_ratio)
    return names


def _one_of(label: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"Unsupported {label}: {value} (allowed: {', '.join(allowed)}).")
