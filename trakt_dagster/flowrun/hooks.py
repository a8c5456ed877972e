"""Fire flowrun `RunHook`s with flowrun's own event objects while a DAG runs on Dagster (spec §2.7, K7).

Hooks are called one at a time (flowrun calls them from its event loop); an exception in a hook is
logged as `Hook '<class>' raised in <method>` with its traceback and never affects the run.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from flowrun.hooks import RunHook

HookLog = Callable[[str, str], None]
"""`log(level, message)`."""


class HookRelay:
    """Calls every hook's `method(event)`, serialised, swallowing and logging hook errors.

    Example:
        >>> from flowrun import fn_hook
        >>> from flowrun.hooks import DagStartEvent
        >>> seen = []
        >>> relay = HookRelay([fn_hook(on_dag_start=lambda e: seen.append(e.dag_name))])
        >>> relay.emit("on_dag_start", DagStartEvent(run_id="r1", dag_name="orders"))
        >>> seen
        ['orders']
    """

    def __init__(self, hooks: Sequence[RunHook], log: HookLog | None = None) -> None:
        self.hooks = list(hooks)
        self.log = log or (lambda level, message: None)
        self._lock = threading.RLock()

    def __bool__(self) -> bool:
        return bool(self.hooks)

    def emit(self, method: str, event: Any, log: HookLog | None = None) -> None:
        """Call `method` on every hook that has it; errors go to `log` (default: the relay's)."""
        if not self.hooks:
            return
        with self._lock:
            for hook in self.hooks:
                callback = getattr(hook, method, None)
                if callback is None:
                    continue
                try:
                    callback(event)
                except Exception:  # noqa: BLE001 - a broken hook never fails the run (flowrun)
                    (log or self.log)(
                        "error", f"Hook '{type(hook).__name__}' raised in {method}\n{traceback.format_exc()}"
                    )
