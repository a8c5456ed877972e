"""The usage examples in the package's docstrings run and show what they claim."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import trakt_dagster

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(trakt_dagster.__path__, "trakt_dagster.") if ".pit.sdk" not in m.name
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"
