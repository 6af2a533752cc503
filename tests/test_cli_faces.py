"""`workbench faces`: one result line per file, a readable table, exit codes a script can trust."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from workbench.cli import main
from workbench.panel import Panel


@pytest.fixture
def photos(tmp_path, hopper_jpeg, astronaut_jpeg) -> dict[str, Path]:
    paths = {
        "hopper": tmp_path / "hopper.jpg",
        "astronaut": tmp_path / "astronaut.jpg",
        "broken": tmp_path / "broken.jpg",
        "notes": tmp_path / "notes.txt",
    }
    paths["hopper"].write_bytes(hopper_jpeg)
    paths["astronaut"].write_bytes(astronaut_jpeg)
    paths["broken"].write_bytes(hopper_jpeg[:2000])
    paths["notes"].write_text("not a photo")
    return paths


def faces(layout, *args: str, input: str | None = None):
    return CliRunner().invoke(main, ["--data", str(layout.root), "faces", *args], input=input)


def test_add_reports_each_file_and_fails_if_any_did(layout, photos):
    result = faces(
        layout,
        "add",
        str(photos["hopper"]),
        str(photos["broken"]),
        str(photos["notes"]),
        str(photos["astronaut"]),
        "--attr",
        "age_band=75+",
        "--consent",
        "public domain",
    )
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("added") and "hopper.jpg" in lines[0]
    assert lines[1].startswith("rejected") and "truncated" in lines[1]
    assert lines[2].startswith("rejected") and "not an image" in lines[2]
    assert lines[3].startswith("added") and "astronaut.jpg" in lines[3]
    assert lines[4] == "2 added, 0 already present, 2 rejected"
    assert [(f.id, f.age_band, f.consent) for f in Panel(layout).faces()] == [
        ("hopper", "75+", "public domain"),
        ("astronaut", "75+", "public domain"),
    ]


def test_adding_again_is_reported_and_succeeds(layout, photos):
    assert faces(layout, "add", str(photos["hopper"])).exit_code == 0
    again = faces(layout, "add", str(photos["hopper"]))
    assert again.exit_code == 0
    assert "duplicate" in again.output and "already in the panel as hopper" in again.output


def test_add_with_id_and_bad_attribute(layout, photos):
    bad = faces(layout, "add", str(photos["hopper"]), "--attr", "monk_skin_tone=12")
    assert bad.exit_code == 1 and "1 to 10" in bad.output
    assert Panel(layout).faces() == []
    good = faces(layout, "add", str(photos["hopper"]), "--id", "grace")
    assert good.exit_code == 0 and "added as grace" in good.output
    two = faces(layout, "add", str(photos["hopper"]), str(photos["astronaut"]), "--id", "x")
    assert two.exit_code == 2 and "--id names one face" in two.output


def test_list_set_and_erase(layout, photos):
    assert faces(layout, "list").output.startswith("no faces")
    faces(layout, "add", str(photos["hopper"]), str(photos["astronaut"]))

    changed = faces(layout, "set", "hopper", "monk_skin_tone=3", "glasses=no")
    assert changed.exit_code == 0, changed.output
    assert "monk_skin_tone='3'" in changed.output
    refused = faces(layout, "set", "hopper", "monk_skin_tone=0")
    assert refused.exit_code == 1 and "error: monk_skin_tone" in refused.output

    table = faces(layout, "list", "--order-by", "monk_skin_tone").output.splitlines()
    assert table[0].split()[:4] == ["id", "size", "age", "monk"]
    assert table[1].split()[:4] == ["hopper", "512x600", "-", "3"]
    assert table[2].startswith("astronaut")

    kept = faces(layout, "erase", "hopper", input="n\n")
    assert kept.exit_code == 1 and len(Panel(layout).faces()) == 2
    erased = faces(layout, "erase", "hopper", "--yes")
    assert erased.exit_code == 0
    assert "erased hopper: 1 face, 0 image(s)" in erased.output
    assert [f.id for f in Panel(layout).faces()] == ["astronaut"]
    unknown = faces(layout, "erase", "hopper", "--yes")
    assert unknown.exit_code == 1 and "no face with id 'hopper'" in unknown.output


def test_demo_adds_the_packaged_faces_once(layout):
    first = faces(layout, "demo")
    assert first.exit_code == 0 and "11 added" in first.output
    again = faces(layout, "demo")
    assert again.exit_code == 0 and "0 added, 11 already present" in again.output


def test_a_folder_or_device_is_one_rejected_line_not_the_end_of_the_batch(layout, photos, tmp_path):
    folder = tmp_path / "holiday"
    folder.mkdir()
    result = faces(layout, "add", str(folder), "/dev/zero", str(photos["hopper"]))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("rejected") and "is a folder" in lines[0]
    assert lines[1].startswith("rejected") and "not a regular file" in lines[1]
    assert lines[2].startswith("added")
    assert lines[3] == "1 added, 0 already present, 2 rejected"
