"""The journal: results survive a kill, fold once into the catalogue, and erase can see and
drop what it holds."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from workbench.catalogue import STATUS_FAILED, STATUS_OK, Catalogue, CatalogueRow
from workbench.journal import Journal, drop_face, fold_orphans, pending_image_hashes, read_rows
from workbench.leases import Owner


def row(n: int, *, face: str = "ann", status: str = STATUS_OK) -> CatalogueRow:
    ok = status == STATUS_OK
    return CatalogueRow(
        sweep_id="s1",
        request_key=f"{n:064x}",
        created_at=datetime.now(UTC),
        backend="simulator",
        prompt="p",
        seed=n + 1,
        sample_number=1,
        identity_scale=0.8,
        width=512,
        height=512,
        face_id=face,
        face_hash=face * 8,
        status=status,
        attempts=1,
        latency_ms=10.0,
        sample_index=0 if ok else None,
        image_hash=f"{n + 100:064x}" if ok else None,
        image_path=f"images/00/{n + 100:064x}.jpg" if ok else None,
        error_class=None if ok else "TransientError",
    )


def test_rows_round_trip_and_move_into_the_catalogue_once(layout):
    catalogue = Catalogue(layout.catalogue)
    owner = Owner(layout)
    journal = Journal(layout, owner)
    rows = [row(0), row(1, status=STATUS_FAILED)]
    journal.append(rows[:1])
    journal.append(rows[1:])
    assert read_rows(journal.path) == rows
    assert pending_image_hashes(layout) == {rows[0].image_hash}

    assert journal.move_into(catalogue) == rows
    assert journal.move_into(catalogue) == []
    assert len(catalogue.runs()) == 2
    assert pending_image_hashes(layout) == set()
    journal.close(catalogue)
    owner.close()
    assert not journal.path.exists() and len(catalogue.runs()) == 2


def with_image(layout, journalled: CatalogueRow) -> CatalogueRow:
    path = layout.root / journalled.image_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"jpeg")
    return journalled


def test_a_dead_sweeps_journal_is_folded_once_even_if_half_moved(layout):
    catalogue = Catalogue(layout.catalogue)
    for n in range(3):
        with_image(layout, row(n))
    dead = Owner(layout)
    journal = Journal(layout, dead)
    journal.append([row(0)])
    journal.append([row(1)])
    # Killed after writing a part and before emptying the journal: row 0 is in both.
    catalogue.append([row_from(journal, 0)])
    with open(journal.path, "ab") as handle:
        handle.write(b'[{"sweep_id": "s1", "request_ke')  # a torn last line
    live = Owner(layout)
    Journal(layout, live).append([row(2)])  # a running sweep's journal is left alone

    assert fold_orphans(layout, catalogue) == 0  # `dead` has not died yet
    dead.close()  # now it has, without moving its journal
    assert fold_orphans(layout, catalogue) == 1
    assert sorted(catalogue.runs()["seed"]) == [1, 2]
    assert not journal.path.exists()
    assert fold_orphans(layout, catalogue) == 0
    assert pending_image_hashes(layout) == {row(2).image_hash}


def row_from(journal: Journal, index: int) -> CatalogueRow:
    return read_rows(journal.path)[index]


def test_erase_drops_a_faces_rows_from_running_journals(layout):
    catalogue = Catalogue(layout.catalogue)
    owner = Owner(layout)
    journal = Journal(layout, owner)
    journal.append([row(0, face="ann"), dataclasses.replace(row(1, face="ann"), sample_index=1)])
    journal.append([row(2, face="bob")])
    assert drop_face(layout, face_id="ann") == 2
    assert drop_face(layout, face_hash="ann" * 8) == 0
    journal.append([row(3, face="bob")])  # the running sweep goes on writing
    assert pending_image_hashes(layout) == {row(2).image_hash, row(3).image_hash}
    journal.move_into(catalogue)
    assert set(catalogue.runs()["face_id"]) == {"bob"}


def test_a_folded_row_never_names_a_missing_image(layout):
    catalogue = Catalogue(layout.catalogue)
    dead = Owner(layout)
    journal = Journal(layout, dead)
    journal.append([with_image(layout, row(0))])
    journal.append([row(1)])  # its image was erased meanwhile
    journal.append([row(2, status=STATUS_FAILED)])
    dead.close()
    assert fold_orphans(layout, catalogue) == 2
    assert sorted(catalogue.runs()["seed"]) == [1, 3]
