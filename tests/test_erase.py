"""Erasing a person: afterwards no file under the data root holds their pixels or face hash."""

from __future__ import annotations

import io
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageOps

from workbench.catalogue import Catalogue, CatalogueRow
from workbench.erase import erase_face
from workbench.errors import InputError
from workbench.layout import DataLayout
from workbench.panel import Face, Panel
from workbench.scoring.candidates import Candidate
from workbench.scoring.ratings import RatingStore
from workbench.scoring.store import ScoreRow, ScoreStore
from workbench.store import ImageStore
from workbench.sweep import Sweep


def _generated_from(face_jpeg: bytes, seed: int) -> bytes:
    """Stand-in for an API image of this face: its pixels, visibly changed per seed."""
    image = Image.open(io.BytesIO(face_jpeg)).convert("RGB")
    image = ImageOps.posterize(image, 2 + seed % 6).rotate(seed * 7)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def _row(face: Face, image_hash: str | None, path: str | None, seed: int) -> CatalogueRow:
    return CatalogueRow(
        sweep_id="sweep-1",
        request_key=f"{seed:064x}",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        backend="simulator",
        prompt="studio portrait, soft light",
        seed=seed,
        sample_number=1,
        identity_scale=0.8,
        width=512,
        height=512,
        face_id=face.id,
        face_hash=face.hash,
        status="ok" if image_hash else "failed",
        attempts=1,
        latency_ms=12.0,
        sample_index=0 if image_hash else None,
        image_hash=image_hash,
        image_path=path,
        error_class=None if image_hash else "TransientError",
        error=None if image_hash else "timed out",
    )


def _sweep(layout: DataLayout, face: Face, seeds: range, parts: int = 2) -> list[str]:
    """Images, thumbnails and catalogue rows (spread over several parts) for one face."""
    store, catalogue = ImageStore(layout), Catalogue(layout.catalogue)
    face_jpeg = Panel(layout).jpeg_bytes(face)
    rows, hashes = [], []
    for seed in seeds:
        stored = store.put(_generated_from(face_jpeg, seed))
        store.thumbnail(stored.hash)
        rows.append(_row(face, stored.hash, stored.relative_path, seed))
        hashes.append(stored.hash)
    rows.append(_row(face, None, None, 999))  # a failed cell still names the face
    size = len(rows) // parts + 1
    for start in range(0, len(rows), size):
        catalogue.append(rows[start : start + size])
    return hashes


@pytest.fixture
def world(layout, tmp_path, hopper_jpeg, astronaut_jpeg):
    """A data root with two faces, each swept: what a user has after a few sessions."""
    (tmp_path / "hopper.jpg").write_bytes(hopper_jpeg)
    (tmp_path / "astronaut.jpg").write_bytes(astronaut_jpeg)
    panel = Panel(layout)
    hopper = panel.add(tmp_path / "hopper.jpg")
    astronaut = panel.add(tmp_path / "astronaut.jpg")
    return {
        "hopper": (hopper, _sweep(layout, hopper, range(1, 6))),
        "astronaut": (astronaut, _sweep(layout, astronaut, range(11, 14), parts=1)),
    }


def _every_file(root: Path) -> list[Path]:
    return [Path(d) / name for d, _, names in os.walk(root) for name in names]


def test_erase_leaves_no_trace_of_the_person(layout, world):
    hopper, hopper_images = world["hopper"]
    astronaut, astronaut_images = world["astronaut"]
    face_pixels = Panel(layout).jpeg_bytes(hopper)
    generated = [ImageStore(layout).read(h) for h in hopper_images]

    report = erase_face(layout, "hopper")

    assert (report.faces, report.images, report.thumbnails) == (1, 5, 5)
    assert report.catalogue_rows == 6  # five images and the failed cell
    assert report.images_kept == 0
    secrets = [
        hopper.hash.encode(),
        hopper.source_hash.encode(),
        *(h.encode() for h in hopper_images),
    ]
    for path in _every_file(layout.root):
        data = path.read_bytes()
        for secret in secrets:
            assert secret not in data, f"{path} still holds {secret[:12]!r}"
        assert data != face_pixels and data not in generated, f"{path} holds their pixels"

    # Everyone else is untouched.
    assert [f.id for f in Panel(layout).faces()] == ["astronaut"]
    Panel(layout).jpeg_bytes(astronaut)
    assert all(ImageStore(layout).has(h) for h in astronaut_images)
    runs = Catalogue(layout.catalogue).runs()
    assert set(runs["face_id"]) == {"astronaut"} and len(runs) == 4


def test_sweep_records_that_name_the_person_are_rewritten(layout, world):
    catalogue = Catalogue(layout.catalogue)
    named = Sweep.build(prompts=["studio"], seeds="1-3", faces=["hopper", "astronaut"])
    everyone = Sweep.build(prompts=["office"], seeds="4-5", faces="all")
    catalogue.record_sweep("named", named.to_toml())
    catalogue.record_sweep("everyone", everyone.to_toml())
    untouched = (layout.catalogue / "sweeps" / "everyone.toml").read_bytes()

    report = erase_face(layout, "hopper")

    assert report.sweep_records == 1
    assert "1 sweep record(s) rewritten" in report.summary()
    assert Sweep.load(layout.catalogue / "sweeps" / "named.toml").faces == ["astronaut"]
    assert (layout.catalogue / "sweeps" / "everyone.toml").read_bytes() == untouched
    assert not any(b"hopper" in path.read_bytes() for path in _every_file(layout.catalogue))


def test_unlogged_images_of_killed_runs_are_cleared_but_a_running_sweeps_are_not(
    layout, world, hopper_jpeg
):
    store = ImageStore(layout)
    killed = store.put(_generated_from(hopper_jpeg, 500))  # stored, then the run was killed
    running = store.put(_generated_from(hopper_jpeg, 501))  # a live sweep, row not yet flushed
    stale_tmp = killed.path.with_name(killed.path.name + ".123-abcd.tmp")
    stale_tmp.write_bytes(_generated_from(hopper_jpeg, 502))
    an_hour_ago = time.time() - 3600
    for path in (killed.path, stale_tmp):
        os.utime(path, (an_hour_ago, an_hour_ago))

    report = erase_face(layout, "hopper")

    assert report.unlogged == 2 and "2 unlogged file(s)" in report.summary()
    assert not killed.path.exists() and not stale_tmp.exists()
    assert running.path.exists()


def test_an_image_another_face_still_uses_is_kept(layout, world):
    hopper, hopper_images = world["hopper"]
    astronaut, _ = world["astronaut"]
    shared = hopper_images[0]
    Catalogue(layout.catalogue).append([_row(astronaut, shared, None, 77)])

    report = erase_face(layout, "hopper")

    assert (report.images, report.images_kept) == (4, 1)
    assert ImageStore(layout).has(shared)


def test_erase_finishes_an_interrupted_erase(layout, world):
    hopper, hopper_images = world["hopper"]
    Panel(layout).remove("hopper")  # as if an earlier erase stopped after the panel

    report = erase_face(layout, "hopper")

    assert (report.faces, report.images, report.catalogue_rows) == (0, 5, 6)
    assert not any(ImageStore(layout).has(h) for h in hopper_images)


def test_erase_of_an_unknown_face_says_which_exist(layout, world):
    with pytest.raises(InputError, match="no face with id 'nobody'.*astronaut"):
        erase_face(layout, "nobody")


def test_erase_with_only_a_panel(layout, tmp_path, hopper_jpeg):
    (tmp_path / "hopper.jpg").write_bytes(hopper_jpeg)
    Panel(layout).add(tmp_path / "hopper.jpg")
    report = erase_face(layout, "hopper")
    assert (report.faces, report.images, report.thumbnails, report.catalogue_rows) == (1, 0, 0, 0)
    assert Panel(layout).faces() == []
    assert not (layout.faces / "hopper.jpg").exists()


def test_cli_erase_reports_the_counts(layout, world):
    from click.testing import CliRunner

    from workbench.cli import main

    result = CliRunner().invoke(
        main, ["--data", str(layout.root), "faces", "erase", "hopper"], input="y\n"
    )
    assert result.exit_code == 0, result.output
    assert "erased hopper: 1 face, 5 image(s), 5 thumbnail(s), 6 catalogue row(s)" in result.output


def test_erase_clears_quarantined_parts_that_hold_the_person(layout, world):
    hopper, _ = world["hopper"]
    astronaut, _ = world["astronaut"]
    catalogue = Catalogue(layout.catalogue)
    # A damaged part (it may hold anyone's rows: nobody can read it), a readable foreign file
    # naming hopper, and a readable foreign file of someone else's.
    damaged = catalogue.append([_row(hopper, None, None, 500)])
    damaged.write_bytes(damaged.read_bytes()[:100])
    catalogue.runs()  # the reader quarantines it
    quarantine = layout.quarantine / "runs"
    naming = quarantine / "part-foreign-1.parquet"
    pq.write_table(pa.table({"who": [hopper.hash]}), naming)
    other = quarantine / "part-foreign-2.parquet"
    pq.write_table(pa.table({"who": [astronaut.hash]}), other)

    report = erase_face(layout, "hopper")

    assert report.quarantined == 2 and "2 quarantined catalogue file(s)" in report.summary()
    assert sorted(p.name for p in quarantine.iterdir()) == [other.name]
    for path in _every_file(layout.root):
        assert hopper.hash.encode() not in path.read_bytes()


def test_erase_removes_the_persons_scores_and_ratings(layout, world):
    hopper, hopper_images = world["hopper"]
    astronaut, astronaut_images = world["astronaut"]
    scores, ratings = ScoreStore(layout), RatingStore(layout)
    for face, images in ((hopper, hopper_images), (astronaut, astronaut_images)):
        scores.append(
            [
                ScoreRow(h, face.hash, "dlib-resnet", 1, identity=0.8, face_found=True)
                for h in images
            ]
        )
        ratings.rate(images[0], 4, winner=True, by="ann")
    ratings.rate_candidate(Candidate("studio portrait, soft light", 1, 0.8, 512, 512), 3, by="ann")

    report = erase_face(layout, "hopper")

    assert (report.scores, report.ratings) == (5, 1)
    assert "5 score(s), 1 rating(s)" in report.summary()
    left = scores.dataset.table().to_pandas()
    assert set(left["face_hash"]) == {astronaut.hash}
    assert not set(left["image_hash"]) & set(hopper_images)
    latest = ratings.latest()
    assert set(latest["image_hash"].dropna()) == {astronaut_images[0]}
    assert (latest["target"] == "candidate").sum() == 1  # a candidate's rating names no one


def test_erase_clears_quarantined_score_parts(layout, world):
    hopper, hopper_images = world["hopper"]
    scores = ScoreStore(layout)
    scores.append([ScoreRow(hopper_images[0], hopper.hash, "style", 1, error="x")])
    damaged = scores.dataset.parts()[0]
    damaged.write_bytes(damaged.read_bytes()[:80])
    scores.dataset.table()  # the reader quarantines it

    report = erase_face(layout, "hopper")

    assert report.quarantined == 1 and scores.dataset.quarantined() == []
