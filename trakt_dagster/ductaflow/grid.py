"""Scenario grids: the cartesian product of a conductor's active dimensions, as ductaflow expands them.

Each dimension is a list of override dicts with a `label`; a scenario merges one entry of every active
dimension (without `label`, later dimensions winning) and is named `Scenario_<label>_<label>...`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_UNSAFE_KEY = re.compile(r"[/\\|,\[\]\x00-\x1f*?]")


class GridError(ValueError):
    """A malformed grid; `key` names the offending part (e.g. `scenario_dimensions.region[1].label`)."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Scenario:
    """One cell of the grid.

    Example:
        >>> Scenario("Scenario_EU_High", ("EU", "High"), {"region": "eu", "threshold": 70}).overrides
        {'region': 'eu', 'threshold': 70}
    """

    name: str
    labels: tuple[str, ...]
    overrides: Mapping[str, Any]

    @property
    def row(self) -> dict[str, Any]:
        """The scenario as the original conductor builds it: the overrides plus `scenario_name`."""
        return {**self.overrides, "scenario_name": self.name}


def partition_key(name: str) -> str:
    """A Dagster partition key (and folder name) for a scenario or instance name: `/`, `\\`, `|`, `,`,
    brackets, `*`, `?` and control characters become `_`, `...` becomes `_`.

    Example:
        >>> partition_key("Scenario_EU/West_High"), partition_key("Scenario_a b")
        ('Scenario_EU_West_High', 'Scenario_a b')
    """
    key = _UNSAFE_KEY.sub("_", name).replace("...", "_").strip()
    return key or "_"


def expand_grid(dimensions: Any, active: Any = None) -> list[Scenario]:
    """Every scenario of the active dimensions (all dimensions, in order, when `active` is None).

    Example:
        >>> dims = {"mode": [{"mode": "a", "label": "A"}, {"mode": "b", "label": "B"}],
        ...         "t": [{"t": 1, "label": "Low"}]}
        >>> [s.name for s in expand_grid(dims, ["mode", "t"])]
        ['Scenario_A_Low', 'Scenario_B_Low']
    """
    if not isinstance(dimensions, Mapping) or not dimensions:
        raise GridError(
            "scenario_dimensions must be a non-empty dict of dimension name -> list of option dicts",
            "scenario_dimensions",
        )
    if active is None:
        names: Sequence[Any] = list(dimensions)
    elif isinstance(active, list | tuple) and active:
        names = list(active)
    else:
        raise GridError("active_dimensions must be a non-empty list of dimension names", "active_dimensions")
    options: list[list[tuple[str, dict[str, Any]]]] = []
    for index, name in enumerate(names):
        if name not in dimensions:
            known = ", ".join(map(str, dimensions))
            raise GridError(
                f"active dimension {name!r} is not in scenario_dimensions ({known})", f"active_dimensions[{index}]"
            )
        entries = dimensions[name]
        if not isinstance(entries, list | tuple) or not entries:
            raise GridError(f"dimension {name!r} must be a non-empty list of dicts", f"scenario_dimensions.{name}")
        found = []
        for position, entry in enumerate(entries):
            where = f"scenario_dimensions.{name}[{position}]"
            if not isinstance(entry, Mapping):
                raise GridError(f"option {position} of dimension {name!r} is not a dict", where)
            if "label" not in entry or entry["label"] in (None, ""):
                raise GridError(f"option {position} of dimension {name!r} has no 'label'", f"{where}.label")
            found.append((str(entry["label"]), {k: v for k, v in entry.items() if k != "label"}))
        labels = [label for label, _ in found]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise GridError(
                f"dimension {name!r} repeats the label(s) {', '.join(repeated)}", f"scenario_dimensions.{name}"
            )
        options.append(found)
    scenarios: list[Scenario] = []
    by_name: dict[str, tuple[str, ...]] = {}
    by_key: dict[str, str] = {}
    for combination in itertools.product(*options):
        labels = tuple(label for label, _ in combination)
        merged: dict[str, Any] = {}
        for _, overrides in combination:
            merged.update(overrides)
        name = "Scenario_" + "_".join(labels)
        if name in by_name:
            raise GridError(
                f"labels {'/'.join(by_name[name])} and {'/'.join(labels)} both give the scenario name {name!r}",
                "scenario_dimensions",
            )
        key = partition_key(name)
        if key in by_key:
            raise GridError(
                f"scenarios {by_key[key]!r} and {name!r} both become the partition key {key!r}", "scenario_dimensions"
            )
        by_name[name] = labels
        by_key[key] = name
        scenarios.append(Scenario(name, labels, merged))
    return scenarios
