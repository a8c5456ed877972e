"""trakt's `Context`: the `ctx` every step handler receives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TelemetryHook = Callable[[str, dict[str, Any], "Context"], None]


@dataclass
class Context:
    """Run-level facts and a metadata dict shared by all steps of one run.

    Example:
        >>> ctx = Context(run_id="r1", pipeline_name="sales")
        >>> ctx.add_metadata("seen", {"rows": 3}); ctx.get_metadata("seen")
        {'rows': 3}
        >>> ctx.emit_event("warning.custom", column="amount")  # goes to every telemetry hook
    """

    run_id: str
    pipeline_name: str
    pipeline_version: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    metadata: dict[str, Any] = field(default_factory=dict)
    telemetry_hooks: list[TelemetryHook] = field(default_factory=list)

    def add_metadata(self, key: str, value: Any) -> None:
        self.metadata[key] = value

    def get_metadata(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    def register_telemetry_hook(self, hook: TelemetryHook) -> None:
        self.telemetry_hooks.append(hook)

    def emit_event(self, event_name: str, **attributes: Any) -> None:
        payload = dict(attributes)
        for hook in list(self.telemetry_hooks):
            hook(event_name, payload, self)
