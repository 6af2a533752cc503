"""Where the face is in a picture: dlib's frontal detector and its 68 landmarks, shared by the
identity and the style scorers so a picture is searched once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from workbench.face_models import DLIB_LOCK, face_detector, shape_predictor

# dlib's HOG detector finds faces from about 80 px wide. Searches in order, (long side of the
# searched copy, upsampling), until one finds a face.
_SEARCHES = ((448, 0), (800, 0), (800, 1))


@dataclass(frozen=True)
class Face:
    """The largest frontal face of a picture, in that picture's pixels."""

    box: tuple[float, float, float, float]  # left, top, right, bottom
    landmarks: np.ndarray  # (68, 2) x, y
    shape: object  # dlib.full_object_detection, for the descriptor

    @property
    def width(self) -> float:
        """Jaw width (outermost jaw-line landmarks): steadier than the detector's box."""
        return float(np.linalg.norm(self.landmarks[16] - self.landmarks[0]))

    @property
    def centre(self) -> tuple[float, float]:
        """Mean of the 68 landmarks."""
        x, y = self.landmarks.mean(axis=0)
        return float(x), float(y)


def find_face(picture: Image.Image) -> Face | None:
    """The largest frontal face in `picture` (RGB) with its 68 landmarks, or None.

    The detector's cost grows with the pixels it scans, so it looks at a small copy first (a
    head-and-shoulders face is then still ~80 px or more) and only at larger ones, then at twice
    the size, when that finds nothing (a wide shot, a full-length photo).
    """
    import dlib

    full = np.asarray(picture)
    for side, upsample in _SEARCHES:
        scale = min(1.0, side / max(picture.size))
        small = picture
        if scale < 1.0:
            small = picture.resize(
                (max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                Image.BILINEAR,
            )
        with DLIB_LOCK:
            found = list(face_detector()(np.asarray(small), upsample))
        if found:
            break
    else:
        return None
    best = max(found, key=lambda r: r.width() * r.height())
    box = dlib.rectangle(
        round(best.left() / scale),
        round(best.top() / scale),
        round(best.right() / scale),
        round(best.bottom() / scale),
    )
    with DLIB_LOCK:
        shape = shape_predictor(68)(full, box)
    landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
    return Face(
        box=(float(box.left()), float(box.top()), float(box.right()), float(box.bottom())),
        landmarks=landmarks,
        shape=shape,
    )
