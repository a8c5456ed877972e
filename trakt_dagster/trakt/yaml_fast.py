"""Load well-formed pipeline YAML in one pass over libyaml's events (PyYAML's C parser), several times faster
than composing nodes and constructing them in Python; anything unusual goes back to the pure-Python path, so
every error keeps PyYAML's own message and line.

The fast path builds the values and the line of every key straight from the events. It takes only plain
documents: one document, no anchors, aliases, explicit tags or merge keys (`<<`), scalar keys, nesting within
the caller's bound, at most the caller's number of values, printable text. Each plain scalar is resolved by
PyYAML's own implicit resolvers (YAML 1.1: `yes` is true, `0o17`/`017`, `1_000`, dates) and built by PyYAML's
own `SafeConstructor` methods, so the data and lines are those of `yaml.safe_load` and the node-based path;
a scalar it cannot construct (an impossible date, a huge integer) also goes back to the slow path, which
reports it.

Example:
    >>> data, lines = load_with_lines("steps:\\n  - id: a\\n    with: {n: 0x1f, flag: yes}\\n", 100, 1000)
    >>> data, lines[("steps", 0, "with")]
    ({'steps': [{'id': 'a', 'with': {'n': 31, 'flag': True}}]}, 3)
    >>> load_with_lines("steps: [a\\n", 100, 1000)
    Traceback (most recent call last):
    ...
    trakt_dagster.trakt.yaml_fast.NotFast: use the pure-Python parser
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.reader import Reader

KeyPath = tuple[str | int, ...]
_STR_TAG = "tag:yaml.org,2002:str"
_NO_KEY = object()


class NotFast(Exception):
    """The document needs PyYAML's pure-Python parser (an error to report with its message, or an unusual
    shape)."""

    def __init__(self) -> None:
        super().__init__("use the pure-Python parser")


class _Scalars(yaml.SafeLoader):
    """PyYAML's implicit resolvers and safe constructors, used one scalar at a time (no stream of its own)."""

    def __init__(self) -> None:
        super().__init__("")
        wildcard = tuple(self.yaml_implicit_resolvers.get(None, ()))
        self.by_first_char = {
            char: (*found, *wildcard) for char, found in self.yaml_implicit_resolvers.items() if char is not None
        }
        self.wildcard = wildcard
        self.constructors = {
            tag: getattr(self, name)
            for tag, name in (
                ("tag:yaml.org,2002:null", "construct_yaml_null"),
                ("tag:yaml.org,2002:bool", "construct_yaml_bool"),
                ("tag:yaml.org,2002:int", "construct_yaml_int"),
                ("tag:yaml.org,2002:float", "construct_yaml_float"),
                ("tag:yaml.org,2002:timestamp", "construct_yaml_timestamp"),
            )
            if self.yaml_constructors.get(tag) is getattr(type(self), name)
        }

    def plain(self, value: str) -> Any:
        """The value of a plain (unquoted, untagged) scalar, as `SafeLoader` resolves and constructs it."""
        resolvers = self.by_first_char.get(value[:1], self.wildcard)
        if not resolvers:
            return value  # most names and paths: no implicit type starts with their first character
        tag = next((tag for tag, regexp in resolvers if regexp.match(value)), _STR_TAG)
        if tag == _STR_TAG:
            return value
        construct = self.constructors.get(tag)
        if construct is None:
            raise NotFast  # e.g. a merge key '<<' or '=': the node-based path handles it
        try:
            return construct(yaml.ScalarNode(tag, value))
        except Exception:  # noqa: BLE001 - whatever int()/date() raise: the slow path reports it with its line
            raise NotFast from None


_SCALARS: _Scalars | None = None


def load_with_lines(text: str, max_depth: int, max_values: int) -> tuple[Any, dict[KeyPath, int]]:
    """The document's value (None when empty) and the 1-based line of every key path (a mapping key's line; a
    list item's or the root's own start), read by libyaml; raises `NotFast` when the pure-Python parser must
    do it."""
    global _SCALARS
    if not getattr(yaml, "__with_libyaml__", False) or Reader.NON_PRINTABLE.search(text):
        raise NotFast
    scalars = _SCALARS = _SCALARS or _Scalars()
    parser = yaml.CSafeLoader(text)
    lines: dict[KeyPath, int] = {}
    # open collections: [container, is a mapping, pending key (or _NO_KEY), its path, next list index]
    stack: list[list[Any]] = []
    root: Any = None
    documents = values = 0
    get_event, plain = parser.get_event, scalars.plain
    scalar_event, mapping_start, sequence_start = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    try:
        while True:
            event = get_event()
            kind = type(event)
            if kind is scalar_event or kind is mapping_start or kind is sequence_start:
                if event.anchor is not None or event.tag is not None:
                    raise NotFast
                values += 1
                if values > max_values:
                    raise NotFast
                line = event.start_mark.line + 1
                if kind is scalar_event:
                    value = plain(event.value) if event.implicit[0] else event.value
                    container: Any = None
                else:
                    if len(stack) + 1 >= max_depth:
                        raise NotFast
                    value = container = {} if kind is mapping_start else []
                if not stack:
                    lines.setdefault((), line)
                    root = value
                    path: KeyPath = ()
                else:
                    top = stack[-1]
                    if top[1]:
                        if top[2] is _NO_KEY:  # this node is a key
                            if container is not None:
                                raise NotFast  # a mapping or list used as a key
                            top[2] = (value, event.value)
                            lines[(*top[3], event.value)] = line
                            continue
                        key, key_text = top[2]
                        top[2] = _NO_KEY
                        path = (*top[3], key_text)
                        lines.setdefault(path, line)
                        top[0][key] = value
                    else:
                        path = (*top[3], top[4])
                        top[4] += 1
                        lines.setdefault(path, line)
                        top[0].append(value)
                if container is not None:
                    stack.append([container, kind is mapping_start, _NO_KEY, path, 0])
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                stack.pop()
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise NotFast  # several documents: PyYAML's error says so
            elif kind is yaml.StreamEndEvent:
                return root, lines
            elif kind is not yaml.StreamStartEvent and kind is not yaml.DocumentEndEvent:
                raise NotFast  # an alias
    except yaml.YAMLError:
        raise NotFast from None
    finally:
        parser.dispose()
