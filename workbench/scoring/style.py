"""The style descriptor: how alike two outputs are *apart from the person*.

A picture is split into the person (a head-and-shoulders mask built on dlib's 68 face
landmarks) and the backdrop (everything well outside it). Each style dimension is a few numbers
measured where the person cannot leak into them: the backdrop's colour and texture from
backdrop pixels only, the light on the face as a luminance *gradient* across the face (not the
skin's own brightness), framing from the face box, vignette from how the backdrop darkens
towards the corners, grain with scikit-image's wavelet noise estimate. Colours are CIELAB from
`skimage.color.rgb2lab` (never Pillow's LAB mode, which stores a and b as signed bytes in
uint8). docs/scoring.md explains every number and shows the mask.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw
from skimage.color import rgb2lab
from skimage.filters import gaussian
from skimage.restoration import estimate_sigma

from workbench.errors import InputError
from workbench.scoring.face import Face, find_face
from workbench.scoring.images import ImageInput, load_rgb

__all__ = [
    "STYLE_DIMENSIONS",
    "STYLE_SCORER",
    "STYLE_VERSION",
    "StyleComparison",
    "StyleDescriptor",
    "compare_styles",
    "describe_style",
    "person_mask",
    "style_consistency",
]

STYLE_SCORER = "style"
STYLE_VERSION = 1

# Each dimension: how many numbers describe it, and the difference in each number that counts
# as "clearly different" (a similarity of 0.5). Units: CIELAB L*, a*, b* (L* 0..100), fractions
# of the frame for framing, 8-bit levels for grain.
_LAYOUT: dict[str, tuple[float, ...]] = {
    # median L*, a*, b* of the backdrop; upper minus lower backdrop L*, a*, b* (gradient, sky)
    "backdrop_colour": (8.0, 5.0, 5.0, 10.0, 6.0, 6.0),
    # std of backdrop L*: overall, coarse band, fine band
    "backdrop_texture": (4.0, 2.0, 1.0),
    # L* percentiles 2, 25, 50, 75, 98 of the whole frame
    "tone_curve": (8.0, 7.0, 7.0, 7.0, 8.0),
    # mean a*, mean b*, mean chroma; shadows minus highlights a*, b* (split toning)
    "colour_grade": (4.0, 4.0, 5.0, 5.0, 5.0),
    # log ratios right/left cheek and forehead/cheeks, lit-to-shadow spread (see _face_light)
    "face_light": (0.12, 0.12, 0.12),
    # face centre x, y as fractions of the frame; face width as a fraction of the frame width
    "framing": (0.04, 0.04, 0.04),
    # backdrop corners minus middle: L*, and relative to the middle's level (x50)
    "vignette": (5.0, 5.0),
    # noise sigma in 8-bit levels at full and at half resolution
    "grain": (1.5, 1.5),
}
STYLE_DIMENSIONS: tuple[str, ...] = tuple(_LAYOUT)
_SLICES: dict[str, slice] = {}
_start = 0
for _name, _scales in _LAYOUT.items():
    _SLICES[_name] = slice(_start, _start + len(_scales))
    _start += len(_scales)
_LENGTH = _start
_SCALES = np.array([s for scales in _LAYOUT.values() for s in scales], dtype=np.float64)
# Dimensions that need a face; NaN in a descriptor of a picture without one.
_FACE_DIMENSIONS = ("face_light", "framing")

# Colour statistics are measured on a picture this size (long side): backdrops are smooth.
_ANALYSIS_SIDE = 256
# Grain is measured at no more than this size (long side), before any other scaling.
_GRAIN_SIDE = 1024


@dataclass(frozen=True)
class StyleDescriptor:
    """A picture's style as one flat float32 vector (fixed length for a STYLE_VERSION).

    `dimension(name)` is the slice of one style dimension. Face-dependent dimensions are NaN
    when the picture has no detectable face.
    """

    vector: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        vector = np.asarray(self.vector, dtype=np.float32).reshape(-1)
        if vector.shape != (_LENGTH,):
            raise InputError(
                f"style descriptor: expected {_LENGTH} numbers (STYLE_VERSION {STYLE_VERSION}),"
                f" got {vector.size}"
            )
        object.__setattr__(self, "vector", vector)

    def dimension(self, name: str) -> np.ndarray:
        if name not in _SLICES:
            raise KeyError(f"{name!r} is not a style dimension; one of {', '.join(_SLICES)}")
        return self.vector[_SLICES[name]]

    @property
    def has_face(self) -> bool:
        return not bool(np.isnan(self.dimension("framing")).any())

    @classmethod
    def from_vector(cls, vector) -> StyleDescriptor:
        return cls(np.asarray(vector, dtype=np.float32))


@dataclass(frozen=True)
class StyleComparison:
    """How alike two styles are: `overall` and each dimension, all in [0, 1] (1 = same)."""

    overall: float
    per_dimension: dict[str, float]


# --- Describing one picture -------------------------------------------------------------------


def describe_style(image: ImageInput) -> StyleDescriptor:
    """The style descriptor of one output (path, bytes or PIL image). A picture without a face
    still gets one: its backdrop is then everything outside a centred head-and-shoulders guess."""
    picture = load_rgb(image, max_side=_GRAIN_SIDE)
    return describe_picture(picture, find_face(picture))


def describe_picture(picture: Image.Image, face: Face | None) -> StyleDescriptor:
    """The descriptor of an RGB picture whose face (or None) is already found."""
    width, height = picture.size
    scale = min(1.0, _ANALYSIS_SIDE / max(width, height))
    small = picture.resize(
        (max(8, round(width * scale)), max(8, round(height * scale))), Image.BILINEAR
    )
    lab = rgb2lab(np.asarray(small, dtype=np.float32) / 255.0)
    lum = lab[..., 0]
    h, w = lum.shape
    sx, sy = w / width, h / height
    person = person_mask(small.size, face, (sx, sy))
    backdrop = ~_grow(person, max(2, round(0.03 * max(h, w))))
    if backdrop.sum() < 0.02 * h * w:
        # The person fills the frame: the outermost band is the best view of the backdrop.
        backdrop = _border(h, w, 0.08)

    vector = np.full(_LENGTH, np.nan, dtype=np.float64)
    vector[_SLICES["backdrop_colour"]] = _backdrop_colour(lab, backdrop)
    vector[_SLICES["backdrop_texture"]] = _backdrop_texture(lum, backdrop)
    vector[_SLICES["tone_curve"]] = np.percentile(lum, (2, 25, 50, 75, 98))
    vector[_SLICES["colour_grade"]] = _colour_grade(lab)
    vector[_SLICES["vignette"]] = _vignette(lum, backdrop)
    vector[_SLICES["grain"]] = _grain(picture)
    if face is not None:
        vector[_SLICES["face_light"]] = _face_light(lum, face, (sx, sy))
        cx, cy = face.centre
        vector[_SLICES["framing"]] = (cx / width, cy / height, face.width / width)
    return StyleDescriptor(vector.astype(np.float32))


def person_mask(
    size: tuple[int, int], face: Face | None, scale: tuple[float, float] = (1.0, 1.0)
) -> np.ndarray:
    """Boolean (height, width) head-and-shoulders mask for a picture of `size` (width, height).

    Built from the face's landmarks (scaled by `scale` from the face's picture): the head with
    room for hair above and beside the jaw line, the neck, and shoulders that run out of the
    bottom of the frame. Without a face, a centred head-and-shoulders guess.
    """
    width, height = size
    if face is None:
        cx, cy, fw = 0.5 * width, 0.42 * height, 0.33 * width
        top = cy - 0.6 * fw
    else:
        points = face.landmarks * np.array(scale, dtype=np.float32)
        jaw = points[0:17]
        fw = float(np.linalg.norm(jaw[16] - jaw[0]))
        cx = float(points[:, 0].mean())
        cy = float(points[:, 1].mean())
        top = float(points[17:27, 1].min())  # the brows
    canvas = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    # Head and hair: from well above the brows to below the chin, wider than the jaw.
    draw.ellipse((cx - 0.85 * fw, top - 0.75 * fw, cx + 0.85 * fw, cy + 0.75 * fw), fill=1)
    # Neck, then shoulders running out of the frame.
    draw.rectangle((cx - 0.45 * fw, cy, cx + 0.45 * fw, cy + 1.3 * fw), fill=1)
    draw.ellipse((cx - 1.7 * fw, cy + 0.9 * fw, cx + 1.7 * fw, cy + 4.5 * fw), fill=1)
    if cy + 2.7 * fw < height:
        draw.rectangle((cx - 1.7 * fw, cy + 2.7 * fw, cx + 1.7 * fw, height), fill=1)
    return np.asarray(canvas, dtype=bool)


def _grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    # A blurred mask thresholded low: a cheap, smooth dilation.
    return gaussian(mask.astype(np.float32), sigma=pixels / 2.0) > 0.02


def _border(h: int, w: int, fraction: float) -> np.ndarray:
    band = max(1, round(fraction * min(h, w)))
    mask = np.zeros((h, w), dtype=bool)
    mask[:band], mask[-band:], mask[:, :band], mask[:, -band:] = True, True, True, True
    return mask


def _backdrop_colour(lab: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    h = lab.shape[0]
    rows = np.arange(h)[:, None]
    upper = backdrop & (rows < h / 2)
    lower = backdrop & (rows >= h / 2)
    median = np.median(lab[backdrop], axis=0)
    if upper.any() and lower.any():
        gradient = lab[upper].mean(axis=0) - lab[lower].mean(axis=0)
    else:
        gradient = np.zeros(3)
    return np.concatenate([median, gradient])


def _backdrop_texture(lum: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    fine = gaussian(lum, sigma=1.0)
    coarse = gaussian(lum, sigma=4.0)
    return np.array(
        [
            lum[backdrop].std(),
            (coarse - gaussian(lum, sigma=12.0))[backdrop].std(),
            (fine - coarse)[backdrop].std(),
        ]
    )


def _colour_grade(lab: np.ndarray) -> np.ndarray:
    lum, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    low, high = np.percentile(lum, (25, 75))
    shadows, highlights = lum <= low, lum >= high
    split = (
        (a[shadows].mean() - a[highlights].mean(), b[shadows].mean() - b[highlights].mean())
        if shadows.any() and highlights.any()
        else (0.0, 0.0)
    )
    return np.array([a.mean(), b.mean(), np.hypot(a, b).mean(), *split])


def _vignette(lum: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    """How much darker the backdrop is in the corners than nearer the middle, overall and
    relative to its level."""
    h, w = lum.shape
    ny, nx = np.mgrid[0:h, 0:w].astype(np.float64)
    nx, ny = (nx + 0.5) / w * 2 - 1, (ny + 0.5) / h * 2 - 1
    r2 = (nx * nx + ny * ny) / 2.0
    corners, middle = backdrop & (r2 > 0.6), backdrop & (r2 <= 0.45)
    if not corners.any() or not middle.any():
        middle = backdrop & ~corners
    if not corners.any() or not middle.any():
        return np.array([0.0, 0.0])
    drop = float(lum[corners].mean() - lum[middle].mean())
    return np.array([drop, 50.0 * drop / max(float(lum[middle].mean()), 5.0)])


def _face_light(lum: np.ndarray, face: Face, scale: tuple[float, float]) -> np.ndarray:
    """Light on the face from skin patches that beards, brows and hair rarely cover: each cheek
    under the eye and the forehead just above the brows. Ratios, so the skin's own brightness
    cancels: log right/left cheek (direction across), log forehead/cheeks (from above), and the
    lit-to-shadowed spread over all three (key to fill)."""
    points = face.landmarks.astype(np.float64) * np.array(scale)
    fw = max(1.0, float(np.linalg.norm(points[16] - points[0])))
    left = (points[1] + points[31] + points[40]) / 3  # the picture's left cheek
    right = (points[15] + points[35] + points[47]) / 3
    brows = points[17:27]
    forehead = np.array([brows[:, 0].mean(), brows[:, 1].min() - 0.12 * fw])
    levels = [_patch_mean(lum, centre, 0.07 * fw) for centre in (left, right, forehead)]
    left_l, right_l, top_l = (max(level, 2.0) for level in levels)
    cheeks = (left_l + right_l) / 2
    return np.array(
        [
            math.log(right_l / left_l),
            math.log(top_l / cheeks),
            (max(levels) - min(levels)) / max(float(np.mean(levels)), 2.0),
        ]
    )


def _patch_mean(lum: np.ndarray, centre: np.ndarray, radius: float) -> float:
    h, w = lum.shape
    r = max(1.0, radius)
    x0, x1 = int(np.clip(centre[0] - r, 0, w - 1)), int(np.clip(centre[0] + r + 1, 1, w))
    y0, y1 = int(np.clip(centre[1] - r, 0, h - 1)), int(np.clip(centre[1] + r + 1, 1, h))
    patch = lum[y0:y1, x0:x1]
    return float(patch.mean()) if patch.size else float(lum.mean())


def _grain(picture: Image.Image) -> np.ndarray:
    grey = np.asarray(picture.convert("L"), dtype=np.float32)
    half = grey[: grey.shape[0] // 2 * 2, : grey.shape[1] // 2 * 2]
    half = half.reshape(half.shape[0] // 2, 2, half.shape[1] // 2, 2).mean(axis=(1, 3))
    return np.array([estimate_sigma(grey), estimate_sigma(half)], dtype=np.float64)


# --- Comparing --------------------------------------------------------------------------------


def compare_styles(a: StyleDescriptor, b: StyleDescriptor) -> StyleComparison:
    """How alike two styles are, per dimension and overall (the mean of the dimensions).

    Each dimension's similarity is 2^-(d²), d being the RMS of its numbers' differences in
    units of "clearly different": 1 when equal, 0.5 at one unit, near 0 beyond three. A face
    dimension is 1 when neither picture has a face and 0 when only one has.
    """
    difference = (a.vector.astype(np.float64) - b.vector.astype(np.float64)) / _SCALES
    per_dimension: dict[str, float] = {}
    for name, part in _SLICES.items():
        d = difference[part]
        missing_a = np.isnan(a.vector[part]).any()
        missing_b = np.isnan(b.vector[part]).any()
        if missing_a or missing_b:
            per_dimension[name] = 1.0 if (missing_a and missing_b) else 0.0
            continue
        per_dimension[name] = float(2.0 ** (-float(np.mean(d * d))))
    overall = float(np.mean(list(per_dimension.values())))
    return StyleComparison(overall=overall, per_dimension=per_dimension)


def style_consistency(images: Sequence[ImageInput]) -> float:
    """Mean pairwise style similarity of two or more outputs, in [0, 1] (1 = same style)."""
    if isinstance(images, str | bytes) or len(images) < 2:
        count = 1 if isinstance(images, str | bytes) else len(images)
        raise InputError(f"style_consistency: needs at least 2 images, got {count}")
    descriptors = [describe_style(image) for image in images]
    return consistency_of(descriptors)


def consistency_of(descriptors: Sequence[StyleDescriptor]) -> float:
    """Mean pairwise `compare_styles(...).overall` of two or more descriptors."""
    if len(descriptors) < 2:
        raise InputError(f"style consistency: needs at least 2 images, got {len(descriptors)}")
    pairs = itertools.combinations(descriptors, 2)
    scores = [compare_styles(a, b).overall for a, b in pairs]
    return float(math.fsum(scores) / len(scores))
