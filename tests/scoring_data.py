"""Test data for scoring: a catalogue of candidates x faces written as rows (no images), with
style descriptors chosen by the test, so candidate maths is checked without decoding."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np

from workbench.catalogue import Catalogue, CatalogueRow
from workbench.layout import DataLayout
from workbench.panel import Face, Panel
from workbench.scoring.candidates import Candidate
from workbench.scoring.identity import IDENTITY_SCORER, IDENTITY_VERSION
from workbench.scoring.store import ScoreRow, ScoreStore
from workbench.scoring.style import STYLE_SCORER, STYLE_VERSION, StyleDescriptor

FACES = ("ann", "bob", "cat", "dan", "eve", "fay")
GOOD = Candidate("studio headshot, soft light", 1, 0.8, 768, 1024)
BAD = Candidate("neon street portrait", 2, 0.8, 768, 1024)


def digest(*parts) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def descriptor_length() -> int:
    """The style descriptor's length in this STYLE_VERSION (its error message states it)."""
    for size in range(1, 512):
        try:
            StyleDescriptor(np.zeros(size, dtype=np.float32))
            return size
        except Exception:
            continue
    raise AssertionError("no valid style descriptor length")


def write_faces(layout: DataLayout, attributes: dict[str, dict[str, str]] | None = None):
    """Manifest rows only (no JPEGs: nothing here decodes a face)."""
    faces = [
        Face(
            face_id,
            f"{face_id}.jpg",
            digest("face", face_id),
            512,
            512,
            **(attributes or {}).get(face_id, {}),
        )
        for face_id in FACES
    ]
    layout.faces.mkdir(parents=True, exist_ok=True)
    Panel(layout)._write_manifest(faces)
    return faces


def catalogue_row(
    candidate: Candidate, face_id: str, *, failed: bool = False, sample: int = 0, cost: float = 0.02
) -> CatalogueRow:
    image = None if failed else digest("image", candidate, face_id, sample)
    return CatalogueRow(
        sweep_id="sweep-1",
        request_key=digest("request", candidate, face_id),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        backend="simulator",
        prompt=candidate.prompt,
        seed=candidate.seed,
        sample_number=1,
        identity_scale=candidate.identity_scale,
        width=candidate.width,
        height=candidate.height,
        face_id=face_id,
        face_hash=digest("face", face_id),
        status="failed" if failed else "ok",
        attempts=1,
        latency_ms=10.0,
        sample_index=None if failed else sample,
        image_hash=image,
        image_path=None if failed else f"images/{image[:2]}/{image}.jpg",
        error_class="TransientError" if failed else None,
        error="timed out" if failed else None,
        cost=0.0 if failed else cost,
    )


def write_scored(
    layout: DataLayout,
    candidate: Candidate,
    faces: Sequence[str],
    style: Callable[[int], np.ndarray],
    identity: float | None = 0.9,
) -> list[CatalogueRow]:
    """Catalogue rows for `candidate` on `faces`, and scores: face i's style vector is
    `style(i)`, its identity `identity` (None: no face found)."""
    rows = [catalogue_row(candidate, face) for face in faces]
    Catalogue(layout.catalogue).append(rows)
    scores = []
    for index, row in enumerate(rows):
        key = (row.image_hash, row.face_hash)
        scores.append(ScoreRow(*key, STYLE_SCORER, STYLE_VERSION, vector=style(index)))
        scores.append(
            ScoreRow(*key, IDENTITY_SCORER, IDENTITY_VERSION, identity, identity is not None)
        )
    ScoreStore(layout).append(scores)
    return rows
