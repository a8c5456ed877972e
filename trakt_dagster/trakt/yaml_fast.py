"""Compose well-formed pipeline YAML with libyaml (PyYAML's C parser), about ten times faster than PyYAML's
pure-Python composer; anything unusual goes back to the pure-Python path, so every error keeps PyYAML's own
message and line.

The C composer is only used when a first pass over libyaml's events shows a document that is safe and plain:
no syntax error, nesting within the caller's bound (the C composer recurses), printable text, keys that are
scalars. The nodes it builds carry the same marks (line, column), and constructing the values is the same
Python code (`SafeConstructor`), so the data and the line of every key are those of the pure-Python path.

Example:
    >>> node = compose_with_libyaml("steps:\\n  - id: a\\n", max_depth=100)
    >>> node.value[0][1].value[0].value[0][0].start_mark.line + 1
    2
    >>> compose_with_libyaml("steps: [a\\n", max_depth=100)
    Traceback (most recent call last):
    ...
    trakt_dagster.trakt.yaml_fast.NotFast: use the pure-Python parser
"""

from __future__ import annotations

import yaml
from yaml.reader import Reader

_STARTS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_ENDS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
_NODES = (yaml.ScalarEvent, yaml.AliasEvent)


class NotFast(Exception):
    """The document needs PyYAML's pure-Python parser (an error to report with its message, or an unusual
    shape)."""

    def __init__(self) -> None:
        super().__init__("use the pure-Python parser")


def compose_with_libyaml(text: str, max_depth: int) -> yaml.Node | None:
    """The document's node graph (None for an empty document), composed by libyaml; raises `NotFast` when
    the pure-Python parser must do it."""
    if not getattr(yaml, "__with_libyaml__", False) or Reader.NON_PRINTABLE.search(text):
        raise NotFast
    _check_events(text, max_depth)
    composer = yaml.CSafeLoader(text)
    try:
        return composer.get_single_node()
    except yaml.YAMLError:
        raise NotFast from None
    finally:
        composer.dispose()


def _check_events(text: str, max_depth: int) -> None:
    """One pass over libyaml's events: syntax, depth and scalar keys (libyaml's parser keeps its own stack,
    so any nesting is safe here)."""
    parser = yaml.CSafeLoader(text)
    # per open collection: [is a mapping, the next node is a key]
    open_nodes: list[list[bool]] = []
    try:
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, _STARTS):
                parent = open_nodes[-1] if open_nodes else None
                if parent is not None and parent[0] and parent[1]:
                    raise NotFast  # a mapping or list used as a key
                if len(open_nodes) + 1 >= max_depth:
                    raise NotFast
                open_nodes.append([isinstance(event, yaml.MappingStartEvent), True])
                continue
            if isinstance(event, _ENDS):
                open_nodes.pop()
            elif isinstance(event, _NODES):
                parent = open_nodes[-1] if open_nodes else None
                if isinstance(event, yaml.AliasEvent) and parent is not None and parent[0] and parent[1]:
                    raise NotFast  # an alias as a key (it may stand for a collection)
            else:
                continue  # stream and document events
            if open_nodes and open_nodes[-1][0]:
                open_nodes[-1][1] = not open_nodes[-1][1]
    except yaml.YAMLError:
        raise NotFast from None
    finally:
        parser.dispose()
