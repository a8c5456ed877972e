"""Code versions and config data versions: what makes an instance stale in Dagster.

* A flow's **code version** is a hash of its source (a build's also covers the flows it names), plus, for
  an unpartitioned notebook, its config: editing either marks its materialization stale.
* A partitioned notebook reads a partitioned external asset `<name>_config` whose **data version** per
  partition is a hash of that partition's config (and the files written beside it). Editing one scenario's
  config changes only that partition's data version, so only that partition of the notebook turns stale.
* Each materialization records this provenance (code version, input data versions and event pointers), the
  same tags Dagster writes for the outputs it stores, so Dagster's staleness applies per partition.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from trakt_dagster.ductaflow.model import DuctaflowProject, Instance, Notebook

HASH_LENGTH = 16


def _digest(parts: Iterable[bytes]) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(len(part).to_bytes(8, "big"))
        sha.update(part)
    return sha.hexdigest()[:HASH_LENGTH]


def canonical(value: Any) -> bytes:
    """A stable byte form of a JSON-like value (sorted keys).

    Example:
        >>> canonical({"b": 1, "a": [1, 2]})
        b'{"a":[1,2],"b":1}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def source_bytes(path: Path) -> bytes:
    """A notebook's source with line endings normalised (a checkout on Windows keeps its version)."""
    return Path(path).read_bytes().replace(b"\r\n", b"\n")


def referenced_flows(project: DuctaflowProject, notebook: Notebook) -> list[Notebook]:
    """The project's flows whose file a build names in its code (`"flows/x.py"`, `"x.py"`, `"x"`)."""
    if notebook.kind != "build":
        return []
    names = set(notebook.references) | {Path(r).name for r in notebook.references}
    return [f for f in project.flows if f.name in names or f"{f.name}.py" in names]


def instance_fingerprint(instance: Instance) -> str:
    """The data version of one instance's config (the config, the files written beside it, its folder).

    Example:
        >>> a = Instance("eu", "eu", "clean/eu", {"region": "eu"})
        >>> instance_fingerprint(a) == instance_fingerprint(Instance("eu", "eu", "clean/eu", {"region": "us"}))
        False
    """
    return _digest([canonical(dict(instance.config)), canonical(dict(instance.extra_files)), instance.folder.encode()])


def code_version(project: DuctaflowProject, notebook: Notebook) -> str:
    """The notebook's Dagster code version (see the module docstring)."""
    parts = [notebook.kind.encode(), source_bytes(notebook.path)]
    for flow in referenced_flows(project, notebook):
        parts += [flow.name.encode(), source_bytes(flow.path)]
    if not notebook.partitioned:
        parts += [instance_fingerprint(i).encode() for i in notebook.instances]
    return _digest(parts)


def provenance_tags(code: str, inputs: Mapping[Any, tuple[str, int | None]]) -> dict[str, str]:
    """The provenance tags of a materialization: code version, each input's data version and record pointer,
    and the data version derived from them (as Dagster computes it for code-versioned assets)."""
    from dagster._core.definitions.data_version import (
        CODE_VERSION_TAG,
        DATA_VERSION_TAG,
        NULL_EVENT_POINTER,
        DataVersion,
        compute_logical_data_version,
        get_input_data_version_tag,
        get_input_event_pointer_tag,
    )

    tags = {CODE_VERSION_TAG: code}
    versions = {}
    for key, (version, storage_id) in inputs.items():
        tags[get_input_data_version_tag(key)] = version
        tags[get_input_event_pointer_tag(key)] = str(storage_id) if storage_id else NULL_EVENT_POINTER
        versions[key] = DataVersion(version)
    tags[DATA_VERSION_TAG] = compute_logical_data_version(code, versions).value
    return tags
