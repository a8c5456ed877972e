"""`trakt-dagster pit serve`: what pit's `serve` runs, on Dagster — until SIGINT or SIGTERM.

* the Dagster daemon (schedules, the FTP-watch and webhook sensors, run queue), with the web UI unless
  `--no-ui` (then `dagster dev`, else `dagster-daemon run`), in its own process group;
* the webhook receiver (`pit.webhook_server`) in this process, on `--host`/`--port` (pit's 9090).

The Dagster instance is `$DAGSTER_HOME`, else `<root>/.dagster` (created with a `dagster.yaml` when missing).
The code location is the workspace's `workspace.yaml`, else its `definitions.py`, else every pipeline under
`--root` (`trakt_dagster.pit.location`). Every pit trigger starts running (`TRAKT_DAGSTER_PIT_SERVE=1`), as
under pit's `serve`. On SIGINT/SIGTERM, or when the daemon exits, everything started here is stopped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from trakt_dagster.core.instance import prepare_dagster_home
from trakt_dagster.pit.triggers import SERVE_ENV

LOG = logging.getLogger("trakt_dagster.pit.serve")
ROOT_ENV = "TRAKT_DAGSTER_ROOT"
STOP_GRACE_S = 30.0
INSTANCE_YAML = """\
# Created by `trakt-dagster pit serve`: a local SQLite instance; the daemon it starts runs the run queue.
telemetry:
  enabled: false
nux:
  enabled: false
run_launcher:  # the default launcher plus the worker health check run monitoring needs (docs/faults.md)
  module: trakt_dagster.core.monitoring
  class: MonitoredRunLauncher
run_monitoring:
  enabled: true
  poll_interval_seconds: 10
  max_resume_run_attempts: 0
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
"""


def instance_folder(root: Path) -> Path:
    """`$DAGSTER_HOME`, else `<root>/.dagster` (created, with a `dagster.yaml` when it has none)."""
    home = Path(os.environ.get("DAGSTER_HOME") or root / ".dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text(INSTANCE_YAML, encoding="utf-8")
    return home


def location_args(root: Path) -> list[str]:
    """How the Dagster processes find the code: `-w workspace.yaml`, `-f definitions.py` or the pit location.

    Example:
        >>> location_args(Path("/nonexistent"))
        ['-m', 'trakt_dagster.pit.location']
    """
    if (root / "workspace.yaml").is_file():
        return ["-w", str(root / "workspace.yaml")]
    if (root / "definitions.py").is_file():
        return ["-f", str(root / "definitions.py")]
    return ["-m", "trakt_dagster.pit.location"]


def dagster_command(root: Path, *, ui: bool, host: str, ui_port: int, verbose: bool) -> list[str]:
    """`dagster dev ...` (with the UI) or `dagster-daemon run ...` (without)."""
    bin_dir = Path(sys.executable).parent
    if ui:
        command = [str(bin_dir / "dagster"), "dev", "-h", host, "-p", str(ui_port), *location_args(root)]
    else:
        command = [str(bin_dir / "dagster-daemon"), "run", *location_args(root)]
    if verbose:
        command += ["--log-level", "debug"]
    return command


def serve(
    root: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 9090,
    ui: bool = True,
    ui_port: int = 3000,
    secrets_file: str | None = None,
    verbose: bool = False,
) -> int:
    """Run the daemon (+ UI) and the webhook receiver until a signal; returns the exit status."""
    import dagster as dg

    from trakt_dagster.pit.webhook_server import build_server

    root = root.resolve()
    home = instance_folder(root)
    env = {**os.environ, "DAGSTER_HOME": str(home), SERVE_ENV: "1", ROOT_ENV: str(root)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if secrets_file:
        env["PIT_SECRETS_FILE"] = str(Path(secrets_file).resolve())
    os.environ.update({key: env[key] for key in ("DAGSTER_HOME", SERVE_ENV, ROOT_ENV)})
    stop = threading.Event()
    # a SIGINT ignored by whoever started us (nohup, a background job) stays ignored
    wanted = [sig for sig in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(sig) is not signal.SIG_IGN]
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in wanted}
    command = dagster_command(root, ui=ui, host=host, ui_port=ui_port, verbose=verbose)
    # the instance's storage is created (and migrated) here, once, before any other process opens it: SQLite
    # storages created by several processes at once can end up with two schema heads
    prepare_dagster_home(home)
    instance = dg.DagsterInstance.get()
    LOG.warning("pit serve: Dagster instance %s; starting %s", home, " ".join(command[1:3]))
    daemon = subprocess.Popen(command, cwd=root, env=env, start_new_session=True)
    status = 0
    try:
        server = build_server(root, host=host, port=port, secrets_file=secrets_file, verbose=verbose, instance=instance)
        receiver = threading.Thread(target=server.run, name="pit-webhook-receiver", daemon=True)
        receiver.start()
        if ui:
            LOG.warning("pit serve: Dagster UI on http://%s:%d", host, ui_port)
        while not stop.wait(0.5):
            if daemon.poll() is not None:
                LOG.error("pit serve: the Dagster process exited with status %s", daemon.returncode)
                status = 1
                break
            if not receiver.is_alive():
                LOG.error("pit serve: the webhook receiver stopped (is port %d free?)", port)
                status = 1
                break
        LOG.warning("pit serve: shutting down...")
        server.should_exit = True
        receiver.join(timeout=STOP_GRACE_S)
    finally:
        _stop_group(daemon)
        instance.dispose()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    LOG.warning("pit serve: stopped")
    return status


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the process group of `process`, then SIGKILL whatever is left after the grace period."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_GRACE_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        process.wait(timeout=STOP_GRACE_S)
