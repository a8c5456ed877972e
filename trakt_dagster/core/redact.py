"""Keep secret values out of logs, metadata, manifests and error messages.

Values are masked before they are serialised (`Redactor.data` on the structure that becomes JSON, a
Dagster event or a log line). Text that was already serialised is masked too, and there a secret may
appear escaped (`"` as `\\"`, `\\` as `\\\\`, non-ASCII as `\\u00e9` in JSON; `repr()` in tracebacks), so
every escaped form of each secret is masked as well.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

MASK = "***"
MIN_SECRET_LENGTH = 3
"""Shorter values are not masked (masking `a` or `1` would garble every line)."""


def escaped_forms(value: str) -> list[str]:
    """The ways `value` can appear inside serialised text: as is, JSON-escaped (ASCII or not), `repr()`-escaped.

    Example:
        >>> escaped_forms('pa"ss')
        ['pa"ss', 'pa\\\\"ss']
        >>> escaped_forms("pässwörd")[1]
        'p\\\\u00e4ssw\\\\u00f6rd'
    """
    forms = [
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value)[1:-1],
        repr(value.encode("utf-8"))[2:-1],
        value.encode("unicode_escape").decode("ascii"),
    ]
    return [form for form in dict.fromkeys(forms) if len(form) >= MIN_SECRET_LENGTH]


class Redactor:
    """Replaces every registered secret value with `***` in text and nested data.

    Example:
        >>> r = Redactor(["s3cr3t", 'qu"ote'])
        >>> r.text("password=s3cr3t")
        'password=***'
        >>> r.data({"dsn": "pg://u:s3cr3t@h", "n": 1})
        {'dsn': 'pg://u:***@h', 'n': 1}
        >>> r.text('{"token": "qu\\\\"ote"}')
        '{"token": "***"}'
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._forms: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            forms = list(self._forms)
            for value in secrets:
                if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH and value not in self._values:
                    self._values.add(value)
                    forms.extend(f for f in escaped_forms(value) if f not in forms)
            # longest first, so a secret containing another is masked whole
            forms.sort(key=len, reverse=True)
            self._forms = forms

    def __bool__(self) -> bool:
        return bool(self._forms)

    def text(self, value: str) -> str:
        """`value` with every secret (and every escaped form of it) replaced by `***`."""
        for form in self._forms:
            if form in value:
                value = value.replace(form, MASK)
        return value

    def data(self, value: Any) -> Any:
        """A copy of nested dicts/lists/tuples/sets with every string masked (keys too); other values as they are."""
        if not self._forms:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list):  # (subclasses too, as plain lists)
            return [self.data(v) for v in value]
        if isinstance(value, tuple):
            return type(value)(self.data(v) for v in value)
        if isinstance(value, set | frozenset):
            return type(value)(self.data(v) for v in value)
        return value
