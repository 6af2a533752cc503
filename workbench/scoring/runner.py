"""Score the catalogue's images, only the new work: an image is scored by a scorer version once,
and the verdict kept in the scores table. Re-running on a fully scored catalogue reads two
columns of two tables and stops; a new scorer version re-scores with that scorer only.

Images are scored on every core (a process pool: dlib holds one lock per process), and each
finished batch is appended at once, so an interrupted run keeps what it did.
"""

from __future__ import annotations

import concurrent.futures
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from workbench.catalogue import STATUS_OK, Catalogue
from workbench.errors import ERROR_CHARS, InputError
from workbench.layout import DataLayout
from workbench.panel import Panel
from workbench.scoring.face import find_face
from workbench.scoring.identity import _MAX_SIDE as IDENTITY_SIDE
from workbench.scoring.identity import (
    IDENTITY_SCORER,
    IDENTITY_VERSION,
    descriptor_of,
    descriptor_similarity,
    face_descriptor,
)
from workbench.scoring.images import load_rgb
from workbench.scoring.store import ScoreRow, ScoreStore
from workbench.scoring.style import _GRAIN_SIDE as STYLE_SIDE
from workbench.scoring.style import STYLE_SCORER, STYLE_VERSION, describe_picture, describe_style

# Images per task sent to a worker: big enough that process hand-over is noise.
BATCH = 8
# Below this many images a pool costs more to start (each worker loads dlib) than it saves.
POOL_MIN_IMAGES = 24
# Appending many small parts makes later reads slow; past this many, they are merged.
COMPACT_PARTS = 32
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class ScoreSummary:
    """What one `score_catalogue` run did."""

    images: int  # stored images it looked at (the catalogue's, or one sweep's)
    scored: int  # images scored now (by at least one scorer)
    already_scored: int  # images every current scorer had already scored: skipped
    no_face: int  # of those scored now, outputs where no face was found
    errors: int  # images that could not be scored (unreadable, missing reference)
    elapsed_s: float
    workers: int

    @property
    def images_per_s(self) -> float:
        return self.scored / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True)
class _Work:
    image_hash: str
    face_hash: str
    path: str  # absolute path of the stored image
    identity: bool  # whether the identity scorer still has to see it
    style: bool
    reference: np.ndarray | None  # the reference face's descriptor
    reference_error: str | None


def score_catalogue(
    layout: DataLayout,
    *,
    sweep_id: str | None = None,
    rescore: bool = False,
    on_progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> ScoreSummary:
    """Score every stored image (or one sweep's) that the current scorer versions have not.

    `rescore` scores them all again (the new rows win). `on_progress(done, total)` is called
    as images finish. `workers` defaults to every core (one for a few images).
    """
    started = time.perf_counter()
    images = _stored_images(layout, sweep_id)
    store = ScoreStore(layout)
    if rescore:
        need_identity = need_style = set(images)
    else:
        need_identity = set(images) - store.scored_keys(IDENTITY_SCORER, IDENTITY_VERSION)
        need_style = set(images) - store.scored_keys(STYLE_SCORER, STYLE_VERSION)
    pending = sorted(need_identity | need_style)
    if not pending:
        return ScoreSummary(len(images), 0, len(images), 0, 0, time.perf_counter() - started, 0)
    references = _references(layout, {face for _, face in pending if (_, face) in need_identity})
    work = [
        _Work(
            image_hash=image,
            face_hash=face,
            path=str(layout.root / images[(image, face)]),
            identity=(image, face) in need_identity,
            style=(image, face) in need_style,
            reference=references.get(face, (None, None))[0],
            reference_error=references.get(face, (None, None))[1],
        )
        for image, face in pending
    ]
    if workers is None:
        workers = 1 if len(work) < POOL_MIN_IMAGES else os.cpu_count() or 1
    workers = max(1, min(workers, len(work)))
    done = no_face = errors = 0

    def keep(rows: list[ScoreRow]) -> None:
        nonlocal done, no_face, errors
        store.append(rows)
        done += len({(r.image_hash, r.face_hash) for r in rows})
        no_face += sum(r.face_found is False for r in rows)
        errors += len({(r.image_hash, r.face_hash) for r in rows if r.error})
        if on_progress:
            on_progress(done, len(work))

    # Several batches per worker, so that no core idles while another finishes a long one.
    size = max(1, min(BATCH, math.ceil(len(work) / (workers * 4))))
    batches = [work[i : i + size] for i in range(0, len(work), size)]
    if workers == 1:
        for batch in batches:
            keep(score_batch(batch))
    else:
        _in_pool(batches, workers, keep)
    if len(store.dataset.parts()) > COMPACT_PARTS:
        store.compact()
    return ScoreSummary(
        images=len(images),
        scored=done,
        already_scored=len(images) - len(pending),
        no_face=no_face,
        errors=errors,
        elapsed_s=time.perf_counter() - started,
        workers=workers,
    )


def _in_pool(
    batches: list[list[_Work]], workers: int, keep: Callable[[list[ScoreRow]], None]
) -> None:
    # "spawn": the caller may run threads (the app, an embedded simulator), and forking a
    # process that holds other threads' locks can deadlock the child.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(score_batch, batch) for batch in batches]
        try:
            for future in concurrent.futures.as_completed(futures):
                keep(future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def score_batch(batch: Sequence[_Work]) -> list[ScoreRow]:
    """Score a few images (in a worker process, or inline): rows for the scores table."""
    rows: list[ScoreRow] = []
    for item in batch:
        rows.extend(_score_one(item))
    return rows


def _score_one(item: _Work) -> list[ScoreRow]:
    key = {"image_hash": item.image_hash, "face_hash": item.face_hash}
    identity = {**key, "scorer": IDENTITY_SCORER, "scorer_version": IDENTITY_VERSION}
    style = {**key, "scorer": STYLE_SCORER, "scorer_version": STYLE_VERSION}
    try:
        data = Path(item.path).read_bytes()
    except OSError as exc:
        error = f"cannot read {item.path}: {exc.strerror or exc}"[:ERROR_CHARS]
        return _errors(item, identity, style, error)
    try:
        return _verdicts(item, data, identity, style)
    except InputError as exc:
        return _errors(item, identity, style, str(exc)[:ERROR_CHARS])


def _verdicts(item: _Work, data: bytes, identity: dict, style: dict) -> list[ScoreRow]:
    """Decode once and find the face once for both scorers when both would see the same
    picture (outputs up to 1024 px on the long side, the default 768x1024 among them); the
    results equal `describe_style` and `face_descriptor` on the file (a test checks)."""
    picture = load_rgb(data, max_side=IDENTITY_SIDE)
    face = find_face(picture)
    rows = []
    if item.style:
        shared = max(picture.size) <= STYLE_SIDE
        descriptor = describe_picture(picture, face) if shared else describe_style(data)
        rows.append(ScoreRow(**style, vector=descriptor.vector))
    if item.identity:
        if item.reference is None:
            rows.append(ScoreRow(**identity, error=item.reference_error))
        elif face is None:
            rows.append(ScoreRow(**identity, identity=None, face_found=False))
        else:
            similarity = descriptor_similarity(item.reference, descriptor_of(picture, face))
            rows.append(ScoreRow(**identity, identity=similarity, face_found=True))
    return rows


def _errors(item: _Work, identity: dict, style: dict, error: str) -> list[ScoreRow]:
    rows = []
    if item.style:
        rows.append(ScoreRow(**style, error=error))
    if item.identity:
        rows.append(ScoreRow(**identity, error=error))
    return rows


def _stored_images(layout: DataLayout, sweep_id: str | None) -> dict[tuple[str, str], str]:
    """(image hash, face hash) -> image path, for every stored image (of one sweep)."""
    catalogue = Catalogue(layout.catalogue)
    where = pc.field("status") == STATUS_OK
    if sweep_id is not None:
        where = where & (pc.field("sweep_id") == sweep_id)
    table = catalogue.table(["image_hash", "face_hash", "image_path"], filter=where)
    if sweep_id is not None and table.num_rows == 0:
        known = catalogue.table(["sweep_id"])["sweep_id"].unique().to_pylist()
        if sweep_id not in known:
            shown = ", ".join(sorted(known)[-5:]) or "none yet"
            raise InputError(f"no sweep {sweep_id!r} in {layout.catalogue} (recent: {shown})")
    return dict(
        zip(
            zip(table["image_hash"].to_pylist(), table["face_hash"].to_pylist(), strict=True),
            table["image_path"].to_pylist(),
            strict=True,
        )
    )


def _references(
    layout: DataLayout, face_hashes: set[str]
) -> dict[str, tuple[np.ndarray | None, str | None]]:
    """Each reference face's descriptor, from the panel (or why there is none)."""
    if not face_hashes:
        return {}
    panel = Panel(layout)
    by_hash = {face.hash: face for face in panel.faces()}
    references: dict[str, tuple[np.ndarray | None, str | None]] = {}
    for face_hash in face_hashes:
        face = by_hash.get(face_hash)
        if face is None:
            references[face_hash] = (None, "reference face is no longer in the panel")
            continue
        descriptor = face_descriptor(panel.jpeg_bytes(face))
        references[face_hash] = (
            (descriptor, None) if descriptor is not None else (None, "no face in the reference")
        )
    return references
