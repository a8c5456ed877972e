"""One asyncio event loop per run, in its own thread: flowrun runs every async task of a run on one loop.

Task threads submit coroutines and wait for them, so async clients created by the context factory (bound
to that loop) work in every task, and cancelling an attempt cancels its coroutine cooperatively.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any


class RunLoop:
    """A started event loop thread.

    Example:
        >>> loop = RunLoop()
        >>> async def answer():
        ...     return 42
        >>> loop.run(answer())
        42
        >>> loop.close()
    """

    def __init__(self, name: str = "flowrun-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, Any], on_cancel: Callable[[Callable[[], None]], None] | None = None) -> Any:
        """Run `coro` on the loop and wait for its result; `on_cancel(callback)` registers cancellation."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        if on_cancel is not None:
            on_cancel(lambda: future.cancel())
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise TaskCancelledError("the task was cancelled (Dagster run terminated)") from None

    def close(self) -> None:
        """Cancel what still runs and stop the loop thread."""
        if self.loop.is_closed():
            return

        def stop() -> None:
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.stop()

        self.loop.call_soon_threadsafe(stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


class TaskCancelledError(RuntimeError):
    """An async task's coroutine was cancelled because the Dagster run was terminated."""
