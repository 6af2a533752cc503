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
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter
from skimage.color import rgb2lab

from workbench.errors import InputError
from workbench.scoring.face import Face, find_face
from workbench.scoring.images import SCORING_SIDE, ImageInput, load_rgb

__all__ = [
    "DIMENSION_WORDS",
    "STYLE_DIMENSIONS",
    "STYLE_SCORER",
    "STYLE_VERSION",
    "StyleComparison",
    "StyleDescriptor",
    "compare_styles",
    "describe_style",
    "person_mask",
    "style_consistency",
    "style_differences",
]

STYLE_SCORER = "style"
# The size pictures are read at (the score runner imports it under this name).
_GRAIN_SIDE = SCORING_SIDE
STYLE_VERSION = 5

# Each dimension: how many numbers describe it, and the difference in each number that counts
# as "clearly different" (a similarity of 0.5). Units: CIELAB L*, a*, b* (L* 0..100), fractions
# of the frame for framing, natural logs for ratios (0.3 is about a third more or less).
_LAYOUT: dict[str, tuple[float, ...]] = {
    # mean L*, a*, b* of the backdrop, then of each cell of a 4x4 grid over the frame (NaN
    # where a cell is mostly person): cells compare like with like whoever hides which part
    "backdrop_colour": (8.0, 5.0, 5.0) + (8.0, 5.0, 5.0) * 16,
    # log of the backdrop's L* detail in three bands of size (fine, medium, coarse; robust to
    # stray hair), the lighting's slow variation taken out
    "backdrop_texture": (0.45, 0.45, 0.45),
    # the backdrop's median L* (exposure), the frame's black and white points (L* percentiles
    # 1 and 99: pupils and catchlights are in every portrait), the log spread of the backdrop's
    # light and the log of the face's local contrast (midtone slope where every person has
    # skin, eyes and brows)
    "tone_curve": (6.0, 6.0, 4.0, 0.4, 0.12),
    # mean a*, b* of the backdrop (white balance where the person is not); the face's and the
    # frame's chroma
    # (saturation); shadows minus highlights a*, b* (split toning)
    "colour_grade": (3.0, 3.0, 4.0, 4.0, 4.0, 5.0),
    # log ratio right/left half of the face and of the head and shoulders (the photo's own
    # light shows there too, hence wide units); the backdrop's tilt left-right and top-bottom
    # (L* across the frame); lit-to-shadow spread on the face (see _face_light)
    "face_light": (0.1, 0.1, 4.0, 15.0, 0.4),
    # face centre x, y as fractions of the frame; log of the face width over the frame width
    "framing": (0.03, 0.05, 0.15),
    # backdrop corners minus middle: L*, and relative to the middle's level (x50)
    "vignette": (4.0, 4.0),
    # log of the backdrop's noise (8-bit levels) at 256 and 128 px on the long side
    "grain": (0.35, 0.35),
    # log ratio of fine to medium detail on the person and on the face, at 512 px
    "sharpness": (0.2, 0.2),
}
STYLE_DIMENSIONS: tuple[str, ...] = tuple(_LAYOUT)
# How much each dimension counts in `overall` = 2^-(sum of weight x mean d²): chosen on real
# photos (docs/scoring.md, "Weights") so that each named change a photographer would make,
# applied at full strength to half of a panel shot in one studio set-up, lowers consistency
# by about as much (20-56 %), while a JPEG re-encode, a downscale or other people in the same
# set-up cost under 2 %. Never searched against the simulator. They sum to 1.5: outputs one
# unit apart in every dimension are 2^-1.5 = 0.35 alike.
_WEIGHTS: dict[str, float] = {
    "backdrop_colour": 0.15,
    "backdrop_texture": 0.05,
    "tone_curve": 0.4,
    "colour_grade": 0.2,
    "face_light": 0.1,
    "framing": 0.2,
    "vignette": 0.1,
    "grain": 0.2,
    "sharpness": 0.1,
}
# Each dimension in a photographer's words (explanations, the app's breakdown).
DIMENSION_WORDS: dict[str, str] = {
    "backdrop_colour": "backdrop colour",
    "backdrop_texture": "backdrop texture",
    "tone_curve": "exposure and contrast",
    "colour_grade": "colour grade",
    "face_light": "light on the face",
    "framing": "framing",
    "vignette": "vignette",
    "grain": "grain",
    "sharpness": "sharpness",
}
# How one output differs, in words, per dimension: (number within the dimension, the word
# when it is lower than the panel's, the word when higher), in order of preference: the first
# number clearly away from the panel's names the difference.
_DIRECTIONS: dict[str, tuple[tuple[int, str, str], ...]] = {
    "backdrop_colour": (
        (2, "bluer backdrop", "yellower backdrop"),
        (1, "greener backdrop", "redder backdrop"),
        (0, "darker backdrop", "lighter backdrop"),
    ),
    "backdrop_texture": (
        (1, "plainer backdrop", "busier backdrop"),
        (0, "plainer backdrop", "busier backdrop"),
        (2, "plainer backdrop", "busier backdrop"),
    ),
    "tone_curve": (
        (0, "darker", "brighter"),
        (4, "flatter", "more contrast"),
        (3, "flatter", "more contrast"),
        (1, "deeper blacks", "lifted blacks"),
        (2, "duller whites", "brighter whites"),
    ),
    "colour_grade": (
        (1, "cooler", "warmer"),
        (0, "greener", "more magenta"),
        (2, "less saturated", "more saturated"),
        (3, "less saturated", "more saturated"),
        (5, "bluer shadows", "yellower shadows"),
        (4, "greener shadows", "redder shadows"),
    ),
    "face_light": (
        (0, "lit from the left", "lit from the right"),
        (1, "lit from the left", "lit from the right"),
        (4, "softer light", "harder light"),
        (2, "lit from the left", "lit from the right"),
        (3, "lit from below", "lit from above"),
    ),
    "framing": (
        (2, "wider", "tighter"),
        (0, "further left", "further right"),
        (1, "higher", "lower"),
    ),
    "vignette": (
        (0, "darker corners", "lighter corners"),
        (1, "darker corners", "lighter corners"),
    ),
    "grain": ((0, "cleaner", "grainier"), (1, "cleaner", "grainier")),
    "sharpness": ((0, "softer", "sharper"), (1, "softer", "sharper")),
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
_STARTS = np.array([part.start for part in _SLICES.values()])
_FACE_INDEX = np.array([STYLE_DIMENSIONS.index(name) for name in _FACE_DIMENSIONS])
_WEIGHT_VECTOR = np.array([_WEIGHTS[name] for name in STYLE_DIMENSIONS])

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
    inside = _face_inside(face, (sx, sy), (h, w)) if face is not None else person
    vector[_SLICES["tone_curve"]] = _tone_curve(lum, backdrop, inside)
    vector[_SLICES["colour_grade"]] = _colour_grade(lab, inside, backdrop)
    vector[_SLICES["vignette"]] = _vignette(lum, backdrop)
    detail = _detail_copy(picture)
    dh, dw = detail.shape
    dscale = (dw / width, dh / height)
    detail_person = person_mask((dw, dh), face, dscale)
    detail_backdrop = ~_grow(detail_person, max(2, round(0.03 * max(dh, dw))))
    if detail_backdrop.sum() < 0.02 * dh * dw:
        detail_backdrop = _border(dh, dw, 0.08)
    vector[_SLICES["grain"]] = _grain(detail, detail_backdrop)
    detail_face = _face_inside(face, dscale, (dh, dw)) if face is not None else detail_person
    vector[_SLICES["sharpness"]] = _sharpness(detail, detail_person, detail_face)
    if face is not None:
        vector[_SLICES["face_light"]] = _face_light(lum, face, (sx, sy), person, backdrop)
        cx, cy = face.centre
        vector[_SLICES["framing"]] = (
            cx / width,
            cy / height,
            math.log(max(face.width, 1.0) / width),
        )
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


def _robust_std(values: np.ndarray) -> float:
    """Standard deviation from the median absolute deviation: stray hair or an ear at the
    backdrop's edge does not count."""
    if values.size < 8:
        return 0.0
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def _backdrop_texture(lum: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    """Log of the backdrop's detail in three bands of size (under 1 px, 1-3 px and 3-8 px at
    256 px): a mottled or patterned backdrop has more of it than a plain one, whatever the
    person."""
    inner = ~_grow(~backdrop, 2)
    where = inner if inner.sum() >= 64 else backdrop
    levels = [lum] + [gaussian_filter(lum, s, truncate=3.0) for s in (1.0, 3.0, 8.0)]
    bands = [
        math.log(_robust_std((fine - coarse)[where]) + 0.15)
        for fine, coarse in itertools.pairwise(levels)
    ]
    return np.array(bands)


def _tone_curve(lum: np.ndarray, backdrop: np.ndarray, face: np.ndarray) -> np.ndarray:
    """The tone curve apart from the person's own brightness: the backdrop's median L*
    (exposure), the frame's black and white points (L* percentiles 1 and 99), the log spread
    of the backdrop's slow light variation and the log of the face's local contrast (a steeper
    curve stretches both, a flatter one squeezes them; a darker skin has the same detail)."""
    smooth = gaussian_filter(lum, 4.0, truncate=3.0)[backdrop]
    low, high = np.percentile(smooth, (5, 95)) if smooth.size else (0.0, 0.0)
    black, white = np.percentile(lum, (1, 99))
    median = float(np.median(lum[backdrop]))
    region = face if face.sum() >= 16 else np.ones_like(face)
    local = float((lum - gaussian_filter(lum, 3.0, truncate=3.0))[region].std())
    return np.array([median, black, white, math.log(high - low + 1.0), math.log(local + 0.5)])


def _face_inside(face: Face, scale: tuple[float, float], shape: tuple[int, int]) -> np.ndarray:
    """The face inside its jaw line and brows, as a mask of `shape`."""
    points = face.landmarks.astype(np.float64) * np.array(scale)
    h, w = shape
    outline = np.concatenate([points[0:17], points[26:16:-1]])
    canvas = Image.new("1", (w, h), 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in outline], fill=1)
    return np.asarray(canvas, dtype=bool)


def _colour_grade(lab: np.ndarray, face: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    """White balance (the backdrop's mean a*, b*), saturation (mean chroma of the face and the
    frame's 90th percentile of chroma: skin has colour in every style but a monochrome one) and
    split toning (shadows minus highlights a*, b*)."""
    lum, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    chroma = np.hypot(a, b)
    low, high = np.percentile(lum, (25, 75))
    shadows, highlights = lum <= low, lum >= high
    split = (
        (a[shadows].mean() - a[highlights].mean(), b[shadows].mean() - b[highlights].mean())
        if shadows.any() and highlights.any()
        else (0.0, 0.0)
    )
    face_chroma = float(chroma[face].mean()) if face.sum() >= 8 else float(chroma.mean())
    # White balance where the person is not: a cast moves the backdrop's a*, b* as it moves
    # everything, while the frame's mean also carries the person's skin, hair and clothes.
    balance = (a[backdrop].mean(), b[backdrop].mean())
    return np.array([*balance, face_chroma, np.percentile(chroma, 90), *split])


def _vignette(lum: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    """How much darker the backdrop is in the corners than at the middle of the frame's edges,
    absolute and relative to that level. Corners against edges, not against the middle: a
    light that falls off from one side or from top to bottom darkens corners and edges alike,
    a vignette the corners only."""
    h, w = lum.shape
    ny, nx = np.mgrid[0:h, 0:w].astype(np.float64)
    nx, ny = np.abs((nx + 0.5) / w * 2 - 1), np.abs((ny + 0.5) / h * 2 - 1)
    edge = np.maximum(nx, ny) > 0.8
    corners = backdrop & (nx > 0.8) & (ny > 0.8)
    middles = backdrop & edge & (np.minimum(nx, ny) < 0.35)
    if corners.sum() < 8 or middles.sum() < 8:
        return np.array([0.0, 0.0])
    corner, middle = float(np.median(lum[corners])), float(np.median(lum[middles]))
    drop = corner - middle
    return np.array([drop, 50.0 * drop / max(middle, 5.0)])


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


# Grain and sharpness are measured on a copy this size (long side): a fixed scale, so a photo
# and its downscaled copy read alike, and JPEG's finest artefacts are averaged away.
_DETAIL_SIDE = 512


def _detail_copy(picture: Image.Image) -> np.ndarray:
    grey = picture.convert("L")
    scale = min(1.0, _DETAIL_SIDE / max(grey.size))
    if scale < 1.0:
        size = (max(8, round(grey.width * scale)), max(8, round(grey.height * scale)))
        grey = grey.resize(size, Image.LANCZOS)
    return np.asarray(grey, dtype=np.float32)


def _grain(grey: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    """Log noise (8-bit levels) of the backdrop at 256 and 128 px: the high-pass residual's
    robust spread where the picture should be smooth."""
    inner = ~_grow(~backdrop, 3)
    where = inner if inner.sum() >= 64 else backdrop
    noise = []
    for step in (2, 4):
        # Averaged down first: at the detail copy's own scale, JPEG's blocks and ringing
        # outweigh any grain a person would see.
        small = gaussian_filter(grey, 0.5 * step, truncate=3.0)[::step, ::step]
        residual = small - gaussian_filter(small, 1.0, truncate=3.0)
        noise.append(math.log(_robust_std(residual[where[::step, ::step]]) + 0.3))
    return np.array(noise)


def _sharpness(grey: np.ndarray, person: np.ndarray, face: np.ndarray) -> np.ndarray:
    """How crisp the subject is: log ratio of fine detail (under 1 px) to medium detail (1-2.5
    px) on the person and on the face, at 512 px. A blur removes fine detail first; the ratio
    does not depend on how much detail the person has, only on how sharply it is drawn."""
    fine = grey - gaussian_filter(grey, 1.0, truncate=3.0)
    medium = gaussian_filter(grey, 1.0, truncate=3.0) - gaussian_filter(grey, 2.5, truncate=3.0)

    def ratio(region: np.ndarray) -> float:
        if region.sum() < 16:
            region = np.ones_like(region)
        # The strongest medium-scale detail (edges) says where the picture is drawn; the fine
        # detail there says how sharply.
        strength = np.abs(medium[region])
        edges = strength >= np.percentile(strength, 80)
        f = float(np.sqrt(np.mean(fine[region][edges] ** 2)))
        m = float(np.sqrt(np.mean(medium[region][edges] ** 2)))
        return math.log((f + 0.1) / (m + 0.1))

    return np.array([ratio(person), ratio(face)])


# --- Comparing --------------------------------------------------------------------------------


# No one dimension lowers `overall` by more than this many units² (a factor 2^-(weight x 16)):
# one wild number, or a face found in one output only, cannot wipe out the rest.
_MOST_D2 = 16.0


def compare_styles(a: StyleDescriptor, b: StyleDescriptor) -> StyleComparison:
    """How alike two styles are, per dimension and overall.

    Each dimension's similarity is 2^-(d²), d² being the mean squared difference of its numbers
    in units of "clearly different": 1 when equal, 0.5 at one unit, near 0 beyond three.
    Numbers missing in either (a backdrop cell hidden by the person) are left out. A face
    dimension is 1 when neither picture has a face and 0 when only one has.

    `overall` is 2^-(sum of weight x d², each d² at most `_MOST_D2`): the product of the
    dimensions' similarities, each raised to its weight (`_WEIGHTS`). A change in any one
    dimension lowers it by the same factor whatever the others do; a weighted mean would
    dilute it by the other dimensions' share.
    """
    # One pass over the whole vector (this runs for every pair of a candidate's images).
    squared = ((a.vector.astype(np.float64) - b.vector.astype(np.float64)) / _SCALES) ** 2
    known = ~np.isnan(squared)
    sums = np.add.reduceat(np.where(known, squared, 0.0), _STARTS)
    counts = np.add.reduceat(known, _STARTS)
    d2 = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    capped = np.minimum(d2, _MOST_D2)
    similarity = 2.0**-d2
    has_a, has_b = a.has_face, b.has_face
    if not (has_a and has_b):
        # Neither has a face: the face dimensions agree. Only one has: they cannot.
        both_missing = not has_a and not has_b
        similarity[_FACE_INDEX] = 1.0 if both_missing else 0.0
        capped[_FACE_INDEX] = 0.0 if both_missing else _MOST_D2
    overall = 2.0 ** -float(_WEIGHT_VECTOR @ capped)
    return StyleComparison(
        overall=overall,
        per_dimension=dict(zip(STYLE_DIMENSIONS, similarity.tolist(), strict=True)),
    )


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


def style_differences(
    faces: Mapping[str, Sequence[StyleDescriptor]], *, least: float = 1.5
) -> dict[str, str]:
    """How the faces that stand out differ, per dimension, in words: e.g. {"sharpness":
    "softer on 2 faces", "colour_grade": "warmer on 1 face"}.

    Each face's outputs are averaged and compared with the median face. A face stands out in
    a dimension when one of its numbers is at least `least` units ("clearly different") away;
    the first such number in the dimension's order of words (`_DIRECTIONS`) says how. The
    two commonest differences of a dimension are named; dimensions where no face stands out
    are left out.
    """
    with warnings.catch_warnings():
        # A number missing in every output of a face (a hidden grid cell) stays missing.
        warnings.simplefilter("ignore", RuntimeWarning)
        means = [
            np.nanmean(np.stack([d.vector for d in found]).astype(np.float64), axis=0)
            for found in faces.values()
            if found
        ]
        if len(means) < 2:
            return {}
        stacked = np.stack(means)
        median = np.nanmedian(stacked, axis=0)
    away = np.nan_to_num((stacked - median) / _SCALES, nan=0.0)
    result: dict[str, str] = {}
    for name, directions in _DIRECTIONS.items():
        start = _SLICES[name].start
        named = np.zeros(len(away), dtype=bool)  # faces whose difference is already worded
        counts: dict[str, int] = {}
        for index, low, high in directions:
            values = away[:, start + index]
            for word, hits in ((low, values <= -least), (high, values >= least)):
                fresh = hits & ~named
                if fresh.any():
                    counts[word] = counts.get(word, 0) + int(fresh.sum())
                    named |= fresh
        if counts:
            # The two commonest differences: an explanation a person reads at a glance.
            ranked = sorted(counts.items(), key=lambda item: -item[1])[:2]
            result[name] = ", ".join(
                f"{word} on {count} face{'s' if count > 1 else ''}" for word, count in ranked
            )
    return result
