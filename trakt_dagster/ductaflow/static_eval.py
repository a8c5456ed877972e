"""Read a conductor's module-level definitions without running it.

Only literal values and simple expressions over names already read are evaluated: numbers, strings,
lists, tuples, dicts, sets, f-strings, `Path("...")`, `str(...)`, `int(...)`, `float(...)`, `list(...)`,
`d.keys()`, `path / "x"`, `+` on strings and lists. Anything else (function calls, imports, loops) is never
executed; a name whose value cannot be read this way is reported as unreadable with its line.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

_CALLS: dict[str, Any] = {
    "Path": PurePosixPath,
    "PurePath": PurePosixPath,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "tuple": tuple,
    "dict": dict,
    "sorted": sorted,
}
_BINOPS: dict[type, Any] = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


class Unreadable(ValueError):
    """An expression that cannot be evaluated without running code."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class ModuleValues:
    """What a module's top level binds: values read, lines of every assignment, names that are unreadable.

    Example:
        >>> values = read_module_values("x = 1\\ny = [x, 2]\\nz = open('f')\\n", Path("c.py"))
        >>> values.values["y"], values.unreadable["z"][1]
        ([1, 2], 3)
    """

    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, tuple[str, int]] = field(default_factory=dict)
    calls: list[ast.Call] = field(default_factory=list)


def evaluate(node: ast.AST, names: dict[str, Any]) -> Any:
    """The value of a simple expression (see the module docstring); raises `Unreadable`."""
    line = getattr(node, "lineno", None)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List):
        return [evaluate(e, names) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(evaluate(e, names) for e in node.elts)
    if isinstance(node, ast.Set):
        return {evaluate(e, names) for e in node.elts}
    if isinstance(node, ast.Dict):
        result: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:  # {**other}
                result.update(evaluate(value, names))
            else:
                result[evaluate(key, names)] = evaluate(value, names)
        return result
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        raise Unreadable(f"'{node.id}' is not a value defined earlier at module level", line)
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                item = evaluate(value.value, names)
                item = {115: str, 114: repr, 97: ascii}.get(value.conversion, lambda x: x)(item)
                spec = evaluate(value.format_spec, names) if value.format_spec is not None else ""
                parts.append(format(item, spec))
            else:
                parts.append(str(evaluate(value, names)))
        return "".join(parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -evaluate(node.operand, names)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        left = evaluate(node.left, names)
        if isinstance(left, PurePosixPath):
            return left / str(evaluate(node.right, names))
        raise Unreadable("'/' is only read between paths", line)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        try:
            return _BINOPS[type(node.op)](evaluate(node.left, names), evaluate(node.right, names))
        except TypeError as exc:
            raise Unreadable(str(exc), line) from None
    if isinstance(node, ast.Call) and not node.keywords:
        func = node.func
        if isinstance(func, ast.Name) and func.id in _CALLS:
            return _CALLS[func.id](*(evaluate(a, names) for a in node.args))
        if isinstance(func, ast.Attribute) and func.attr in ("keys", "values", "items", "copy") and not node.args:
            target = evaluate(func.value, names)
            if isinstance(target, dict):
                return list(getattr(target, func.attr)()) if func.attr != "copy" else dict(target)
    raise Unreadable(f"{ast.unparse(node)[:80]!r} cannot be read without running the conductor", line)


def read_module_values(text: str, path: Path) -> ModuleValues:
    """Evaluate the module-level assignments of `text` that are simple enough (never runs the module)."""
    tree = ast.parse(text, filename=str(path))
    found = ModuleValues()
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = list(node.targets), node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if value is None or not names:
            continue
        for name in names:
            found.lines[name] = node.lineno
        try:
            result = evaluate(value, found.values)
        except (Unreadable, ValueError, TypeError) as exc:
            for name in names:
                found.values.pop(name, None)
                found.unreadable[name] = (str(exc), node.lineno)
            continue
        for name in names:
            found.values[name] = result
            found.unreadable.pop(name, None)
    found.calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    return found


def to_plain(value: Any) -> Any:
    """Paths as strings (what a conductor's `json.dump(..., default=str)` writes).

    Example:
        >>> to_plain({"root": PurePosixPath("runs/x"), "n": [1]})
        {'root': 'runs/x', 'n': [1]}
    """
    if isinstance(value, PurePosixPath | Path):
        return str(value)
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value
