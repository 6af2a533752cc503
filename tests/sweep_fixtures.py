"""Fixtures shared by the sweep, run and CLI tests: a data root with a small face panel."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from workbench.layout import DataLayout
from workbench.panel import Face, Panel


def write_panel(layout: DataLayout, faces: dict[str, bytes]) -> list[Face]:
    """Put JPEGs straight into a panel (no detection: these tests are about sweeps, not faces)."""
    layout.faces.mkdir(parents=True, exist_ok=True)
    written = []
    for face_id, data in faces.items():
        (layout.faces / f"{face_id}.jpg").write_bytes(data)
        width, height = Image.open(io.BytesIO(data)).size
        digest = hashlib.sha256(data).hexdigest()
        written.append(Face(face_id, f"{face_id}.jpg", digest, width, height))
    Panel(layout)._write_manifest(written)
    return written


@pytest.fixture
def panel_layout(layout: DataLayout, sample_faces: dict[str, bytes]) -> DataLayout:
    """A data root whose panel holds two public-domain faces, `hopper` and `astronaut`."""
    write_panel(layout, sample_faces)
    return layout
