"""Photos of openpeople's synthetic people (MIT) for scoring tests: several photos per person.

P003 is left out everywhere: it resembles a real actress.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from PIL import Image

KINDS = ("studio_portrait", "amateur_selfie", "amateur_posture", "studio_posture")


def _root() -> Path:
    import openpeople

    return Path(openpeople.__file__).parent / "data" / "curated"


def people() -> list[str]:
    """Every curated person id except P003."""
    return sorted(p.name for p in _root().iterdir() if p.is_dir() and p.name != "P003")


def photo_path(person: str, kind: str) -> Path:
    return _root() / person / "assets" / f"{kind}.jpg"


@cache
def photo(person: str, kind: str, max_side: int = 800, quality: int = 90) -> bytes:
    """The photo as a JPEG no larger than `max_side`, like an upload to a headshot service."""
    with Image.open(photo_path(person, kind)) as opened:
        opened.draft("RGB", (max_side, max_side))
        image = opened.convert("RGB")
    image.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
