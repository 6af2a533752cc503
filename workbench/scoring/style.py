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
from scipy.ndimage import gaussian_filter
from skimage.color import rgb2lab
from skimage.restoration import estimate_sigma

from workbench.errors import InputError
from workbench.scoring.face import Face, find_face
from workbench.scoring.images import SCORING_SIDE, ImageInput, load_rgb

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
# The size pictures are read at (the score runner imports it under this name).
_GRAIN_SIDE = SCORING_SIDE
STYLE_VERSION = 3

# Each dimension: how many numbers describe it, and the difference in each number that counts
# as "clearly different" (a similarity of 0.5). Units: CIELAB L*, a*, b* (L* 0..100), fractions
# of the frame for framing, 8-bit levels for grain.
_LAYOUT: dict[str, tuple[float, ...]] = {
    # mean L*, a*, b* of the backdrop, then of each cell of a 4x4 grid over the frame (NaN
    # where a cell is mostly person): cells compare like with like whoever hides which part
    "backdrop_colour": (8.0, 5.0, 5.0) + (8.0, 5.0, 5.0) * 16,
    # std of backdrop L*: overall, a coarse band and a fine band (fine detail is mostly JPEG
    # and grain, hence its wide unit)
    "backdrop_texture": (3.0, 0.5, 0.3),
    # L* percentiles 2, 25, 50, 75, 98 of the whole frame; the darkest are mostly hair and
    # clothes, hence their wider units
    "tone_curve": (15.0, 10.0, 5.0, 5.0, 6.0),
    # mean a*, mean b*, mean chroma; shadows minus highlights a*, b* (split toning)
    "colour_grade": (3.0, 3.0, 3.5, 5.0, 8.0),
    # log ratio right/left half of the face and of the head and shoulders (the photo's own
    # light shows there too, hence wide units); the backdrop's tilt left-right and top-bottom
    # (L* across the frame); lit-to-shadow spread on the face (see _face_light)
    "face_light": (0.5, 0.4, 4.0, 6.0, 0.4),
    # face centre x, y as fractions of the frame; face width as a fraction of the frame width
    "framing": (0.025, 0.025, 0.04),
    # backdrop corners minus middle: L*, and relative to the middle's level (x50)
    "vignette": (4.0, 4.0),
    # noise sigma in 8-bit levels at full and at half resolution
    "grain": (1.5, 1.5),
}
STYLE_DIMENSIONS: tuple[str, ...] = tuple(_LAYOUT)
# How much each dimension counts in `overall`: by how well it tells the style's own drift apart
# from the person, measured (docs/scoring.md, "Weights"). After the panel adjustment, outputs of
# the most stable styles still differ from face to face in the whole-frame numbers (tone curve,
# colour grade: each style's curve and grade take the person's clothes, hair and skin
# differently) and in backdrop texture and vignette (the photo's own background and detail show
# round the person): there they measure the person. Grain is the same in every output, so it
# ranks nothing. Backdrop colour, framing and the light on the face hold; they rank the stable
# end. Every dimension is still measured and reported (`per_dimension`, the explanation).
_WEIGHTS: dict[str, float] = {
    "backdrop_colour": 1.0,
    "backdrop_texture": 0.0,
    "tone_curve": 0.0,
    "colour_grade": 0.0,
    "face_light": 0.5,
    "framing": 2.0,
    "vignette": 0.0,
    "grain": 0.0,
}
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
    picture = load_rgb(image, max_side=SCORING_SIDE)
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
        vector[_SLICES["face_light"]] = _face_light(lum, face, (sx, sy), person, backdrop)
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
    return gaussian_filter(mask.astype(np.float32), pixels / 2.0, truncate=3.0) > 0.02


def _border(h: int, w: int, fraction: float) -> np.ndarray:
    band = max(1, round(fraction * min(h, w)))
    mask = np.zeros((h, w), dtype=bool)
    mask[:band], mask[-band:], mask[:, :band], mask[:, -band:] = True, True, True, True
    return mask


_GRID = 4


def _backdrop_colour(lab: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    h, w = backdrop.shape
    cells = []
    for row, col in itertools.product(range(_GRID), range(_GRID)):
        ys = slice(row * h // _GRID, (row + 1) * h // _GRID)
        xs = slice(col * w // _GRID, (col + 1) * w // _GRID)
        inside = backdrop[ys, xs]
        if inside.mean() < 0.3:
            cells.append(np.full(3, np.nan))
        else:
            cells.append(lab[ys, xs][inside].mean(axis=0))
    return np.concatenate([lab[backdrop].mean(axis=0), *cells])


def _backdrop_texture(lum: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    fine = gaussian_filter(lum, 1.0, truncate=3.0)
    coarse = gaussian_filter(lum, 4.0, truncate=3.0)
    return np.array(
        [lum[backdrop].std(), (fine - coarse)[backdrop].std(), (lum - fine)[backdrop].std()]
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


# Light ratios are taken between L* + this, not L* alone: on a dark face in low-key light (L*
# 5-15) a plain ratio swings with every level of noise; on a lit face (L* 40-70) it hardly
# changes the ratio.
_DARK = 10.0


def _face_light(
    lum: np.ndarray,
    face: Face,
    scale: tuple[float, float],
    person: np.ndarray,
    backdrop: np.ndarray,
) -> np.ndarray:
    """Where the light comes from and how hard it is: log ratios of the right to the left half
    of the face (jaw line and brows) and of the head and shoulders, split at the face's centre;
    the backdrop's tilt left-right and top-bottom; the lit-to-shadow spread on the face.
    Ratios (softened in the dark, `_DARK`), so the skin's own brightness cancels."""
    points = face.landmarks.astype(np.float64) * np.array(scale)
    h, w = lum.shape
    outline = np.concatenate([points[0:17], points[26:16:-1]])
    canvas = Image.new("1", (w, h), 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in outline], fill=1)
    inside = np.asarray(canvas, dtype=bool)
    centre_x = float(points[27:31, 0].mean())  # the nose bridge
    right_side = np.arange(w)[None, :] >= centre_x

    def log_ratio(region: np.ndarray) -> float:
        right, left = region & right_side, region & ~right_side
        if right.sum() < 4 or left.sum() < 4:
            return 0.0
        return math.log((float(lum[right].mean()) + _DARK) / (float(lum[left].mean()) + _DARK))

    values = lum[inside] if inside.sum() >= 8 else lum[person]
    low, high = np.percentile(values, (10, 90))
    spread = (high - low) / (float(values.mean()) + _DARK)
    ny, nx = np.mgrid[0:h, 0:w].astype(np.float64)
    design = np.stack(
        [np.ones(int(backdrop.sum())), nx[backdrop] / w - 0.5, ny[backdrop] / h - 0.5], -1
    )
    tilt, *_ = np.linalg.lstsq(design, lum[backdrop], rcond=None)
    return np.array([log_ratio(inside), log_ratio(person), tilt[1], tilt[2], spread])


def _grain(picture: Image.Image) -> np.ndarray:
    """Noise sigma (8-bit levels) of the top third of the frame, at full and half resolution:
    grain is the same everywhere, and the top is mostly out-of-focus backdrop."""
    grey = np.asarray(picture.convert("L"), dtype=np.float32)
    grey = grey[: max(16, grey.shape[0] // 3)]
    half = grey[: grey.shape[0] // 2 * 2, : grey.shape[1] // 2 * 2]
    half = half.reshape(half.shape[0] // 2, 2, half.shape[1] // 2, 2).mean(axis=(1, 3))
    return np.array([estimate_sigma(grey), estimate_sigma(half)], dtype=np.float64)


# --- Comparing --------------------------------------------------------------------------------


def compare_styles(a: StyleDescriptor, b: StyleDescriptor) -> StyleComparison:
    """How alike two styles are, per dimension and overall (their weighted mean, `_WEIGHTS`).

    Each dimension's similarity is 2^-(d²), d² being the mean squared difference of its numbers
    in units of "clearly different": 1 when equal, 0.5 at one unit, near 0 beyond three.
    Numbers missing in either (a backdrop cell hidden by the person) are left out. A face
    dimension is 1 when neither picture has a face and 0 when only one has.
    """
    difference = (a.vector.astype(np.float64) - b.vector.astype(np.float64)) / _SCALES
    per_dimension: dict[str, float] = {}
    for name, part in _SLICES.items():
        if name in _FACE_DIMENSIONS:
            missing_a, missing_b = np.isnan(a.vector[part]).all(), np.isnan(b.vector[part]).all()
            if missing_a or missing_b:
                per_dimension[name] = 1.0 if (missing_a and missing_b) else 0.0
                continue
        d = difference[part]
        d = d[~np.isnan(d)]
        per_dimension[name] = float(2.0 ** (-float(np.mean(d * d)))) if d.size else 1.0
    overall = sum(_WEIGHTS[n] * v for n, v in per_dimension.items()) / sum(_WEIGHTS.values())
    return StyleComparison(overall=float(overall), per_dimension=per_dimension)


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
