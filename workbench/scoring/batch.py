"""Scoring many images fast: one decode and one face search per image feed both scorers, and a
process pool uses every core (dlib and most of the descriptor hold the GIL, so threads would
not help)."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from workbench.errors import InputError
from workbench.scoring.face import find_face
from workbench.scoring.identity import descriptor_of
from workbench.scoring.images import SCORING_SIDE, ImageInput, load_rgb
from workbench.scoring.style import StyleDescriptor, describe_picture

__all__ = ["ImageScores", "describe_many", "score_image", "score_images"]

# Below this many images a pool costs more (workers start in ~1-2 s) than it saves.
_POOL_THRESHOLD = 16


@dataclass(frozen=True)
class ImageScores:
    """What scoring learns from one output image.

    `style` is its style descriptor; `face` the 128-d identity descriptor of its face (None: no
    face, a recorded outcome). `error` names why an unreadable image has neither.
    """

    style: StyleDescriptor | None
    face: np.ndarray | None
    error: str | None = None


def score_image(image: ImageInput) -> ImageScores:
    """Style and identity descriptors of one image, from one decode and one face search."""
    try:
        picture = load_rgb(image, max_side=SCORING_SIDE)
    except InputError as error:
        return ImageScores(style=None, face=None, error=str(error))
    face = find_face(picture)
    descriptor = None if face is None else descriptor_of(picture, face)
    return ImageScores(style=describe_picture(picture, face), face=descriptor)


def score_images(
    images: Sequence[ImageInput],
    *,
    workers: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> list[ImageScores]:
    """`score_image` for every image, in order, on `workers` processes (default: every core;
    small batches run in this process). `on_progress(n)` is called as each image is done.

    Paths are the cheapest input to send to a worker; bytes and PIL images work too.
    """
    workers = _workers(workers, len(images))
    if workers <= 1:
        results = []
        for image in images:
            results.append(score_image(image))
            if on_progress:
                on_progress(1)
        return results
    # spawn, not fork: the caller may run threads (the embedded simulator, a web app), and a
    # forked child would inherit their locks mid-flight.
    context = multiprocessing.get_context("spawn")
    chunk = max(1, min(8, len(images) // (workers * 4)))
    results = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for result in pool.map(score_image, images, chunksize=chunk):
            results.append(result)
            if on_progress:
                on_progress(1)
    return results


def describe_many(
    images: Sequence[ImageInput], *, workers: int | None = None
) -> list[StyleDescriptor | None]:
    """Style descriptors of many images (None for an unreadable one), on every core."""
    return [scores.style for scores in score_images(images, workers=workers)]


def _workers(requested: int | None, count: int) -> int:
    if requested is not None:
        return max(1, min(requested, count))
    if count < _POOL_THRESHOLD:
        return 1
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(available or 1, count))
