"""Keep secret values out of logs, metadata, manifests and error messages."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

MASK = "***"


class Redactor:
    """Replaces every registered secret value with `***` in text and nested data.

    Example:
        >>> r = Redactor(["s3cr3t"])
        >>> r.text("password=s3cr3t")
        'password=***'
        >>> r.data({"dsn": "pg://u:s3cr3t@h"})
        {'dsn': 'pg://u:***@h'}
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            for value in secrets:
                if isinstance(value, str) and len(value) >= 3 and value not in self._secrets:
                    self._secrets.append(value)
            # longest first, so a secret containing another is masked whole
            self._secrets.sort(key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def text(self, value: str) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def data(self, value: Any) -> Any:
        if not self._secrets:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.data(v) for v in value)
        return value
