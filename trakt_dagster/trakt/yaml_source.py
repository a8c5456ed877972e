"""Read a YAML file the way trakt does (PyYAML `safe_load`, YAML 1.1) and remember where keys are."""

from __future__ import annotations

from typing import Any

import yaml

KeyPath = tuple[str | int, ...]


class YamlDocument:
    """A parsed YAML document plus the line of every key and list item.

    Example:
        >>> doc = YamlDocument.parse("steps:\\n  - id: a\\n    uses: x\\n")
        >>> doc.data["steps"][0]["id"], doc.line(("steps", 0, "uses"))
        ('a', 3)
    """

    def __init__(self, data: Any, lines: dict[KeyPath, int]) -> None:
        self.data = data
        self._lines = lines

    @classmethod
    def parse(cls, text: str) -> YamlDocument:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
        lines: dict[KeyPath, int] = {}
        if node is not None:
            _index(node, (), lines)
        return cls(data, lines)

    def line(self, path: KeyPath) -> int | None:
        """The 1-based line of `path`, or of its closest known parent."""
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get((), None)


def _index(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _index(value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*path, i), lines)


def key_text(path: KeyPath) -> str:
    """`("steps", 1, "with")` → `steps[1].with` (list positions as written, from 0)."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def parse_key_text(text: str) -> KeyPath:
    """The inverse of `key_text`: `steps[1].with` → `("steps", 1, "with")`.

    Example:
        >>> parse_key_text("outputs.datasets[0].from")
        ('outputs', 'datasets', 0, 'from')
    """
    path: list[str | int] = []
    for part in text.split("."):
        name, _, rest = part.partition("[")
        if name:
            path.append(name)
        for index in rest.replace("]", "").split("[") if rest else []:
            path.append(int(index))
    return tuple(path)
