"""Worker processes that end with the process that started them (their owner): the simulator's
render pool and the scoring pipeline start theirs with `start_owned_worker` as the pool's
initializer, passing `os.getpid()` of the owner.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

__all__ = ["OWNER_CHECK_S", "process_alive", "start_owned_worker"]

# How often a worker looks whether its owner is still there.
OWNER_CHECK_S = 1.0


def start_owned_worker(owner: int) -> None:
    """First thing in each worker. Ctrl-C reaches every process of the terminal's group: the
    owner handles it and ends its pool, so the worker ignores it (it would only print a
    traceback). A pool's workers wait on a queue whose writing end they hold themselves, so an
    owner killed outright (kill -9, a crash) never tells them to stop: they watch it instead."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(owner,), name="owner-watch", daemon=True).start()


def _exit_with(owner: int) -> None:
    while process_alive(owner):
        time.sleep(OWNER_CHECK_S)
    os._exit(0)


def process_alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return False
        try:  # no /proc (not Linux): signal 0 only asks whether the process exists
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
