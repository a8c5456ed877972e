"""dbt's `manifest.json` as plain data: a project's models, seeds and snapshots with their tests attached.

Test attachment: a generic test belongs to its `attached_node`; a test reading several nodes (a singular
test) belongs to the one that comes last in the topological order, so its check runs once, after all its
inputs, and every node it reads is in `DbtTest.depends_on`; tests reading no node of the project (e.g. on
sources only) are `DbtProjectInfo.unattached_tests`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ASSET_TYPES = ("model", "seed", "snapshot")


@dataclass(frozen=True)
class DbtTest:
    """A dbt data test, attached to the node it checks.

    `depends_on` lists every model/seed/snapshot of the project the test reads (for a check's extra deps).

    Example:
        >>> DbtTest("test.shop.not_null_orders_id.1a", "not_null_orders_id", "id", "", "ERROR").severity
        'ERROR'
    """

    unique_id: str
    name: str
    column_name: str | None
    description: str
    severity: str
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class DbtNode:
    """A model, seed or snapshot of the project.

    `depends_on` holds unique ids of other nodes of this project only (no sources, no package nodes).

    Example:
        >>> DbtNode("model.shop.orders", "orders", "model", ("model.shop.stg_orders",), "", "models/orders.sql",
        ...         "table", ()).depends_on
        ('model.shop.stg_orders',)
    """

    unique_id: str
    name: str
    resource_type: str
    depends_on: tuple[str, ...]
    description: str
    original_file_path: str
    materialized: str
    tests: tuple[DbtTest, ...]
    checksum: str = ""


@dataclass(frozen=True)
class DbtProjectInfo:
    """What `read_dbt_project` found: the nodes in a topological order, the sources and the manifest file.

    `profile_name` is the `profile:` of `dbt_project.yml` ("" when it has none). `unattached_tests` are
    tests that read no model/seed/snapshot of the project (e.g. tests on sources only).

    Example:
        >>> info = DbtProjectInfo(Path("dbt"), "shop", "shop", ())
        >>> info.project_name, info.nodes
        ('shop', ())
    """

    project_dir: Path
    project_name: str
    profile_name: str
    nodes: tuple[DbtNode, ...]
    sources: tuple[str, ...] = ()
    unattached_tests: tuple[DbtTest, ...] = ()
    manifest_path: Path | None = None

    def node(self, key: str) -> DbtNode:
        """The node with this unique id or name (`KeyError` when there is none).

        Example:
            >>> seed = DbtNode("seed.p.s", "s", "seed", (), "", "", "seed", ())
            >>> DbtProjectInfo(Path("."), "p", "p", (seed,)).node("s").unique_id
            'seed.p.s'
        """
        for node in self.nodes:
            if key in (node.unique_id, node.name):
                return node
        raise KeyError(key)


def _topological(ids: Iterable[str], parents: Mapping[str, tuple[str, ...]]) -> list[str]:
    pending = {uid: set(parents.get(uid, ())) for uid in ids}
    order: list[str] = []
    while pending:
        ready = sorted(uid for uid, deps in pending.items() if not deps)
        if not ready:  # dbt refuses cycles; keep going deterministically anyway
            ready = [min(pending)]
        for uid in ready:
            del pending[uid]
            order.append(uid)
        for deps in pending.values():
            deps.difference_update(ready)
    return order


def _test(props: Mapping[str, Any], depends_on: tuple[str, ...]) -> DbtTest:
    return DbtTest(
        unique_id=props["unique_id"],
        name=str(props.get("name", "")),
        column_name=props.get("column_name") or None,
        description=str(props.get("description") or ""),
        severity=str((props.get("config") or {}).get("severity") or "ERROR").upper(),
        depends_on=depends_on,
    )


def project_info(
    manifest: Mapping[str, Any], *, project_dir: Path, profile_name: str = "", manifest_path: Path | None = None
) -> DbtProjectInfo:
    """Build a `DbtProjectInfo` from a parsed `manifest.json` (see `read_dbt_project` for the test rules).

    Example:
        >>> m = {"metadata": {"project_name": "p"}, "nodes": {"seed.p.s": {"unique_id": "seed.p.s",
        ...      "name": "s", "resource_type": "seed", "package_name": "p", "config": {"materialized": "seed"}}}}
        >>> [n.unique_id for n in project_info(m, project_dir=Path(".")).nodes]
        ['seed.p.s']
    """
    project = str((manifest.get("metadata") or {}).get("project_name") or "")
    all_nodes: Mapping[str, Mapping[str, Any]] = manifest.get("nodes") or {}
    own = {uid: n for uid, n in all_nodes.items() if n.get("package_name") == project}
    assets = {uid: n for uid, n in own.items() if n.get("resource_type") in ASSET_TYPES}

    def node_deps(props: Mapping[str, Any]) -> tuple[str, ...]:
        deps = (props.get("depends_on") or {}).get("nodes") or ()
        return tuple(dict.fromkeys(d for d in deps if d in assets))

    parents = {uid: node_deps(n) for uid, n in assets.items()}
    order = _topological(assets, parents)
    position = {uid: i for i, uid in enumerate(order)}
    tests: dict[str, list[DbtTest]] = {uid: [] for uid in order}
    unattached: list[DbtTest] = []
    for uid in sorted(u for u, n in own.items() if n.get("resource_type") == "test"):
        props = own[uid]
        deps = node_deps(props)
        attached = props.get("attached_node")
        owner = attached if attached in assets else max(deps, key=position.__getitem__, default=None)
        (tests[owner] if owner else unattached).append(_test(props, deps))

    nodes = tuple(
        DbtNode(
            unique_id=uid,
            name=str(assets[uid].get("name", "")),
            resource_type=str(assets[uid]["resource_type"]),
            depends_on=parents[uid],
            description=str(assets[uid].get("description") or ""),
            original_file_path=str(assets[uid].get("original_file_path") or ""),
            materialized=str((assets[uid].get("config") or {}).get("materialized") or ""),
            tests=tuple(tests[uid]),
            checksum=str((assets[uid].get("checksum") or {}).get("checksum") or ""),
        )
        for uid in order
    )
    sources = sorted(
        f"{s.get('source_name')}.{s.get('name')}"
        for s in (manifest.get("sources") or {}).values()
        if s.get("package_name") == project
    )
    return DbtProjectInfo(
        project_dir=Path(project_dir),
        project_name=project,
        profile_name=profile_name,
        nodes=nodes,
        sources=tuple(sources),
        unattached_tests=tuple(unattached),
        manifest_path=manifest_path,
    )
