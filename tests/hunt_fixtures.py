"""Helpers shared by the hunt tests: a fresh data root holding part of the demo panel."""

from __future__ import annotations

import shutil
from pathlib import Path

from workbench.layout import DataLayout

REPO = Path(__file__).resolve().parents[1]


def demo_panel(layout: DataLayout, count: int) -> list[str]:
    """The first `count` faces of the repository's demo panel, copied into `layout`."""
    source = REPO / "data" / "faces"
    lines = (source / "manifest.csv").read_text(encoding="utf-8").splitlines()
    layout.faces.mkdir(parents=True)
    kept = lines[: count + 1]
    ids = [line.split(",", 1)[0] for line in kept[1:]]
    for face_id in ids:
        shutil.copy(source / f"{face_id}.jpg", layout.faces / f"{face_id}.jpg")
    (layout.faces / "manifest.csv").write_text("\n".join(kept) + "\n", encoding="utf-8")
    return ids
