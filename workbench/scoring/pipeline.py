"""Scoring images while they arrive: a sweep or a hunt hands each stored image to a
`ScoringPipeline`, which scores it in a worker process (started once, not once per round) and
keeps the verdicts in the scores table, so scoring overlaps the requests instead of following
them.

The event loop only queues work and gets results back: decoding, the face search and both
descriptors run in the worker (`runner.score_batch`, the same code as `workbench score`), and
the scores table is written from a thread. Verdicts are appended about once a second (and at
the end); a run killed in between loses at most that second of scoring, never an image: the
next `workbench score`, or a resumed hunt, scores what is missing.

How many workers (`pipeline_workers`): each worker process loads dlib and the scoring stack
(about 250 MB of its own), so a small job (up to 64 images) is scored in a thread of this
process instead, and a bigger one gets one worker per 64 images, at most one per core. An image
costs about 170 ms of CPU at 512x512 (style 85 ms, identity 119 ms when scored apart; measured
on the two-core machine), so on two cores scoring keeps up with about 10 images a second.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import heapq
import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from workbench.catalogue import CatalogueRow
from workbench.face_models import face_detector, face_recognition_model, shape_predictor
from workbench.layout import DataLayout
from workbench.owned_workers import start_owned_worker
from workbench.run import Generates, ProgressCallback, SweepRun, SweepSummary
from workbench.scoring.identity import IDENTITY_SCORER, IDENTITY_VERSION
from workbench.scoring.runner import COMPACT_PARTS, _references, _Work, score_batch
from workbench.scoring.store import ScoreRow, ScoreStore
from workbench.scoring.style import STYLE_SCORER, STYLE_VERSION
from workbench.sweep import Cell

__all__ = ["ScoringPipeline", "StoredImage", "pipeline_workers", "score_while_sweeping"]

# Images sent to a worker together; small, so that a result comes back soon after its image.
BATCH = 4
# Added to the priority of deferred identity work: after every style verdict waiting.
DEFERRED = 1_000_000
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
    """Worker processes for scoring `images` while they arrive: 0 (a thread of this process)
    for a few, else one per INLINE_MAX_IMAGES images, at most one per core."""
    if images <= INLINE_MAX_IMAGES:
        return 0
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return max(1, min(cores, -(-images // INLINE_MAX_IMAGES)))


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
        defer_identity: bool = False,
    ):
        self.layout = layout
        self.workers = workers
        # Score the style first and the identity (2.5 x the work: the face descriptor) when no
        # style waits: for a caller that decides on style alone (a hunt without min_identity).
        self.defer_identity = defer_identity
        self.on_scored = on_scored
        self.store = ScoreStore(layout)
        self.submitted = 0  # images queued for scoring
        self.done = 0  # images scored (or found unscorable)
        self._queue: list[tuple[int, int, _Work]] = []  # (priority, order, work): a heap
        self._order = itertools.count()
        self._jobs: dict[tuple[str, str], int] = {}  # jobs still to finish, per image
        self._flushing = False
        self._tasks: set[asyncio.Task] = set()
        self._unwritten: list[ScoreRow] = []
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
        """Look up what is scored already, then start the workers, which load the scoring
        stack, dlib's models and the descriptors of the reference faces `face_hashes` at once
        (in the background, before the first image; other faces when first needed)."""
        loop = asyncio.get_running_loop()
        identity, style = await loop.run_in_executor(self._io, self._scored_keys)
        self._seen = (identity, style)
        faces = sorted(set(face_hashes))
        if self.workers > 0:
            # Starting processes blocks for a while: not on the event loop.
            self._executor = await loop.run_in_executor(self._io, self._start_workers)
        else:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="score")
        for _ in range(max(1, self.workers)):
            # Each worker computes the reference faces' descriptors once (dlib holds the GIL
            # for a second or so: never in this process, whose event loop serves others).
            self._background(
                loop.run_in_executor(self._executor, warm_up, str(self.layout.root), faces)
            )
        self._writer = asyncio.create_task(self._write_every_second())

    def _start_workers(self) -> concurrent.futures.Executor:
        # spawn: the caller runs threads (the event loop's helpers, an embedded simulator).
        context = multiprocessing.get_context("spawn")
        return concurrent.futures.ProcessPoolExecutor(
            self.workers,
            mp_context=context,
            initializer=start_owned_worker,
            initargs=(os.getpid(),),
        )

    def _background(self, awaitable) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _scored_keys(self) -> tuple[set, set]:
        return (
            self.store.scored_keys(IDENTITY_SCORER, IDENTITY_VERSION),
            self.store.scored_keys(STYLE_SCORER, STYLE_VERSION),
        )

    @property
    def pending(self) -> int:
        return self.submitted - self.done

    def add(self, images: Sequence[StoredImage], *, priority: int = 0) -> list[tuple[bool, bool]]:
        """Queue images for scoring (call on the event loop), lower `priority` first. Returns,
        per image, whether a style and an identity verdict are still to come (False: the
        current scorer version has one already, or it is queued)."""
        if self._executor is None:
            raise RuntimeError("start the pipeline first (async with ScoringPipeline(...))")
        identity_seen, style_seen = self._seen
        needs = []
        for image in images:
            key = (image.image_hash, image.face_hash)
            identity, style = key not in identity_seen, key not in style_seen
            needs.append((style, identity))
            if not (identity or style):
                continue
            identity_seen.add(key)
            style_seen.add(key)
            work = _Work(
                image_hash=image.image_hash,
                face_hash=image.face_hash,
                path=str(self.layout.root / image.path),
                identity=identity,
                style=style,
                reference=None,  # filled in when sent: the descriptor may need a look-up
                reference_error=None,
            )
            if self.defer_identity and identity and style:
                self._push(replace(work, identity=False), priority)
                self._push(replace(work, style=False), priority + DEFERRED)
                self._jobs[key] = 2
            else:
                self._push(work, priority if style else priority + DEFERRED)
                self._jobs[key] = 1
            self.submitted += 1
        self._dispatch()
        return needs

    def _push(self, work: _Work, priority: int) -> None:
        heapq.heappush(self._queue, (priority, next(self._order), work))

    def _dispatch(self) -> None:
        """Keep two batches per worker in flight (so none waits for the next), the most urgent
        work first; a batch not yet full waits BATCH_WAIT_S for more."""
        while self._queue and len(self._tasks) < 2 * max(1, self.workers):
            if len(self._queue) < BATCH and self._flush_handle is None and not self._flushing:
                loop = asyncio.get_running_loop()
                self._flush_handle = loop.call_later(BATCH_WAIT_S, self._flush)
                return
            if len(self._queue) < BATCH and not self._flushing:
                return
            batch = [heapq.heappop(self._queue)[2] for _ in range(min(BATCH, len(self._queue)))]
            task = asyncio.create_task(self._score(batch))
            self._tasks.add(task)
            task.add_done_callback(self._finished)

    def _flush(self) -> None:
        self._flush_handle = None
        self._flushing = True
        try:
            self._dispatch()
        finally:
            self._flushing = False

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: `error` and `broken` carry it to whoever waits
            self._flush()

    async def _score(self, batch: list[_Work]) -> None:
        loop = asyncio.get_running_loop()
        try:
            rows = await loop.run_in_executor(
                self._executor, score_in_worker, str(self.layout.root), batch
            )
        except Exception as exc:  # a worker that died (BrokenProcessPool), say
            if self.error is None:
                self.error = exc
            self.broken.set()
            raise
        self._unwritten.extend(rows)
        for work in batch:  # an image is done when its last verdict is in
            key = (work.image_hash, work.face_hash)
            self._jobs[key] -= 1
            if not self._jobs[key]:
                del self._jobs[key]
                self.done += 1
        if self.on_scored is not None:
            self.on_scored(rows)

    async def wait(self) -> None:
        """Until every image added so far is scored and its verdict written."""
        while self._tasks or self._queue:
            self._flush()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
            if self.error is not None:
                break
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
                self._queue.clear()
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
            loop = asyncio.get_running_loop()
            if self._executor is not None:
                # Waiting for worker processes to exit blocks: not on the event loop.
                stop = functools.partial(
                    self._executor.shutdown, wait=not cancel, cancel_futures=cancel
                )
                self._executor = None
                await loop.run_in_executor(self._io, stop)
            if self._wrote_parts:
                await loop.run_in_executor(self._io, self._compact)
            self._io.shutdown(wait=False)

    def _compact(self) -> None:
        if len(self.store.dataset.parts()) > COMPACT_PARTS:
            self.store.compact()


# In each worker: the reference faces' descriptors, by data root and face hash.
_REFERENCES: dict[tuple[str, str], tuple[np.ndarray | None, str | None]] = {}


def warm_up(root: str, face_hashes: Sequence[str]) -> None:
    """Run first in each worker: load dlib's models and the reference faces' descriptors, so
    the first image waits for none of them."""
    face_detector()
    shape_predictor(5)
    shape_predictor(68)
    face_recognition_model()
    _reference_descriptors(root, face_hashes)


def _reference_descriptors(root: str, face_hashes: Iterable[str]) -> None:
    missing = {face for face in face_hashes if (root, face) not in _REFERENCES}
    if missing:
        found = _references(DataLayout(Path(root)), missing)
        _REFERENCES.update({(root, face): value for face, value in found.items()})


def score_in_worker(root: str, batch: Sequence[_Work]) -> list[ScoreRow]:
    """`runner.score_batch`, with each reference face's descriptor computed here, once."""
    _reference_descriptors(root, {work.face_hash for work in batch if work.identity})
    ready = []
    for work in batch:
        reference, error = _REFERENCES.get((root, work.face_hash), (None, None))
        ready.append(replace(work, reference=reference, reference_error=error))
    return score_batch(ready)


async def score_while_sweeping(
    run: SweepRun,
    client: Generates,
    *,
    backend: str,
    on_progress: ProgressCallback | None = None,
    on_scored: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> tuple[SweepSummary, ScoringPipeline]:
    """Execute a prepared sweep and score each image it stores as it arrives (the sweep tab,
    `workbench sweep --score`): when the last request is answered, only the last few images
    are left to score. `on_scored(done, submitted)` follows the scoring.

    Scoring runs in worker processes (one at least: in a thread it would hold the event loop's
    GIL), so the loop stays free for the requests and for an app's other users. Cancelling
    keeps every image and every verdict already received; the rest is left for
    `workbench score`. Returns the sweep's summary and the pipeline (its counts)."""
    workers = max(1, pipeline_workers(run.pending_images)) if workers is None else workers
    previous = run.on_cell

    def on_cell(cell: Cell, outcome: str, rows: list[CatalogueRow]) -> None:
        if previous is not None:
            previous(cell, outcome, rows)
        if outcome == "stored":
            pipeline.add([StoredImage(r.image_hash, r.face_hash, r.image_path) for r in rows])
            if on_scored is not None:
                on_scored(pipeline.done, pipeline.submitted)

    def scored(_rows: list[ScoreRow]) -> None:
        if on_scored is not None:
            on_scored(pipeline.done, pipeline.submitted)

    pipeline = ScoringPipeline(run.layout, workers=workers, on_scored=scored)
    await pipeline.start(dict.fromkeys(cell.face_hash for cell in run.pending))
    run.on_cell = on_cell
    try:
        summary = await run.execute(client, backend=backend, on_progress=on_progress)
    except BaseException:
        await pipeline.close(cancel=True)
        raise
    finally:
        run.on_cell = previous
    await pipeline.close(cancel=summary.stopped == "cancelled")
    return summary, pipeline
