"""Erase a person everywhere: their reference face and everything the workbench made from it.

Faces are personal data. After `erase_face`, no file under the data root holds the person's
pixels or their face hash: not the panel, not generated images, not thumbnails, not the
catalogue, not the scores or ratings, not a running sweep's journal. It sits right of panel,
store, catalogue and scoring in the data flow and uses them all.

Erase wins over sweeps running meanwhile: it first lays a tombstone for the person's photos
(`workbench.tombstones`), after which every running sweep drops that face's cells and results;
results journalled before the tombstone are erased with the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from workbench.catalogue import STATUS_OK, Catalogue
from workbench.errors import InputError
from workbench.journal import drop_face, journalled_rows, pending_image_hashes
from workbench.layout import DataLayout
from workbench.panel import Panel, check_face_id
from workbench.parts import is_part_name
from workbench.store import ImageStore
from workbench.sweep import Sweep
from workbench.templates.library import TemplateLibrary
from workbench.tombstones import Tombstones

# A running sweep journals what it stored at once (and erase waits for it: see tombstones), and
# a killed sweep's journal counts as logged; an image no row and no journal names, older than
# this, is debris of a run killed before journals existed or mid-write.
UNLOGGED_AFTER_S = 60.0


@dataclass(frozen=True)
class EraseReport:
    """What one erase removed, counted so the user can see it was thorough."""

    face_id: str
    faces: int = 0
    images: int = 0
    thumbnails: int = 0
    catalogue_rows: int = 0
    # Images this person's rows pointed at that another face's rows still use: kept.
    images_kept: int = 0
    # Images no catalogue row and no sweep journal names (debris of a killed run) and temp
    # files of killed writers: nobody can say whose they are, so erase clears them all.
    unlogged: int = 0
    # Rows of the person that running (or killed) sweeps had journalled but not yet logged.
    journal_rows: int = 0
    # Recorded sweep specs that named the face id (a name is personal data too): rewritten.
    sweep_records: int = 0
    # Templates whose evidence named the person's images or id: those entries dropped.
    templates: int = 0
    # Quarantined catalogue files holding the person's rows, or too damaged to tell: deleted.
    quarantined: int = 0
    # Rows of the scores table made from this face, and ratings of its images.
    scores: int = 0
    ratings: int = 0

    def summary(self) -> str:
        text = (
            f"erased {self.face_id}: {self.faces} face, {self.images} image(s), "
            f"{self.thumbnails} thumbnail(s), {self.catalogue_rows} catalogue row(s)"
        )
        if self.scores or self.ratings:
            text += f", {self.scores} score(s), {self.ratings} rating(s)"
        if self.journal_rows:
            text += f", {self.journal_rows} row(s) from running or interrupted sweeps"
        if self.unlogged:
            text += f", {self.unlogged} unlogged file(s) from interrupted runs"
        if self.quarantined:
            text += f", {self.quarantined} quarantined catalogue file(s)"
        if self.sweep_records:
            text += f", {self.sweep_records} sweep record(s) rewritten without the id"
        if self.templates:
            text += f", {self.templates} template(s) rewritten without their evidence"
        if self.images_kept:
            text += f"; kept {self.images_kept} image(s) that other faces' rows also use"
        return text


def check_erasable(layout: DataLayout, face_id: str) -> None:
    """InputError, before anything is erased, if `erase_face` would refuse `face_id`: not a
    face id, or the id of no face in the panel and of no row in the catalogue or a journal
    (what an interrupted erase leaves). For a confirmation prompt, which must not ask "Erase
    `../faces/x`?" about something that cannot be erased."""
    check_face_id(face_id)
    panel = Panel(layout)
    if any(face.id == face_id for face in panel.faces()):
        return
    rows = Catalogue(layout.catalogue).table(["face_id"], filter=pc.field("face_id") == face_id)
    if rows.num_rows or any(row.face_id == face_id for row in journalled_rows(layout)):
        return
    panel.get(face_id)  # raises the panel's "no face with id ..., known: ..." error


def erase_face(layout: DataLayout, face_id: str) -> EraseReport:
    """Remove a face, every image generated from it, their thumbnails and catalogue rows.

    Works on what is left after an interrupted erase too: the catalogue is searched by the
    face's id and by every face hash recorded for it, even once the panel row is gone.
    Order matters for that: images, then catalogue rows (which say which images), then the face.
    """
    check_face_id(face_id)
    panel = Panel(layout)
    face = next((f for f in panel.faces() if f.id == face_id), None)
    catalogue = Catalogue(layout.catalogue)

    table = catalogue.table(["face_id", "face_hash", "image_hash", "status", "request_key"])
    journalled = journalled_rows(layout)
    face_hashes = (
        set(table.filter(pc.field("face_id") == face_id)["face_hash"].to_pylist())
        | {row.face_hash for row in journalled if row.face_id == face_id}
        | ({face.hash} if face else set())
    )
    if face is None and not face_hashes:
        panel.get(face_id)  # raises the panel's "no face with id ..., known: ..." error
        raise InputError(f"no face with id {face_id!r} in {panel.root} or {catalogue.path}")

    # First the tombstones: from here on no running sweep sends, stores or logs this person.
    # (Storing takes the same lock shared: results journalled before this are in `journalled`
    # below, read again under it.)
    tombstones = Tombstones(layout)
    with tombstones.storing(exclusive=True):
        tombstones.lay(face_hashes)
        journalled = journalled_rows(layout)
    # Read again: rows a sweep moved from its journal into a part since the first read are in
    # neither that read nor the journals now. From here on the person's rows only move from
    # journals into parts, so each is in `journalled` or `table`.
    table = catalogue.table(["face_id", "face_hash", "image_hash", "status", "request_key"])

    def is_theirs(row) -> bool:
        return row.face_id == face_id or row.face_hash in face_hashes

    person = pc.field("face_id") == face_id
    for face_hash in sorted(face_hashes):
        person = person | (pc.field("face_hash") == face_hash)
    images = pc.field("image_hash").is_valid() & (pc.field("status") == STATUS_OK)
    theirs = set(table.filter(person & images)["image_hash"].to_pylist())
    theirs |= {r.image_hash for r in journalled if is_theirs(r) and r.image_hash}
    # Images are per-face in practice, but an image another face's row still names is not
    # this person's alone: keep it rather than break that row.
    others = set(table.filter(~person & images)["image_hash"].to_pylist())
    others |= {r.image_hash for r in journalled if not is_theirs(r) and r.image_hash}
    shared = theirs & others

    # Journals before the catalogue: a sweep moving its journal into a part meanwhile puts
    # the rows where `remove_rows` below finds them.
    journal_rows = drop_face(layout, face_id=face_id)
    for face_hash in sorted(face_hashes):
        journal_rows += drop_face(layout, face_hash=face_hash)

    # Scores and ratings first, while the catalogue still says which images were theirs; the
    # scores table names the face hash too, which finds them after an interrupted erase.
    # (Imported here: the scoring package loads scikit-image, which every other command that
    # imports this module would pay for.)
    from workbench.scoring.ratings import RatingStore
    from workbench.scoring.store import ScoreStore

    score_store = ScoreStore(layout)
    scored = score_store.dataset.table(["image_hash", "face_hash"])
    scored_theirs = scored.filter(pc.field("face_hash").isin(sorted(face_hashes)))
    rated = (theirs | set(scored_theirs["image_hash"].to_pylist())) - shared
    rating_store = RatingStore(layout)
    ratings = rating_store.remove_images(rated)
    scores = score_store.remove(image_hashes=theirs - shared, face_hashes=face_hashes)

    store = ImageStore(layout)
    thumbnails = deleted = 0
    for image_hash in sorted(theirs - shared):
        thumbnails += store.delete_thumbnails(image_hash)
        deleted += store.delete(image_hash)
    rows = catalogue.remove_rows(person)
    records = _scrub_sweep_records(catalogue, face_id)
    templates = TemplateLibrary(layout).forget_face(
        face_id,
        image_hashes=theirs - shared,
        request_keys=set(table.filter(person)["request_key"].to_pylist())
        | {r.request_key for r in journalled if is_theirs(r)},
    )
    quarantined = _scrub_quarantine(
        [
            *catalogue.quarantined(),
            *score_store.dataset.quarantined(),
            *rating_store.dataset.quarantined(),
        ],
        {face_id, *face_hashes, *rated},
    )
    # Debris, under the lock: no sweep is between storing an image and journalling it, so an
    # image is logged (a row), about to be (a journal, a killed sweep's too) or nobody's.
    with tombstones.storing(exclusive=True):
        logged = set(catalogue.table(["image_hash"])["image_hash"].drop_null().to_pylist())
        unlogged = _remove_unlogged(store, logged | pending_image_hashes(layout))
    faces = 0
    if face is not None:
        panel.remove(face_id)
        faces = 1
    return EraseReport(
        face_id=face_id,
        faces=faces,
        images=deleted,
        thumbnails=thumbnails,
        catalogue_rows=rows,
        images_kept=len(shared),
        sweep_records=records,
        templates=templates,
        quarantined=quarantined,
        unlogged=unlogged,
        scores=scores,
        ratings=ratings,
        journal_rows=journal_rows,
    )


def _remove_unlogged(store: ImageStore, logged: set[str]) -> int:
    """Images no row names, older than a running sweep's unflushed ones could be."""
    removed = store.remove_stale_temp_files(UNLOGGED_AFTER_S)
    for image_hash in store.hashes():
        if image_hash in logged:
            continue
        try:
            old = store.age_s(image_hash) > UNLOGGED_AFTER_S
        except FileNotFoundError:
            continue
        if old:
            removed += store.delete(image_hash)
    return removed


def _scrub_sweep_records(catalogue: Catalogue, face_id: str) -> int:
    """Drop the id from every recorded sweep spec that lists it by name."""
    rewritten = 0
    for record in sorted(catalogue.sweep_records()):
        sweep = Sweep.load(record)
        if isinstance(sweep.faces, list) and face_id in sweep.faces:
            others = [other for other in sweep.faces if other != face_id]
            catalogue.record_sweep(
                record.stem, sweep.model_copy(update={"faces": others}).to_toml()
            )
            rewritten += 1
    return rewritten


def _scrub_quarantine(quarantined: list[Path], marks: set[str]) -> int:
    """Delete quarantined files that hold the person's id or face hash.

    A readable file is searched cell by cell; a damaged part cannot be, so it goes whole (it
    was ours and nobody can read it anyway); any other unreadable file is searched as bytes.
    """
    deleted = 0
    for path in quarantined:
        try:
            table = pq.read_table(path)
        except FileNotFoundError:
            continue
        except Exception:  # damaged: any error pyarrow raises on a bad file
            holds = is_part_name(path.name) or any(
                mark.encode() in path.read_bytes() for mark in marks
            )
        else:
            holds = any(
                pc.any(pc.is_in(column.cast(pa.string()), pa.array(sorted(marks)))).as_py()
                for column in table.columns
                if pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
            )
        if holds:
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted
