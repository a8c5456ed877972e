"""`core.guard`: processes registered by a worker die with it, whichever thread registered them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil

from tests.conftest import REPO

WORKER = """
import subprocess, sys, threading, time
sys.path.insert(0, {repo!r})
from trakt_dagster.core.guard import guard_process, guardian_pid

started = {{}}

def start(name, group):
    # a group leader with a child of its own (a grandchild of the worker), or a single process
    cmd = ["bash", "-c", "sleep 600 & echo $!; wait"] if group else ["sleep", "600"]
    proc = subprocess.Popen(cmd, start_new_session=group, stdout=subprocess.PIPE, text=True)
    guard_process(proc.pid, group=group)
    started[name] = [proc.pid] + ([int(proc.stdout.readline())] if group else [])

threads = [threading.Thread(target=start, args=("g", True)), threading.Thread(target=start, args=("p", False))]
for t in threads:
    t.start()
for t in threads:
    t.join()  # the threads that started (and registered) the processes are gone now
done = subprocess.Popen(["sleep", "600"], start_new_session=True)
release = guard_process(done.pid)
release()  # released: not the guardian's business any more
print(guardian_pid(), *started["g"], *started["p"], done.pid, flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


def wait_gone(pids: list[int], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        assert time.monotonic() < deadline, [p for p in pids if alive(p)]
        time.sleep(0.05)


def test_registered_processes_die_with_their_worker_even_after_the_registering_thread_ended() -> None:
    worker = subprocess.Popen([sys.executable, "-c", WORKER.format(repo=str(REPO))], stdout=subprocess.PIPE, text=True)
    assert worker.stdout is not None
    guardian, leader, grandchild, single, released = (int(x) for x in worker.stdout.readline().split())
    try:
        assert all(alive(p) for p in (guardian, leader, grandchild, single, released))  # thread exit killed nothing
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=60)
        wait_gone([leader, grandchild, single, guardian])
        assert alive(released)  # released before the worker died: left alone
    finally:
        for pid in (leader, grandchild, single, released):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_reused_process_id_is_not_killed() -> None:
    from trakt_dagster.core.guard import GUARDIAN_SOURCE

    # the guardian is told about a process whose start time does not match: it must leave it alone
    victim = subprocess.Popen(["sleep", "600"], start_new_session=True)
    read_fd, write_fd = os.pipe()
    guardian = subprocess.Popen([sys.executable, "-I", "-S", "-c", GUARDIAN_SOURCE, str(read_fd)], pass_fds=(read_fd,))
    os.close(read_fd)
    try:
        os.write(write_fd, f"+ g {victim.pid} 1\n".encode())  # start time 1: some long-gone process
        os.close(write_fd)  # the "worker" dies
        guardian.wait(timeout=60)
        assert alive(victim.pid)
    finally:
        victim.kill()
        victim.wait(timeout=60)
