"""How scoring reads an image: a path, bytes or a PIL image become one RGB picture, decoded at a
reduced scale when the file is much larger than scoring needs."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from workbench.errors import InputError

ImageInput = str | os.PathLike | bytes | Image.Image

# Both scorers read pictures at no more than this size (long side), so one decode serves both:
# larger outputs are decoded at a reduced DCT scale.
SCORING_SIDE = 1024


def load_rgb(image: ImageInput, *, max_side: int | None = None) -> Image.Image:
    """`image` as an RGB PIL image, upright (EXIF orientation applied), and no larger than
    `max_side` on its long side when that is given (JPEGs are then decoded at a reduced DCT
    scale, which is several times faster than decoding in full and resizing).

    Raises InputError naming the file when it is not a readable image.
    """
    if isinstance(image, Image.Image):
        picture = ImageOps.exif_transpose(image).convert("RGB")
    else:
        name = "image bytes" if isinstance(image, bytes | bytearray) else str(image)
        try:
            source = io.BytesIO(image) if isinstance(image, bytes | bytearray) else Path(image)
            with Image.open(source) as opened:
                if max_side is not None:
                    opened.draft("RGB", (max_side, max_side))
                picture = ImageOps.exif_transpose(opened).convert("RGB")
        except (OSError, UnidentifiedImageError, ValueError) as error:
            raise InputError(f"{name}: not a readable image ({error})") from error
    if max_side is not None and max(picture.size) > max_side:
        scale = max_side / max(picture.size)
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        picture = picture.resize(size, Image.BILINEAR, reducing_gap=2.0)
    return picture
