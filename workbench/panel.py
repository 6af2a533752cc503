"""The panel of reference faces: the workbench's measuring stick for cross-face consistency.

Each face is a normalised JPEG `<data>/faces/<id>.jpg` plus one row of `<data>/faces/manifest.csv`.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from workbench.errors import InputError
from workbench.layout import DataLayout

MANIFEST_NAME = "manifest.csv"


@dataclass(frozen=True)
class Face:
    """One reference person. `hash` is the SHA-256 of the stored JPEG's bytes."""

    id: str
    source_name: str
    hash: str
    width: int
    height: int
    face_box: str = ""  # "left,top,right,bottom" in stored-image pixels, from the detector
    consent: str = ""  # who allowed this face to be used, or its licence
    age_band: str = ""
    monk_skin_tone: str = ""  # Monk scale 1-10, or empty
    gender_presentation: str = ""
    glasses: str = ""
    facial_hair: str = ""
    notes: str = ""


FACE_COLUMNS = [f.name for f in fields(Face)]


class Panel:
    """Read access to the panel; import, attributes and erase build on it."""

    def __init__(self, layout: DataLayout):
        self.layout = layout
        self.root = layout.faces

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    def faces(self) -> list[Face]:
        if not self.manifest_path.exists():
            return []
        with self.manifest_path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return [_face_from_row(row) for row in rows]

    def get(self, face_id: str) -> Face:
        for face in self.faces():
            if face.id == face_id:
                return face
        known = ", ".join(face.id for face in self.faces()) or "none"
        raise InputError(f"no face with id {face_id!r} in {self.root} (known: {known})")

    def image_path(self, face: Face | str) -> Path:
        face_id = face.id if isinstance(face, Face) else face
        return self.root / f"{face_id}.jpg"

    def jpeg_bytes(self, face: Face | str) -> bytes:
        """The stored JPEG, checked against the manifest's hash."""
        face = face if isinstance(face, Face) else self.get(face)
        data = self.image_path(face).read_bytes()
        if hashlib.sha256(data).hexdigest() != face.hash:
            raise InputError(
                f"{self.image_path(face)} does not match its manifest hash; re-add the face"
            )
        return data

    def _write_manifest(self, faces: list[Face]) -> None:
        """Replace the manifest atomically (temp file + rename)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.manifest_path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=FACE_COLUMNS)
            writer.writeheader()
            for face in faces:
                writer.writerow(asdict(face))
        tmp.replace(self.manifest_path)


def _face_from_row(row: dict[str, str]) -> Face:
    values = {name: row.get(name, "") or "" for name in FACE_COLUMNS}
    return Face(**{**values, "width": int(values["width"]), "height": int(values["height"])})
