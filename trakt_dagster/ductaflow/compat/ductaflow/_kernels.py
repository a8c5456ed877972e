"""Which kernel runs a flow, with which environment, and how a running kernel is stopped.

The default kernel is `trakt-dagster`, looked up only in this environment's own Jupyter folder
(`<sys.prefix>/share/jupyter/kernels`, installed by `make venv`); when that spec is missing, the same
thing is built in memory (`<sys.executable> -m ipykernel_launcher`). So a flow always runs in the Python
environment of the code that started it, never in a kernel that happens to be installed elsewhere. An
explicitly named kernel (`kernel_name="ir"`) is looked up the usual Jupyter way.

Kernels talk over Unix sockets in a private folder (no TCP ports), get the folders the runner asks for
on their `PYTHONPATH`, and run in their own process group, which `Canceller.cancel()` kills.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

KERNEL_SPEC_NAME = "trakt-dagster"
SETUP_FILE = Path(__file__).resolve().parent / "_kernel_setup.py"


def env_kernels_dir() -> Path:
    """`<sys.prefix>/share/jupyter/kernels`: where `make venv` installs the `trakt-dagster` kernel spec."""
    return Path(sys.prefix) / "share" / "jupyter" / "kernels"


class Canceller:
    """Stops the kernels of one execution from another thread (a timeout, a Dagster termination).

    Example:
        >>> c = Canceller(); c.cancel(); c.cancelled
        True
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: set[int] = set()
        self._event = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def register(self, pgid: int | None) -> None:
        """Remember a kernel's process group; kill it at once if cancellation already happened."""
        if not pgid:
            return
        with self._lock:
            self._groups.add(pgid)
        if self.cancelled:
            self._kill(pgid)

    def release(self, pgid: int | None) -> None:
        with self._lock:
            self._groups.discard(pgid or 0)

    def cancel(self) -> None:
        """Kill every registered kernel (and whatever it started)."""
        self._event.set()
        with self._lock:
            groups = list(self._groups)
        for pgid in groups:
            self._kill(pgid)

    @staticmethod
    def _kill(pgid: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def _fallback_spec(name: str) -> Any:
    from jupyter_client.kernelspec import KernelSpec

    return KernelSpec(
        argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        display_name=f"Python 3 ({name})",
        language="python",
        resource_dir=str(SETUP_FILE.parent),
        metadata={"debugger": True},
    )


def kernel_spec_manager(kernel_name: str | None) -> Any:
    """The `KernelSpecManager` that resolves `kernel_name` (None: this environment's own kernel)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    if kernel_name not in (None, KERNEL_SPEC_NAME):
        return KernelSpecManager()

    class EnvKernelSpecManager(KernelSpecManager):
        """Only this environment's Jupyter folder; an in-memory spec when the installed one is missing."""

        def get_kernel_spec(self, name: str) -> Any:
            try:
                return super().get_kernel_spec(name)
            except NoSuchKernel:
                if name != KERNEL_SPEC_NAME:
                    raise
                return _fallback_spec(name)

    return EnvKernelSpecManager(kernel_dirs=[str(env_kernels_dir())])


def kernel_language(kernel_name: str | None) -> str:
    """The language of a kernel (python for the default one), for papermill's parameter translation."""
    if kernel_name in (None, KERNEL_SPEC_NAME):
        return "python"
    try:
        return kernel_spec_manager(kernel_name).get_kernel_spec(kernel_name).language or "python"
    except Exception:  # noqa: BLE001 - an unknown kernel fails later with Jupyter's own message
        return "python"


def is_ipykernel(kernel_name: str | None) -> bool:
    """Whether the kernel is an ipykernel (which accepts the start-up options the runner adds)."""
    if kernel_name in (None, KERNEL_SPEC_NAME):
        return True
    try:
        argv = kernel_spec_manager(kernel_name).get_kernel_spec(kernel_name).argv
    except Exception:  # noqa: BLE001
        return False
    return any("ipykernel" in part for part in argv)


def setup_arguments() -> list[str]:
    """Kernel command-line options that run `_kernel_setup.py` (logging capture) before the first cell."""
    path = str(SETUP_FILE)
    code = (
        f"exec(compile(open({path!r}, encoding='utf-8').read(), {path!r}, 'exec'), {{'__name__': '_ductaflow_setup'}})"
    )
    return [f"--IPKernelApp.exec_lines={code}"]


def kernel_environment(pythonpath: list[str]) -> dict[str, str]:
    """This process's environment with `pythonpath` in front of `PYTHONPATH`."""
    env = dict(os.environ)
    parts = [p for p in pythonpath if p]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    if parts:
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
    env.pop("PYTHONEXECUTABLE", None)
    return env


class KernelSession:
    """Everything one notebook execution needs from Jupyter: a kernel manager class bound to its env,
    socket folder and canceller. Use as a context manager (removes the socket folder).

    Example:
        >>> # with KernelSession(None, env, canceller) as ks:
        >>> #     papermill_engine(..., kernel_manager_class=ks.manager_class, kernel_name=ks.name)
    """

    def __init__(self, kernel_name: str | None, env: dict[str, str], canceller: Canceller | None) -> None:
        self.name = kernel_name or KERNEL_SPEC_NAME
        self.env = env
        self.canceller = canceller
        self.socket_dir = Path(tempfile.mkdtemp(prefix="dfk-"))
        self.pgids: list[int] = []
        self.manager_class = self._make_manager_class()

    def __enter__(self) -> KernelSession:
        return self

    def __exit__(self, *exc: object) -> None:
        for pgid in self.pgids:
            if self.canceller is not None:
                self.canceller.release(pgid)
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    def _make_manager_class(self) -> type:
        from jupyter_client.manager import AsyncKernelManager

        session = self
        spec_manager = kernel_spec_manager(None if self.name == KERNEL_SPEC_NAME else self.name)

        class RunKernelManager(AsyncKernelManager):
            def __init__(self, **kwargs: Any) -> None:
                kwargs.setdefault("kernel_spec_manager", spec_manager)
                kwargs.setdefault("transport", "ipc")
                kwargs.setdefault("ip", str(session.socket_dir / "k"))
                super().__init__(**kwargs)

            async def start_kernel(self, **kwargs: Any) -> None:
                kwargs.setdefault("env", dict(session.env))
                await super().start_kernel(**kwargs)
                pgid = getattr(self.provisioner, "pgid", None)
                if pgid:
                    session.pgids.append(pgid)
                    if session.canceller is not None:
                        session.canceller.register(pgid)

        return RunKernelManager
