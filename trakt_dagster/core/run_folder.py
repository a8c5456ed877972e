"""The run folder `<runs_dir>/<run id>/`: manifest.json, logs/<task>.log, data/, project/ snapshot."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import re
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path

from trakt_dagster.core.atomic import atomic_replace_text, atomic_write_text
from trakt_dagster.core.graph import SnapshotSpec
from trakt_dagster.core.manifest import RunManifest, to_json
from trakt_dagster.core.redact import Redactor

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_OPEN_LOGS = 64
"""Task log files a run keeps open at once (opening a file per line is slow with many small tasks)."""
_LOG_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
"""How a task log file is opened: appended to, created when missing, not inherited by child processes."""
MAX_PENDING_LOG_LINES = 64
"""Task log lines held at most before they are written (the bridge writes them at its next checkpoint)."""
SKIPPED_DIRS = frozenset({".git", "__pycache__", ".venv", "node_modules", ".ipynb_checkpoints", ".pytest_cache"})


FREE_WRITES = 8
"""The first manifest writes of a run are never deferred (a short run's manifest follows every event)."""
WRITE_SHARE = 0.005
"""After those, manifest writes take at most about this share of the run's time (see `WritePacer`)."""
MAX_WRITE_DELAY_S = 1.0
"""A deferred manifest write waits at most this long."""


class WritePacer:
    """Decides when a running manifest may be rewritten, so that writing it stays a small part of a run.

    Every rewrite replaces the whole file (atomically: a new file renamed over the old one, which on ext4 and
    other file systems also starts writing the new file to disk), so a run of many short tasks that rewrote
    it at every task start and end would spend most of its own time on it. The first `free` writes of a run
    are due at once (a short run's manifest, and the start of a long run, follow every event); after that a
    write is due once `cost / share` seconds passed since the previous one (`cost`: how long the previous
    write took), but never later than `max_delay` seconds; `urgent()` (a task failed) makes the next write
    due at once. The bridge also writes at the end of every run, whatever happens.

    Example:
        >>> pacer = WritePacer(free=1, share=0.5, max_delay=10)
        >>> pacer.due(now=0.0)
        0.0
        >>> pacer.wrote(started=0.0, ended=1.0)
        >>> pacer.due(now=1.5), pacer.due(now=3.0)
        (1.5, 0.0)
    """

    def __init__(self, *, free: int | None = None, share: float | None = None, max_delay: float | None = None):
        self.free = FREE_WRITES if free is None else free
        self.share = WRITE_SHARE if share is None else share
        self.max_delay = MAX_WRITE_DELAY_S if max_delay is None else max_delay
        self.writes = 0
        self._next = 0.0
        self._urgent = False

    def due(self, now: float | None = None) -> float:
        """Seconds until the next write is due (0.0: now)."""
        if self._urgent or self.writes < self.free:
            return 0.0
        return max(0.0, self._next - (time.monotonic() if now is None else now))

    def urgent(self) -> None:
        """The next write is due at once (e.g. a task failed)."""
        self._urgent = True

    def wrote(self, started: float, ended: float) -> None:
        """Record a write that took from `started` to `ended` (`time.monotonic()`)."""
        self.writes += 1
        self._urgent = False
        self._next = ended + min(self.max_delay, (ended - started) / self.share)


@functools.lru_cache(maxsize=4096)
def log_file_name(task_key: str) -> str:
    """A file name for a task's log (`logs/<task>.log`), safe on every file system."""
    return (_UNSAFE.sub("_", task_key).strip("._") or "task") + ".log"


class RunFolder:
    """Owns one run's folder and keeps its manifest current (rewritten atomically as the run goes on, paced
    by `WritePacer`, and whenever the run ends).

    Example:
        >>> # folder = RunFolder(Path("runs") / run_id, manifest, copies=[Path("out/manifest.json")])
        >>> # folder.create(); folder.log("clean", "INFO", "12 rows"); folder.write_manifest()
    """

    def __init__(
        self,
        path: Path,
        manifest: RunManifest,
        *,
        copies: Iterable[Path] = (),
        redactor: Redactor | None = None,
        fragment: str | None = None,
        run_plan: Iterable[str] = (),
    ) -> None:
        self.path = Path(path)
        self.manifest = manifest
        self.copies = [Path(p) for p in copies]
        self.redactor = redactor or Redactor()
        self.fragment = fragment
        """Step granularity: this op's name; the manifest then merges every op's fragment."""
        self.run_plan = list(run_plan)
        self.dirty = False
        """Whether the manifest changed since it was last written."""
        self.pacer = WritePacer()
        """When the running manifest may be rewritten next (`write_due`)."""
        self._lock = threading.Lock()
        self._logs: OrderedDict[str, int] = OrderedDict()
        """Open task log files (descriptors), least recently written first."""
        self._pending: dict[str, list[bytes]] = {}
        """Task log lines not written yet, per task in the order logged (see `log`)."""
        self._pending_lines = 0
        self._deferred: set[str] = set()
        """Tasks whose log file their worker creates (`defer_open`)."""
        self._logs_path = str(self.logs_dir)
        self._stamp: tuple[int, str] = (-1, "")
        """The last second a log line was stamped with, and its text (formatted once per second)."""

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def logs_dir(self) -> Path:
        return self.path / "logs"

    @property
    def data_dir(self) -> Path:
        return self.path / "data"

    def create(self) -> None:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def write_due(self) -> float | None:
        """None when the manifest is unchanged, else the seconds until its rewrite is due (0.0: now)."""
        return self.pacer.due() if self.dirty else None

    def write_manifest(self) -> None:
        """Rewrite manifest.json (and its copies) atomically with the run's current state."""
        started = time.monotonic()
        with self._lock:
            self.dirty = False
            if self.fragment is None:
                data = self.manifest.to_dict()
            else:
                with self._file_lock():
                    fragments_dir = self.path / "fragments"
                    own = self.redactor.text(json.dumps(self.redactor.data(self.manifest.fragment()), default=str))
                    atomic_write_text(fragments_dir / f"{log_file_name(self.fragment)[:-4]}.json", own)
                    fragments = [json.loads(p.read_text()) for p in sorted(fragments_dir.glob("*.json"))]
                    data = self.manifest.merged(fragments, self.run_plan)
            running = data["status"] == "running"
            if running and self.fragment is None and not self.redactor:
                text = self.manifest.running_json(data)  # the same text, re-encoding only the changed tasks
            else:
                # masked before serialising (escaping would hide a secret from a text search), then as text
                text = self.redactor.text(to_json(self.redactor.data(data), compact=running))
            atomic_replace_text(self.manifest_path, text, copies=self.copies)
            self.pacer.wrote(started, time.monotonic())
        if data["status"] != "running":
            self.close_logs()

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".manifest.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def log(self, task_key: str, level: str, message: str) -> None:
        """Add a line to `logs/<task>.log`, stamped now; it is written by the next `flush_logs()`.

        The bridge flushes whenever no further runner event is waiting, before it lets an announced task start
        and before the runner waits for events (and every `MAX_PENDING_LOG_LINES` lines), so a task's lines
        of one burst of events (its tool events, its end, the next task's start) cost one `write` per file,
        and a killed run loses no line from before the current burst. The timestamp's date and time part is
        formatted once per second. Both matter because every task writes several lines and this runs in the
        thread that hands events to Dagster."""
        now_ns = time.time_ns()
        second, millis = divmod(now_ns // 1_000_000, 1000)
        stamp = self._stamp  # (one tuple: threads logging at once never see one second's text with another's)
        if stamp[0] != second:
            stamp = self._stamp = (second, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second)))
        line = self.redactor.text(f"{stamp[1]}.{millis:03d} {level.upper():<7} {message}\n")
        data = line.encode("utf-8")
        with self._lock:
            lines = self._pending.get(task_key)
            if lines is None:
                self._pending[task_key] = [data]
            else:
                lines.append(data)
            self._pending_lines += 1
            if self._pending_lines >= MAX_PENDING_LOG_LINES:
                self._write_pending()

    def flush_logs(self) -> None:
        """Write the task log lines `log` gathered: one unbuffered `write` per file, on a descriptor opened with
        O_APPEND (recent files are kept open), so the lines are in the file as soon as this returns. The lines
        of a task whose file its worker creates (`defer_open`) wait for `open_log`."""
        if self._pending:
            with self._lock:
                self._write_pending()

    def defer_open(self, task_key: str) -> None:
        """Leave creating `task_key`'s log file (and writing its first lines) to `open_log`, called by the
        task's worker thread before the task runs: creating a file is the costly part of a line on some file
        systems, and there it runs beside the thread that hands events to Dagster instead of inside it."""
        with self._lock:
            if task_key not in self._logs:
                self._deferred.add(task_key)

    def open_log(self, task_key: str) -> None:
        """Create (or open) `task_key`'s log file and write the lines waiting for it (see `defer_open`). When
        the file cannot be created here, the next `flush_logs` creates it (and reports the error)."""
        if task_key not in self._deferred:
            return
        try:
            fd: int | None = self._open_log_file(task_key)
        except OSError:
            fd = None
        with self._lock:
            self._deferred.discard(task_key)
            if fd is not None:
                if task_key in self._logs:  # (opened meanwhile: keep that one)
                    os.close(fd)
                else:
                    self._remember(task_key, fd)
                lines = self._pending.pop(task_key, None)
                if lines:
                    self._pending_lines -= len(lines)
                    _write_all(self._logs[task_key], lines)

    def _open_log_file(self, task_key: str) -> int:
        return os.open(os.path.join(self._logs_path, log_file_name(task_key)), _LOG_FLAGS, 0o666)

    def _remember(self, task_key: str, fd: int) -> None:
        if len(self._logs) >= MAX_OPEN_LOGS:
            os.close(self._logs.popitem(last=False)[1])
        self._logs[task_key] = fd

    def _write_pending(self, *, force: bool = False) -> None:
        pending, self._pending = self._pending, {}
        self._pending_lines = 0
        for task_key, lines in pending.items():
            fd = self._logs.pop(task_key, None)
            if fd is None:
                if task_key in self._deferred and not force:  # its worker creates the file
                    self._pending[task_key] = lines
                    self._pending_lines += len(lines)
                    continue
                self._deferred.discard(task_key)
                fd = self._open_log_file(task_key)
                self._remember(task_key, fd)
            else:
                self._logs[task_key] = fd  # (most recently written last)
            _write_all(fd, lines)

    def close_logs(self) -> None:
        """Write every gathered task log line and close the files kept open (done when the finished manifest
        is written)."""
        with self._lock:
            try:
                self._write_pending(force=True)
            finally:
                for fd in self._logs.values():
                    os.close(fd)
                self._logs.clear()
                self._deferred.clear()

    def snapshot(self, spec: SnapshotSpec, exclude: Iterable[Path] = ()) -> Path:
        """Copy the pipeline's source files into `project/` (what ran, for later inspection)."""
        target = self.path / "project"
        copy_tree(spec, target, exclude=exclude)
        return target


def _write_all(fd: int, lines: list[bytes]) -> None:
    data = lines[0] if len(lines) == 1 else b"".join(lines)
    while data:  # a short write (e.g. a full disk's last bytes) continues where it stopped
        data = data[os.write(fd, data) :]


AGE_KEY_MARK = b"AGE-SECRET-KEY-"
"""age private keys (identity files) start with this, after optional `#` comment lines."""


def is_private_key_file(path: Path) -> bool:
    """Whether `path` looks like an age identity (private key) file, which snapshots never copy.

    Example:
        >>> import tempfile
        >>> key = Path(tempfile.mkdtemp()) / "key.txt"
        >>> _ = key.write_text("# created: 2026-01-01\\nAGE-SECRET-KEY-1QQQ\\n")
        >>> is_private_key_file(key)
        True
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError:
        return False
    for line in head.splitlines():
        line = line.strip()
        if line and not line.startswith(b"#"):
            return line.startswith(AGE_KEY_MARK)
    return False


def copy_tree(spec: SnapshotSpec, target: Path, exclude: Iterable[Path] = ()) -> int:
    """Copy the files `spec` selects from `spec.root` into `target`; returns the number copied.

    Skips VCS/cache/virtualenv folders, symlinks, excluded folders and files (`exclude`: e.g. the
    secrets file a tool reads), age private keys, any folder holding `target` (a runs folder inside the
    project) and files larger than `spec.max_file_bytes`.
    """
    root = spec.root.resolve()
    target_abs = target.resolve()
    excluded = {p.resolve() for p in (*spec.exclude_dirs, *exclude)}
    if spec.files:
        copied = 0
        for src in spec.files:
            if Path(src).resolve() in excluded or is_private_key_file(Path(src)):
                continue
            dest = target / Path(src).resolve().relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
            copied += 1
        return copied
    copied = 0
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in SKIPPED_DIRS
            and not (here / d).is_symlink()
            and (here / d).resolve() not in excluded
            and not target_abs.is_relative_to((here / d).resolve())
        )
        for name in sorted(filenames):
            src = here / name
            if src.is_symlink():
                continue
            if spec.suffixes is not None and src.suffix.lower() not in spec.suffixes:
                continue
            try:
                if src.stat().st_size > spec.max_file_bytes:
                    continue
            except OSError:
                continue
            if src.resolve() in excluded or is_private_key_file(src):
                continue
            dest = target / src.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
            copied += 1
    target.mkdir(parents=True, exist_ok=True)
    return copied
