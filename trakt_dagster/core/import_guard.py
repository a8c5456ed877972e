"""Find module-level code that would run a pipeline when its module is imported (read with `ast`, never run).

flowrun's README ends its examples with a bare `asyncio.run(main())`: run as a script that is right, but
trakt-dagster imports pipeline modules whenever the code location loads, so the DAG would run natively,
outside Dagster, on every load. Such a call is found before the import and refused.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

EVENT_LOOP_MODULES = frozenset({"asyncio", "anyio", "trio", "uvloop"})
"""Modules whose `run(...)` starts an event loop and runs a coroutine to the end."""
LOOP_METHODS = frozenset({"run_until_complete", "run_forever"})
_LOOP_WORDS = (*EVENT_LOOP_MODULES, *LOOP_METHODS)
"""A call found below names one of these in the source (its module's import, or the loop method)."""


@dataclass(frozen=True)
class ImportTimeRun:
    """A call that runs an event loop at import time: its line and source text.

    Example:
        >>> find_import_time_runs("import asyncio\\nasync def main(): ...\\nasyncio.run(main())\\n")
        [ImportTimeRun(line=3, text='asyncio.run(main())')]
    """

    line: int
    text: str


def may_start_loop(source: str) -> bool:
    """Whether `source` could hold a call `find_import_time_runs` finds (False: it names no event-loop module
    and no loop method, so there is nothing to parse for).

    Example:
        >>> may_start_loop("x = 1"), may_start_loop("import asyncio")
        (False, True)
    """
    return not source.isascii() or any(word in source for word in _LOOP_WORDS)


def find_import_time_runs(source: str) -> list[ImportTimeRun]:
    """Module-level calls (outside functions, classes and `if __name__ == "__main__":`) that start an event
    loop: `asyncio.run(...)` (also `anyio`/`trio`/`uvloop`, imported under any alias or `from asyncio import
    run`) and `<loop>.run_until_complete(...)` / `.run_forever()`. A module that does not parse has none (its
    import reports the syntax error)."""
    if not may_start_loop(source):
        return []  # no event-loop module is imported and no loop method is named: nothing to parse for
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    modules: set[str] = set()
    functions: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in EVENT_LOOP_MODULES:
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module in EVENT_LOOP_MODULES:
            functions.update(alias.asname or alias.name for alias in node.names if alias.name == "run")
    found: list[ImportTimeRun] = []
    for node in _import_time_nodes(tree.body):
        if isinstance(node, ast.Call) and _starts_loop(node.func, modules, functions):
            text = ast.get_source_segment(source, node) or "asyncio.run(...)"
            found.append(ImportTimeRun(node.lineno, text if len(text) <= 80 else text[:77] + "..."))
    return sorted(found, key=lambda run: run.line)


def _starts_loop(func: ast.expr, modules: set[str], functions: set[str]) -> bool:
    if isinstance(func, ast.Name):
        return func.id in functions
    if isinstance(func, ast.Attribute):
        if func.attr in LOOP_METHODS:
            return True
        return func.attr == "run" and isinstance(func.value, ast.Name) and func.value.id in modules
    return False


def _import_time_nodes(body: list[ast.stmt]):  # noqa: ANN202 - a generator of AST nodes
    """Every node that executes when the module body runs (not function or class bodies, not main guards)."""
    for statement in body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            for expr in [*statement.decorator_list, *_defaults(statement.args)]:
                yield from _expression_nodes(expr)
            continue
        if isinstance(statement, ast.ClassDef):
            for expr in [*statement.decorator_list, *statement.bases, *(k.value for k in statement.keywords)]:
                yield from _expression_nodes(expr)
            yield from _import_time_nodes(statement.body)  # a class body runs at import
            continue
        if isinstance(statement, ast.If) and _is_main_guard(statement.test):
            yield from _import_time_nodes(statement.orelse)
            continue
        nested = [getattr(statement, name) for name in ("body", "orelse", "finalbody") if hasattr(statement, name)]
        for handler in getattr(statement, "handlers", []):
            nested.append(handler.body)
        for case in getattr(statement, "cases", []):
            nested.append(case.body)
        for field, value in ast.iter_fields(statement):
            if field in ("body", "orelse", "finalbody", "handlers", "cases"):
                continue
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.expr):
                    yield from _expression_nodes(child)
        for block in nested:
            yield from _import_time_nodes(block)


def _defaults(args: ast.arguments) -> list[ast.expr]:
    return [*args.defaults, *(d for d in args.kw_defaults if d is not None)]


def _expression_nodes(expr: ast.expr):  # noqa: ANN202 - a generator of AST nodes
    """The nodes of an expression that run now (not the bodies of lambdas)."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.Lambda):
            continue
        stack.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr | ast.keyword))
        if isinstance(node, ast.keyword):
            stack.append(node.value)


def _is_main_guard(test: ast.expr) -> bool:
    """`__name__ == "__main__"` (either side)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    texts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return bool(names) and bool(texts)
