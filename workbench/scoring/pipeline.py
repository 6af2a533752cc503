"""Scoring images while they arrive: a sweep or a hunt hands each stored image to a
`ScoringPipeline`, which scores it in a worker process (started once, not once per round) and
keeps the verdicts in the scores table, so scoring overlaps the requests instead of following
them.

The event loop only queues work and gets results back: decoding, the face search and both
descriptors run in the worker (`runner.score_batch`, the same code as `workbench score`), and
the scores table is written from a thread. Verdicts are appended about once a second (and at
the end); a run killed in between loses at most that second of scoring, never an image: the
next `workbench score`, or a resumed hunt, scores what is missing.

One worker by default: each worker process loads dlib and the scoring stack (about 350 MB), and
on a machine that also renders the simulator one scoring core keeps up with an API at
C / L = 8 images per second (512x512, ~75 ms an image). `workers=0` scores in a thread of this
process instead (no extra process; for small jobs, where a worker's start would cost more than
the scoring).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from workbench.layout import DataLayout
from workbench.scoring.identity import IDENTITY_SCORER, IDENTITY_VERSION
from workbench.scoring.runner import COMPACT_PARTS, _references, _Work, score_batch
from workbench.scoring.store import ScoreRow, ScoreStore
from workbench.scoring.style import STYLE_SCORER, STYLE_VERSION

__all__ = ["ScoringPipeline", "StoredImage", "pipeline_workers"]

# Images sent to the worker together; small, so that a result comes back soon after its image.
BATCH = 4
# A batch not yet full is sent after this long anyway.
BATCH_WAIT_S = 0.05
# Verdicts are written to the scores table this often (one Parquet part each time).
WRITE_EVERY_S = 1.0
# Below this many images, scoring in a thread beats starting a worker (a spawned worker takes
# 2-9 s to import the scoring stack and load dlib on a busy two-core machine).
INLINE_MAX_IMAGES = 64

ScoredCallback = Callable[[list[ScoreRow]], None]


@dataclass(frozen=True)
class StoredImage:
    """An image to score: its hash, the reference face's hash and its path under the data root."""

    image_hash: str
    face_hash: str
    path: str  # relative to the data root, as the catalogue's image_path


def pipeline_workers(images: int, *, cores: int | None = None) -> int:
    """Worker processes for scoring `images` while they arrive: 0 (a thread) for a few, else
    one per core but one (the core left renders, stores and runs the event loop), one at least;
    no more than one per INLINE_MAX_IMAGES images."""
    if images <= INLINE_MAX_IMAGES:
        return 0
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return max(1, min(cores - 1, -(-images // INLINE_MAX_IMAGES)))


class ScoringPipeline:
    """Scores stored images as they are `add`ed, off the event loop; use as `async with`.

    `on_scored(rows)` is called on the event loop with each batch's verdicts (both scorers'
    rows for every image of the batch), after they are queued for the scores table.
    Images the current scorer versions have already scored are not scored again.
    """

    def __init__(
        self,
        layout: DataLayout,
        *,
        workers: int = 1,
        on_scored: ScoredCallback | None = None,
    ):
        self.layout = layout
        self.workers = workers
        self.on_scored = on_scored
        self.store = ScoreStore(layout)
        self.submitted = 0  # images queued for scoring
        self.done = 0  # images scored (or found unscorable)
        self._queued: list[_Work] = []
        self._tasks: set[asyncio.Task] = set()
        self._unwritten: list[ScoreRow] = []
        self._references: dict[str, tuple[np.ndarray | None, str | None]] = {}
        self._seen: tuple[set, set] = (set(), set())
        self._executor: concurrent.futures.Executor | None = None
        self._io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="score-io")
        self._flush_handle: asyncio.TimerHandle | None = None
        self._writer: asyncio.Task | None = None
        self._wrote_parts = 0
        # Set, with `error`, if scoring itself broke (a worker died): waiting callers stop.
        self.error: BaseException | None = None
        self.broken = asyncio.Event()

    async def __aenter__(self) -> ScoringPipeline:
        await self.start()
        return self

    async def __aexit__(self, kind, exc, traceback) -> None:
        await self.close(cancel=kind is not None)

    async def start(self, face_hashes: Iterable[str] = ()) -> None:
        """Start the worker and look up what is scored already (and the reference faces'
        descriptors for `face_hashes`; others are looked up when first needed)."""
        loop = asyncio.get_running_loop()
        identity, style = await loop.run_in_executor(self._io, self._scored_keys)
        self._seen = (identity, style)
        await self._reference(set(face_hashes))
        if self.workers > 0:
            # spawn: the caller runs threads (the event loop's helpers, an embedded simulator).
            context = multiprocessing.get_context("spawn")
            self._executor = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=context
            )
        else:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="score")
        self._writer = asyncio.create_task(self._write_every_second())

    def _scored_keys(self) -> tuple[set, set]:
        return (
            self.store.scored_keys(IDENTITY_SCORER, IDENTITY_VERSION),
            self.store.scored_keys(STYLE_SCORER, STYLE_VERSION),
        )

    async def _reference(self, face_hashes: set[str]) -> None:
        missing = face_hashes - set(self._references)
        if missing:
            loop = asyncio.get_running_loop()
            found = await loop.run_in_executor(self._io, _references, self.layout, missing)
            self._references.update(found)

    @property
    def pending(self) -> int:
        return self.submitted - self.done

    def add(self, images: Sequence[StoredImage]) -> int:
        """Queue images for scoring (call on the event loop); returns how many need it."""
        if self._executor is None:
            raise RuntimeError("start the pipeline first (async with ScoringPipeline(...))")
        identity_seen, style_seen = self._seen
        added = 0
        for image in images:
            key = (image.image_hash, image.face_hash)
            identity, style = key not in identity_seen, key not in style_seen
            if not (identity or style):
                continue
            identity_seen.add(key)
            style_seen.add(key)
            self._queued.append(
                _Work(
                    image_hash=image.image_hash,
                    face_hash=image.face_hash,
                    path=str(self.layout.root / image.path),
                    identity=identity,
                    style=style,
                    reference=None,  # filled in when sent: the descriptor may need a look-up
                    reference_error=None,
                )
            )
            added += 1
        self.submitted += added
        if len(self._queued) >= BATCH:
            self._send()
        elif self._queued and self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(BATCH_WAIT_S, self._send)
        return added

    def _send(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        while self._queued:
            batch, self._queued = self._queued[:BATCH], self._queued[BATCH:]
            task = asyncio.create_task(self._score(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _score(self, batch: list[_Work]) -> None:
        await self._reference({work.face_hash for work in batch if work.identity})
        ready = []
        for work in batch:
            reference, error = self._references.get(work.face_hash, (None, None))
            ready.append(replace(work, reference=reference, reference_error=error))
        loop = asyncio.get_running_loop()
        try:
            rows = await loop.run_in_executor(self._executor, score_batch, ready)
        except Exception as exc:  # a worker that died (BrokenProcessPool), say
            if self.error is None:
                self.error = exc
            self.broken.set()
            raise
        self._unwritten.extend(rows)
        self.done += len(batch)
        if self.on_scored is not None:
            self.on_scored(rows)

    async def wait(self) -> None:
        """Until every image added so far is scored and its verdict written."""
        self._send()
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
        if self.error is not None:
            raise self.error
        await self._write()

    async def _write(self) -> None:
        rows, self._unwritten = self._unwritten, []
        if rows:
            loop = asyncio.get_running_loop()
            await asyncio.shield(loop.run_in_executor(self._io, self.store.append, rows))
            self._wrote_parts += 1

    async def _write_every_second(self) -> None:
        while True:
            await asyncio.sleep(WRITE_EVERY_S)
            await self._write()

    async def close(self, *, cancel: bool = False) -> None:
        """Finish (or, with `cancel`, drop) the queued work, write every verdict, stop the
        worker. Verdicts already received are always written."""
        try:
            if cancel:
                if self._flush_handle is not None:
                    self._flush_handle.cancel()
                self._queued.clear()
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            else:
                await self.wait()
        finally:
            if self._writer is not None:
                self._writer.cancel()
                await asyncio.gather(self._writer, return_exceptions=True)
            await self._write()
            if self._executor is not None:
                self._executor.shutdown(wait=not cancel, cancel_futures=cancel)
                self._executor = None
            if self._wrote_parts and len(self.store.dataset.parts()) > COMPACT_PARTS:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._io, self.store.compact)
            self._io.shutdown(wait=True)
