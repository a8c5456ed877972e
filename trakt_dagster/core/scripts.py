"""Run a user's Python script or module the way `python` would, with the tools' import names in place.

`trakt-dagster exec script.py ARGS` and `trakt-dagster exec -m package.module ARGS` behave like
`python script.py ARGS` / `python -m package.module ARGS` (same `sys.argv`, `sys.path[0]`, `__name__ ==
"__main__"`, exit code and traceback), after the compatibility imports are installed in this process only
(`from trakt import ...` works although no package named `trakt` is installed). Nothing is written to
site-packages.
"""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path


def run_python(
    target: str,
    args: Sequence[str] = (),
    *,
    module: bool = False,
    prepare: Iterable[Callable[[], object]] = (),
) -> None:
    """Run `target` (a script path, or a module name when `module`) as `__main__` with `args`.

    Raises whatever the script raises (`SystemExit` included), as `python` would report it.

    Example:
        >>> import tempfile
        >>> script = Path(tempfile.mkdtemp()) / "hello.py"
        >>> _ = script.write_text("import sys\\nprint('hi', sys.argv[1:])\\n")
        >>> run_python(str(script), ["a"])
        hi ['a']
    """
    for step in prepare:
        step()
    saved_argv, saved_path = list(sys.argv), list(sys.path)
    try:
        if module:
            sys.path.insert(0, os.getcwd())
            sys.argv = [target, *args]
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            path = Path(target)
            if not path.exists():
                raise SystemExit(f"can't open file {str(path.resolve())!r}: [Errno 2] No such file or directory")
            sys.path.insert(0, str(path.resolve().parent if path.is_file() else path.resolve()))
            sys.argv = [target, *args]
            runpy.run_path(target, run_name="__main__")
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
