"""flowrun's ASCII view of a DAG (`display_dag` / `Pipeline.display`): roots first, shared nodes marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def render_tree(name: str, nodes: Sequence[str], edges: Mapping[str, Sequence[str]]) -> str:
    """Render a DAG as flowrun does: one branch per child (sorted), a node seen before is `[shared]`.

    Example:
        >>> print(render_tree("d", ["a", "b", "c", "e"], {"a": [], "b": ["a"], "c": ["a"], "e": ["b", "c"]}))
        d
        \\-- a
            |-- b
            |   \\-- e
            \\-- c
                \\-- e [shared]
    """
    children: dict[str, list[str]] = {node: [] for node in nodes}
    for child, parents in edges.items():
        for parent in parents:
            children.setdefault(parent, []).append(child)
    for found in children.values():
        found.sort()
    roots = [node for node in nodes if not edges.get(node)] or list(nodes)
    lines = [name]
    seen: set[str] = set()

    def visit(node: str, prefix: str, last: bool) -> None:
        shared = node in seen
        lines.append(f"{prefix}{'\\-- ' if last else '|-- '}{node}{' [shared]' if shared else ''}")
        if shared:
            return
        seen.add(node)
        below = children.get(node, [])
        inner = prefix + ("    " if last else "|   ")
        for index, child in enumerate(below):
            visit(child, inner, index == len(below) - 1)

    for index, root in enumerate(roots):
        visit(root, "", index == len(roots) - 1)
    return "\n".join(lines)
