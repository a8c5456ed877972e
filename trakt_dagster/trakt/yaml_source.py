"""Read a YAML file the way trakt does (PyYAML `safe_load`, YAML 1.1) and remember where keys are.

Parsing is bounded, so no file can stall or exhaust the load: nesting deeper than `MAX_DEPTH`, a
recursive alias, and aliases that would expand to more than `MAX_NODES` values (an "alias bomb") are
refused while composing, before anything is constructed; a value PyYAML cannot construct (an impossible
date, an integer of thousands of digits, a bad tag) is reported with its line. All of these raise
`YamlLimitError`, every other problem PyYAML's own `yaml.YAMLError`.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import yaml

from trakt_dagster.core.parse_cache import cached_parse
from trakt_dagster.trakt import yaml_fast
from trakt_dagster.trakt.yaml_fast import KeyPath as KeyPath
from trakt_dagster.trakt.yaml_fast import NotFast, load_with_lines

MAX_DEPTH = 100
"""Deepest nesting of mappings and lists accepted."""
MAX_NODES = 100_000
"""Most values a document may expand to, counting every use of an alias (trakt pipelines have hundreds)."""


class YamlLimitError(ValueError):
    """A document refused by the bounds above, or a value PyYAML cannot construct; `line` is 1-based."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with a depth limit while composing and the node being constructed remembered."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0
        self.current: yaml.Node | None = None

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlLimitError(f"the document is nested more than {MAX_DEPTH} levels deep", mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        self.current = node
        return super().construct_object(node, deep=deep)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_expansion(root: yaml.Node, limit: int = MAX_NODES) -> None:
    """Refuse a node graph with a cycle (recursive alias) or more than `limit` values once aliases are expanded.

    Aliased nodes are shared in the graph, so this takes time proportional to the graph, not to its expansion.

    Example:
        >>> check_expansion(yaml.compose("a: &x [1, 2]\\nb: *x"))
        >>> check_expansion(yaml.compose("a: &x [*x]"))
        Traceback (most recent call last):
        ...
        trakt_dagster.trakt.yaml_source.YamlLimitError: recursive alias: a value contains itself
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > limit:
                raise YamlLimitError(
                    f"the document expands to more than {limit} values through aliases (an alias bomb?)",
                    node.start_mark.line + 1,
                )
            sizes[key] = size
            continue
        if key in sizes:
            continue
        open_nodes.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise YamlLimitError("recursive alias: a value contains itself", child.start_mark.line + 1)
            if id(child) not in sizes:
                stack.append((child, False))


class YamlDocument:
    """A parsed YAML document plus the line of every key and list item.

    Example:
        >>> doc = YamlDocument.parse("steps:\\n  - id: a\\n    uses: x\\n")
        >>> doc.data["steps"][0]["id"], doc.line(("steps", 0, "uses"))
        ('a', 3)
        >>> YamlDocument.parse("d: 2024-02-30\\n")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        trakt_dagster.trakt.yaml_source.YamlLimitError: a value YAML cannot construct: ValueError: day is out ...
    """

    def __init__(self, data: Any, lines: dict[KeyPath, int]) -> None:
        self.data = data
        self._lines = lines

    @classmethod
    def parse(cls, text: str) -> YamlDocument:
        """Parse `text`; raises `yaml.YAMLError` or `YamlLimitError` (both with a line where known).

        libyaml reads plain documents in one pass (`yaml_fast`); PyYAML's pure-Python parser everything else, so
        every error keeps PyYAML's own message and line."""
        try:
            data, lines = load_with_lines(text, max_depth=MAX_DEPTH, max_values=MAX_NODES)
            return cls(data, lines)
        except NotFast:
            pass
        loader = _BoundedLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                check_expansion(node)
            try:
                data = loader.construct_document(node) if node is not None else None
            except yaml.YAMLError:
                raise
            except Exception as exc:  # noqa: BLE001 - PyYAML's constructors raise whatever int()/date() raise
                line = loader.current.start_mark.line + 1 if loader.current is not None else None
                raise YamlLimitError(f"a value YAML cannot construct: {type(exc).__name__}: {exc}", line) from None
        finally:
            loader.dispose()
        lines = {}
        if node is not None:
            _index(node, (), lines)
        return cls(data, lines)

    @classmethod
    def parse_file(cls, text: str, source: Path) -> YamlDocument:
        """`parse(text)` for the file `source`, read back from the parse cache beside it when this exact text
        was parsed before (see `trakt_dagster.core.parse_cache`); raises as `parse` does.

        Example:
            >>> import tempfile
            >>> source = Path(tempfile.mkdtemp()) / "pipeline.yaml"
            >>> YamlDocument.parse_file("name: a\\n", source).data
            {'name': 'a'}
        """
        data, lines = cached_parse(source, text, _parser_version(), _parsed_value)
        return cls(data, lines)

    def line(self, path: KeyPath) -> int | None:
        """The 1-based line of `path`, or of its closest known parent."""
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get((), None)


def _parsed_value(text: str) -> tuple[Any, dict[KeyPath, int]]:
    document = YamlDocument.parse(text)
    return document.data, document._lines


@functools.cache
def _parser_version() -> str:
    """What a parsed document depends on: PyYAML's version and C parser, the bounds, and this parser's own code
    (a hash of its two modules' source, so a changed parser never reads what the old one stored)."""
    code = b"".join(Path(module).read_bytes() for module in (__file__, yaml_fast.__file__))
    digest = hashlib.blake2b(code, digest_size=8).hexdigest()
    libyaml = getattr(yaml, "__with_libyaml__", False)
    return f"trakt yaml: PyYAML {yaml.__version__} libyaml={libyaml} depth={MAX_DEPTH} nodes={MAX_NODES} {digest}"


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
