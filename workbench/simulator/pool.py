"""Where the simulator renders: in worker processes when the machine has the cores, else in
threads of the server's process.

A render is CPU work, mostly in Pillow and numpy; threads share one interpreter, so the server's
own process (HTTP, base64, and in the embedded case the sweep engine itself) would queue behind
them. Workers are forked from a forkserver that has already imported the renderer and loaded
dlib's models, so a new worker starts in milliseconds. One request's samples go to one worker,
where they share the per-style caches (backdrop, lit person layer). The pool of a given size is
shared by every simulator in the process: its workers keep their caches (faces found, styles
drawn) from one server to the next. Output is a pure function of the request, so where it is
rendered changes no byte (tests/test_simulator_golden.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing
import os
import threading
from concurrent import futures
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import anyio.to_thread

from workbench.contract import PortraitParams
from workbench.owned_workers import start_owned_worker
from workbench.simulator.cache import BoundedCache
from workbench.simulator.render import FacePhoto, photo_of, remember_photo, render_portrait

# More workers than this only add memory (each keeps its own caches, ~250 MB at most).
MAX_PROCESSES = 8
# Imported once by the forkserver: the renderer, and dlib's models loaded (see `_worker`).
_PRELOAD = ["workbench.simulator._worker"]

# A pool that breaks is replaced; one whose workers cannot even start (a script without a main
# guard, say) breaks again at once, and after this many the simulator renders in threads.
BROKEN_POOLS_BEFORE_THREADS = 2

_pools: dict[int, ProcessPoolExecutor] = {}
_broken: dict[int, int] = {}  # pools of each size that broke
_pools_lock = threading.Lock()
logger = logging.getLogger(__name__)


def default_processes() -> int:
    """Worker processes to render in: one per core this process may use, none on one core
    (a worker would only compete with the server for it)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return 0 if cores < 2 else min(cores, MAX_PROCESSES)


def render_samples(
    face_jpeg: bytes,
    params: PortraitParams,
    samples: list[int],
    model_version: int,
    photo: FacePhoto | None = None,
) -> tuple[list[bytes], FacePhoto]:
    """The JPEGs of `samples` of one request, in order (what a worker runs), and what was
    learnt of the photo; `photo`, if another worker already learnt it, spares dlib's search."""
    if photo is not None:
        remember_photo(face_jpeg, photo)
    images = [render_portrait(face_jpeg, params, i, model_version=model_version) for i in samples]
    return images, photo_of(face_jpeg)


# What the workers learnt of each photo (where its face is, how its person looks: a few floats
# and a descriptor), by SHA-256, handed to the next worker that gets the photo.
_photos: BoundedCache[FacePhoto] = BoundedCache(4096)


async def render(
    face_jpeg: bytes,
    params: PortraitParams,
    samples: list[int],
    *,
    model_version: int,
    processes: int,
) -> list[bytes]:
    """Render `samples` of one request in a pool of `processes` workers (0: in a thread)."""
    if processes <= 0 or _broken.get(processes, 0) >= BROKEN_POOLS_BEFORE_THREADS:
        images, _ = await anyio.to_thread.run_sync(
            render_samples, face_jpeg, params, samples, model_version
        )
        return images
    digest = hashlib.sha256(face_jpeg).digest()
    args = (face_jpeg, params, samples, model_version, _photos.peek(digest))
    pool = _pool(processes)
    try:
        images, photo = await asyncio.get_running_loop().run_in_executor(
            pool, render_samples, *args
        )
    except BrokenProcessPool:
        # A worker died (killed, out of memory): the next request gets a fresh pool, and this
        # one is rendered here rather than lost.
        _discard(processes, pool)
        images, photo = await anyio.to_thread.run_sync(render_samples, *args)
    _photos.put(digest, photo)
    return images


def warm(processes: int | None, *, wait: bool = False) -> None:
    """Start the pool of `processes` workers (None: `default_processes()`) now — the forkserver
    loads the renderer and dlib's models, every worker forks — so that the first requests do
    not wait for it; with `wait`, return once every worker is up."""
    processes = default_processes() if processes is None else processes
    if processes > 0:
        pool = _pool(processes)
        started = [pool.submit(int) for _ in range(processes)]
        if wait:
            futures.wait(started)


def worker_pids(processes: int) -> list[int]:
    """The process ids of the pool of `processes` workers (started so far), for benchmarks."""
    with _pools_lock:
        pool = _pools.get(processes)
        return list(pool._processes or {}) if pool is not None else []


def _pool(processes: int) -> Executor:
    with _pools_lock:
        pool = _pools.get(processes)
        if pool is None:
            pool = ProcessPoolExecutor(
                max_workers=processes,
                mp_context=_context(),
                initializer=start_owned_worker,
                initargs=(os.getpid(),),
            )
            _pools[processes] = pool
        return pool


def _discard(processes: int, pool: ProcessPoolExecutor) -> None:
    with _pools_lock:
        if _pools.get(processes) is pool:
            del _pools[processes]
            _broken[processes] = _broken.get(processes, 0) + 1
            if _broken[processes] == BROKEN_POOLS_BEFORE_THREADS:
                logger.warning(
                    "the simulator's render workers keep failing (a script that starts the "
                    "simulator needs `if __name__ == '__main__':`): rendering in threads"
                )
    pool.shutdown(wait=False, cancel_futures=True)


def _context() -> multiprocessing.context.BaseContext:
    # Fork would copy the server's threads' locks mid-use; a forkserver starts clean, once.
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")
