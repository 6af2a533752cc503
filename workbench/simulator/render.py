"""The simulator's renderer: composites the reference person into a (prompt, seed) style and
encodes the JPEG the simulated API answers with. A SIMULATOR, not a generative model.

The style comes from `workbench.simulator.style`; the person is the input photo, found with
dlib's face detector, cropped to head and shoulders and laid into the style under a soft mask,
lit and graded like the backdrop. `identity_scale` decides how much of the person survives:
below 1 the face is increasingly warped and blurred and, towards 0, an anonymous sitter's
painted features take over, until a stranger's descriptor would match it as well. Speed
matters (a new style costs 25-40 ms of CPU at 512×512-768×1024, and `simulator.pool` renders on
every core), so the expensive parts — backdrops, the lit and graded person layer, grain — are
cached per style, face and size, and each further sample only pays for a paste, a lookup table,
grain and the JPEG encode.
"""

from __future__ import annotations

import colorsys
import dataclasses
import hashlib
import io
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

from workbench.contract import SIMULATOR_MODEL_VERSION, PortraitParams
from workbench.face_models import (
    DLIB_LOCK,
    face_detector,
    face_recognition_model,
    shape_predictor,
)
from workbench.simulator.cache import BoundedCache
from workbench.simulator.style import (
    DRIFT_KNOBS,
    Appearance,
    SampleVariation,
    Style,
    apply_drift,
    person_style,
    sample_variation,
    stability,
    style_for,
)

__all__ = ["JPEG_COMMENT", "appearance", "render_portrait", "stability"]

JPEG_QUALITY = 88
# Every output says what it is, inside the file rather than over the face.
JPEG_COMMENT = "headshot-workbench simulator — not a generated portrait".encode()

# Head-and-shoulders crop around the detected face, in face widths from the face centre.
_CROP_LEFT, _CROP_RIGHT, _CROP_TOP, _CROP_BOTTOM = 1.25, 1.25, 1.3, 2.6
# The person is kept at no more than this face width (px) before it is scaled into the frame.
_REFERENCE_FACE_PX = 200
# Masks are smooth: they are computed this many pixels wide and scaled up.
_MASK_WIDTH = 96
# At identity 0 the inside of the face keeps only this much detail (face width in px), the
# head's outline a little more; the anonymous sitter's painted features do the rest.
_ANONYMOUS_FACE_PX = 8.0
_ANONYMOUS_OUTLINE_PX = 30.0
_LUMA = (0.299, 0.587, 0.114)


def render_portrait(
    face_jpeg: bytes,
    params: PortraitParams,
    sample_index: int,
    *,
    model_version: int = SIMULATOR_MODEL_VERSION,
) -> bytes:
    """A simulated portrait: JPEG bytes of exactly `params.width` × `params.height`.

    The style is a function of (prompt, seed), drifted by the person in proportion to the pair's
    hidden instability; sample `sample_index` is a small, deterministic variation of it. The
    same inputs always give byte-identical output. `params.seed` must already be resolved (> 0).
    `model_version` stands for the provider's model: another version renders other styles.
    """
    if params.seed <= 0:
        raise ValueError("seed: resolve -1 to a concrete seed before rendering")
    reference = _reference(face_jpeg)
    gain = drift_gain(params.prompt, params.seed, model_version)
    style = person_style(params.prompt, params.seed, reference.appearance, model_version, gain)
    variation = sample_variation(params.prompt, params.seed, sample_index)
    return render_style(
        face_jpeg, style, variation, params.identity_scale, params.width, params.height
    )


def render_style(
    face_jpeg: bytes,
    style: Style,
    variation: SampleVariation,
    identity_scale: float,
    width: int,
    height: int,
) -> bytes:
    """The portrait of the person in `face_jpeg` in exactly `style` (already drifted, or any
    style a test builds), as JPEG bytes: what `render_portrait` does once it knows the style."""
    identity = round(identity_scale, 2)
    canvas = _background(style, width, height).copy()
    lit_by = dataclasses.replace(style, light_angle=style.light_angle + variation.light_turn)
    layer, alpha, anchor = _person_layer(face_jpeg, identity, lit_by, width, height)
    face_x, face_y = _face_centre(style, width, height)
    x = round(face_x + variation.dx * width - anchor[0])
    y = round(face_y + variation.dy * height - anchor[1])
    canvas.paste(layer, (x, y), alpha)
    canvas = _expose_with_grain(canvas, style.grain, variation)

    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG", quality=JPEG_QUALITY, comment=JPEG_COMMENT)
    return buffer.getvalue()


# --- How visible a style's drift is --------------------------------------------------------

# Probing a style's drift: this many random knob vectors (root mean square 1), this far.
_PROBES, _PROBE_STEP = 4, 0.1
# How much a probe moves a typical style's backdrop (CIELAB per 4x4 cell, in units of 8 L*,
# 5 a*, 5 b*): the median over many styles. A style that shows drift less is pushed further.
_TYPICAL_VISIBILITY = 0.27
_GAIN_RANGE = (0.25, 3.0)


@lru_cache(maxsize=4096)
def drift_gain(prompt: str, seed: int, model_version: int = SIMULATOR_MODEL_VERSION) -> float:
    """How much further than typical the style of (prompt, seed) must drift for its drift to
    show as much as a typical style's: measured on the backdrop, the part of a portrait no person
    hides, by moving the style a little in random directions. A grey or dark backdrop hides a
    hue step that a saturated one shows, so its gain is higher; equal stability then looks
    equally stable in every style (docs/scoring.md, "Verified")."""
    base = style_for(prompt, seed, model_version)
    reference = _backdrop_cells(base)
    rng = np.random.default_rng(
        int.from_bytes(hashlib.sha256(f"probe\x1f{prompt}\x1f{seed}".encode()).digest()[:8], "big")
    )
    moved = []
    for _ in range(_PROBES):
        u = rng.normal(size=DRIFT_KNOBS)
        u /= float(np.sqrt(np.mean(u * u)))
        delta = _backdrop_cells(apply_drift(base, u * _PROBE_STEP)) - reference
        moved.append(float(np.sqrt(np.mean(delta * delta))))
    visibility = max(float(np.mean(moved)), 1e-6)
    return float(np.clip(_TYPICAL_VISIBILITY / visibility, *_GAIN_RANGE))


def _backdrop_cells(style: Style) -> np.ndarray:
    """CIELAB of a small backdrop, per cell of a 4x4 grid, in units of 8 L*, 5 a*, 5 b*."""
    from skimage.color import rgb2lab

    plate = np.asarray(_make_background(style, 32, 32), dtype=np.float32) / 255.0
    lab = rgb2lab(plate).reshape(4, 8, 4, 8, 3).mean(axis=(1, 3))
    return lab / np.array([8.0, 5.0, 5.0])


# --- Caches ---------------------------------------------------------------------------------


def _image_bytes(image: Image.Image) -> int:
    # Pillow keeps RGB pixels in four bytes, like RGBA.
    return image.width * image.height * (1 if image.mode == "L" else 4)


# A few dozen 768×1024 frames each: enough for every sample of the requests in flight.
_BACKGROUNDS = BoundedCache(96 * 2**20, _image_bytes)
_LAYERS = BoundedCache(96 * 2**20, _image_bytes)


# --- The person -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reference:
    """The input photo prepared once: head-and-shoulders crop, its soft mask, the face in it."""

    digest: bytes  # SHA-256 of the JPEG bytes: the key for everything face-dependent
    photo: _Photo  # where its face is, and how its person looks
    appearance: Appearance  # what the style's drift follows (see simulator.style.person_style)
    crop: Image.Image  # RGB
    alpha: Image.Image  # L, soft head-and-shoulders mask (0 outside the photo)
    face_x: float  # face centre and width, in crop pixels
    face_y: float
    face_width: float
    landmarks: tuple[tuple[float, float], ...]  # both eye centres, then the nose base


# Where a face's eyes and nose base sit, in face widths from the detector box's centre; used
# when the photo has no detectable face and as the anonymous sitter's features.
_CANONICAL_EYES = ((0.23, -0.22), (-0.23, -0.22))
_CANONICAL_NOSE = (0.0, 0.1)


@dataclass(frozen=True)
class _FaceFound:
    x: float  # centre of dlib's face box
    y: float
    width: float
    eyes: tuple[tuple[float, float], tuple[float, float]]
    nose: tuple[float, float]
    descriptor: tuple[float, ...]  # dlib's 128-d face descriptor


@dataclass(frozen=True)
class _Photo:
    """What is learnt once per input photo: where its face is and how its person looks."""

    face: _FaceFound | None
    appearance: Appearance


def appearance(face_jpeg: bytes) -> Appearance:
    """What the simulator sees of the person in a photo (face descriptor, skin tone); the drift
    of an unstable style follows it."""
    return _reference(face_jpeg).appearance


def _look_at(image: Image.Image) -> _Photo:
    face = _find_face(image)
    if face is None:
        w, h = image.size
        centre = (w * 0.35, h * 0.3, w * 0.65, h * 0.55)
        return _Photo(None, Appearance((0.0,) * 128, _lab(image.crop(centre))))
    r = 0.08 * face.width
    cheeks = [(eye[0], (eye[1] + face.nose[1]) / 2 + r) for eye in face.eyes]
    patches = [image.crop((x - r, y - r, x + r, y + r)) for x, y in cheeks]
    skin = tuple(float(c) for c in np.mean([_lab(patch) for patch in patches], axis=0))
    return _Photo(face, Appearance(face.descriptor, skin))  # type: ignore[arg-type]


def _lab(image: Image.Image) -> tuple[float, float, float]:
    """CIELAB of an image's mean colour (skimage: Pillow's LAB mode stores signed a*, b*)."""
    from skimage.color import rgb2lab

    mean = np.asarray(image.convert("RGB"), dtype=np.float64).reshape(-1, 3).mean(axis=0)
    lab = rgb2lab((mean / 255.0).reshape(1, 1, 3))[0, 0]
    return float(lab[0]), float(lab[1]), float(lab[2])


def _find_face(image: Image.Image) -> _FaceFound | None:
    """The largest frontal face with its eyes, nose base and descriptor, or None."""
    scale = min(1.0, 640.0 / max(image.size))
    small = (
        image
        if scale == 1.0
        else image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
    )
    pixels = np.asarray(small)
    with DLIB_LOCK:  # shared with the panel and scoring: one thread in dlib at a time
        detector, shapes = face_detector(), shape_predictor(5)
        # Upsample once when faces may be small, as dlib needs faces of about 80 px.
        found = list(detector(pixels, 1 if max(small.size) <= 400 else 0))
        if not found:
            return None
        box = max(found, key=lambda r: r.width() * r.height())
        shape = shapes(pixels, box)
        parts = [(p.x / scale, p.y / scale) for p in shape.parts()]
        descriptor = tuple(
            round(float(v), 6)
            for v in face_recognition_model().compute_face_descriptor(pixels, shape)
        )
    # The five-point model gives two corners per eye, then the base of the nose.
    eyes = tuple(((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in (parts[0:2], parts[2:4]))
    return _FaceFound(
        x=(box.left() + box.right()) / 2 / scale,
        y=(box.top() + box.bottom()) / 2 / scale,
        width=box.width() / scale,
        eyes=eyes,  # type: ignore[arg-type]
        nose=parts[4],
        descriptor=descriptor,
    )


# Where the face is in each photo, by SHA-256: a few floats per face, kept for many more faces
# than the prepared crops, so a panel larger than the crop cache never runs dlib twice per face.
_GEOMETRY: BoundedCache[_Photo] = BoundedCache(4096)
# What the renderer learns of a photo, as `simulator.pool` hands it from worker to worker.
FacePhoto = _Photo


def photo_of(face_jpeg: bytes) -> FacePhoto:
    """What was learnt of the photo (found once per process, then kept by its SHA-256)."""
    return _reference(face_jpeg).photo


def remember_photo(face_jpeg: bytes, photo: FacePhoto) -> None:
    """Keep what another process learnt of this photo, so dlib need not search it again here."""
    _GEOMETRY.put(hashlib.sha256(face_jpeg).digest(), photo)


@lru_cache(maxsize=32)
def _reference(face_jpeg: bytes) -> _Reference:
    digest = hashlib.sha256(face_jpeg).digest()
    with Image.open(io.BytesIO(face_jpeg)) as opened:
        opened.draft("RGB", (1600, 1600))  # decode big photos at a reduced DCT scale
        image = ImageOps.exif_transpose(opened).convert("RGB")
    photo = _GEOMETRY.get(digest, lambda: _look_at(image))
    found = photo.face
    if found is None:
        # No detectable face (a profile, a drawing): assume a centred head-and-shoulders shot.
        cx, cy, fw = image.width / 2, image.height * 0.42, 0.4 * min(image.size)
        eyes = tuple((cx + u * fw, cy + v * fw) for u, v in _CANONICAL_EYES)
        nose = (cx + _CANONICAL_NOSE[0] * fw, cy + _CANONICAL_NOSE[1] * fw)
    else:
        cx, cy, fw = found.x, found.y, found.width
        eyes, nose = found.eyes, found.nose
    left, top = cx - _CROP_LEFT * fw, cy - _CROP_TOP * fw
    right, bottom = cx + _CROP_RIGHT * fw, cy + _CROP_BOTTOM * fw
    k = min(1.0, _REFERENCE_FACE_PX / fw)
    size = (max(8, round((right - left) * k)), max(8, round((bottom - top) * k)))
    # The photo may not cover the whole crop: paste the part inside the photo where it belongs
    # on a plain canvas, and let the mask fade out everything else.
    inside = _clamped_box((left, top, right, bottom), image)
    inside_px = (
        round((inside[0] - left) * k),
        round((inside[1] - top) * k),
        round((inside[2] - left) * k),
        round((inside[3] - top) * k),
    )
    inner_size = (max(1, inside_px[2] - inside_px[0]), max(1, inside_px[3] - inside_px[1]))
    canvas = Image.new("RGB", size, _mean_colour(image))
    canvas.paste(image.resize(inner_size, Image.BICUBIC, box=inside), inside_px[:2])

    fx, fy, fwk = (cx - left) * k, (cy - top) * k, fw * k
    alpha = _person_mask(canvas, inside_px, fx, fy, fwk)
    return _Reference(
        digest=digest,
        photo=photo,
        appearance=photo.appearance,
        crop=canvas,
        alpha=alpha,
        face_x=fx,
        face_y=fy,
        face_width=fwk,
        landmarks=tuple(((x - left) * k, (y - top) * k) for x, y in (*eyes, nose)),
    )


def _person_mask(
    crop: Image.Image, inside: tuple[int, int, int, int], fx: float, fy: float, fw: float
) -> Image.Image:
    """The soft head-and-shoulders mask of the crop, computed on a small grid (it is smooth) and
    scaled up: head and hair, shoulders, faded before the photo's edges, and with the photo's
    own backdrop keyed out around the head.
    """
    s = _MASK_WIDTH / crop.width
    w, h = _MASK_WIDTH, max(2, round(crop.height * s))
    fx, fy, fw = fx * s, fy * s, fw * s
    shape = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(shape)
    # Head with hair, then shoulders; the bottom fades like a vignetted bust.
    draw.ellipse((fx - 0.88 * fw, fy - 1.22 * fw, fx + 0.88 * fw, fy + 1.0 * fw), fill=255)
    draw.ellipse((fx - 1.25 * fw, fy + 0.7 * fw, fx + 1.25 * fw, fy + 3.9 * fw), fill=255)
    draw.rectangle((fx - 0.45 * fw, fy + 0.5 * fw, fx + 0.45 * fw, fy + 1.2 * fw), fill=255)
    # Inset so the feathered edge has faded out before the photo ends (the canvas beyond it is a
    # flat fill), and before the crop's bottom.
    inset = 0.25 * fw
    photo = Image.new("L", (w, h), 0)
    ImageDraw.Draw(photo).rectangle(
        (
            inside[0] * s + inset,
            inside[1] * s + inset,
            inside[2] * s - inset,
            min(inside[3] * s, h) - inset,
        ),
        fill=255,
    )
    feather = ImageFilter.GaussianBlur(0.12 * fw)
    mask = ImageChops.multiply(shape.filter(feather), photo.filter(feather))
    key = _photo_backdrop_key(crop.resize((w, h), Image.BILINEAR), inside, s, fx, fy, fw)
    return ImageChops.multiply(mask, key).resize(crop.size, Image.BILINEAR)


def _photo_backdrop_key(
    small: Image.Image, inside: tuple[int, int, int, int], s: float, fx: float, fy: float, fw: float
) -> Image.Image:
    """A mask that drops the photo's own backdrop around the head (the flag behind an official
    portrait, a studio wall), so the style's backdrop shows there instead.

    Colours are learnt above and beside the head, where there is nothing but backdrop, and keyed
    out only in the ring around the head: the face, the hair next to it and everything below the
    shoulders line are always kept, so a dark suit in front of a dark wall survives.
    """
    w, h = small.size
    pixels = np.asarray(small, dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    in_photo = (
        (xx >= inside[0] * s + 1)
        & (xx < inside[2] * s - 1)
        & (yy >= inside[1] * s + 1)
        & (yy < inside[3] * s - 1)
    )
    above = (yy < fy - 0.95 * fw) & (np.abs(xx - fx) > 0.75 * fw)
    beside = (yy < fy + 0.3 * fw) & (np.abs(xx - fx) > 1.1 * fw)
    samples = pixels[(above | beside) & in_photo]
    if len(samples) < 16:
        return Image.new("L", (w, h), 255)
    samples = samples[np.linspace(0, len(samples) - 1, min(128, len(samples))).astype(int)]
    flat = pixels.reshape(-1, 3)
    # Squared distances to every sample at once: |a|² + |b|² - 2 a·b.
    squared = (flat**2).sum(1)[:, None] + (samples**2).sum(1)[None, :] - 2.0 * flat @ samples.T
    distance = np.sqrt(np.maximum(squared.min(axis=1), 0.0)).reshape(h, w)
    keep = np.clip((distance - 22.0) / 30.0, 0, 1)
    head = ((xx - fx) / (0.62 * fw)) ** 2 + ((yy - (fy - 0.1 * fw)) / (0.9 * fw)) ** 2 < 1
    keep = np.where(head | (yy > fy + 0.55 * fw), 1.0, keep)
    key = Image.fromarray(np.round(keep * 255).astype(np.uint8), "L")
    return key.filter(ImageFilter.GaussianBlur(0.8))


def _clamped_box(
    box: tuple[float, float, float, float], image: Image.Image
) -> tuple[float, float, float, float]:
    left, top, right, bottom = box
    return (max(0.0, left), max(0.0, top), min(image.width, right), min(image.height, bottom))


def _mean_colour(image: Image.Image) -> tuple[int, int, int]:
    return tuple(int(c) for c in np.asarray(image.resize((8, 8))).reshape(-1, 3).mean(axis=0))


@lru_cache(maxsize=32)
def _person(face_jpeg: bytes, identity: float) -> Image.Image:
    """The reference crop with `1 - identity` of the person taken away.

    Removal is geometric (the face's proportions change), photographic (fine detail is blurred
    away) and finally substitution (an anonymous sitter's features are painted in), which is
    what moves dlib's identity descriptor: at identity 0 the face still reads as a face but
    matches the input no better than a stranger's.
    """
    ref = _reference(face_jpeg)
    crop = ref.crop
    loss = 1.0 - identity
    if loss <= 0.0:
        return crop
    # Longer, narrower face around its centre: proportions are what identity models key on.
    sx, sy = 1.0 - 0.15 * loss, 1.0 + 0.2 * loss
    cx, cy = ref.face_x, ref.face_y
    crop = crop.transform(
        crop.size,
        Image.AFFINE,
        (1 / sx, 0, cx - cx / sx, 0, 1 / sy, cy - cy / sy),
        resample=Image.BILINEAR,
    )
    # Blur by resampling down to a face only a few pixels wide, on a log scale so the loss of
    # detail is even along identity_scale whatever the photo's resolution. The inside of the
    # face (where identity lives) goes further than the head's outline, hair and clothes, which
    # keep the picture a head-and-shoulders portrait a detector still recognises.
    outline = _blurred(crop, ref.face_width, _ANONYMOUS_OUTLINE_PX, loss)
    inner = _blurred(crop, ref.face_width, _ANONYMOUS_FACE_PX, loss)
    fx, fy, fw = ref.face_x, ref.face_y, ref.face_width
    mask = Image.new("L", crop.size, 0)
    ImageDraw.Draw(mask).ellipse(
        (fx - 0.4 * fw, fy - 0.45 * fw, fx + 0.4 * fw, fy + 0.55 * fw), fill=255
    )
    crop = Image.composite(inner, outline, mask.filter(ImageFilter.GaussianBlur(0.08 * fw)))
    strength = min(1.0, max(0.0, (loss - 0.4) / 0.5))
    if strength > 0.0:
        crop = _paint_sitter(crop, ref, loss, strength * strength * (3 - 2 * strength))
    return crop


def _blurred(image: Image.Image, face_width: float, target_px: float, loss: float) -> Image.Image:
    face_px = face_width * (min(target_px, face_width) / face_width) ** (loss**0.9)
    factor = max(1.0, face_width / face_px)
    small = (max(4, round(image.width / factor)), max(4, round(image.height / factor)))
    return image.resize(small, Image.BILINEAR, reducing_gap=2.0).resize(image.size, Image.BICUBIC)


def _paint_sitter(crop: Image.Image, ref: _Reference, loss: float, strength: float) -> Image.Image:
    """Paint an anonymous sitter's features over the blurred face.

    Blur alone leaves a face the detector no longer finds before it stops matching the person;
    crisp, generic eyes, brows and mouth in canonical places keep it a detectable face while
    the person's own features and proportions are gone.
    """
    fx, fy, fw = ref.face_x, ref.face_y, ref.face_width
    canonical = [(fx + u * fw, fy + v * fw) for u, v in (*_CANONICAL_EYES, _CANONICAL_NOSE)]
    # The person's feature positions fade into canonical ones as identity falls.
    (e1x, e1y), (e2x, e2y), (nx, ny) = (
        (px + (cx - px) * loss, py + (cy - py) * loss)
        for (px, py), (cx, cy) in zip(ref.landmarks, canonical, strict=True)
    )
    iod = math.hypot(e1x - e2x, e1y - e2y)
    # Skin tone: the median over the middle of the (already blurred) face.
    middle = np.asarray(
        crop.crop(
            (
                round(fx - 0.2 * fw),
                round(fy - 0.05 * fw),
                round(fx + 0.2 * fw),
                round(fy + 0.25 * fw),
            )
        )
    ).reshape(-1, 3)
    skin = np.median(middle, axis=0) if len(middle) else np.array([180.0, 140.0, 120.0])
    dark = tuple(int(c) for c in skin * 0.15)
    light = tuple(int(min(255, c * 1.1 + 45)) for c in skin)
    lips = tuple(int(c) for c in skin * np.array([0.75, 0.45, 0.45]))
    shadow = tuple(int(c) for c in skin * 0.6)

    paint = Image.new("RGB", crop.size)
    cover = Image.new("L", crop.size, 0)
    draw_paint, draw_cover = ImageDraw.Draw(paint), ImageDraw.Draw(cover)

    def shape(
        kind: str,
        box: tuple[float, ...],
        colour: tuple[int, ...],
        opacity: int = 255,
        **options: int,
    ) -> None:
        getattr(draw_paint, kind)(box, fill=colour, **options)
        getattr(draw_cover, kind)(box, fill=opacity, **options)

    eye_w, eye_h, iris = 0.42 * iod, 0.17 * iod, 0.11 * iod
    line = max(1, round(0.05 * iod))
    for ex, ey in ((e1x, e1y), (e2x, e2y)):
        shape("ellipse", (ex - eye_w / 2, ey - eye_h / 2, ex + eye_w / 2, ey + eye_h / 2), light)
        shape("ellipse", (ex - iris, ey - iris, ex + iris, ey + iris), dark)
        lid = (ex - eye_w / 2, ey - eye_h / 2 - 0.02 * iod, ex + eye_w / 2, ey + eye_h / 2)
        shape("arc", lid, dark, start=190, end=350, width=line)
        brow = (ex - 0.6 * eye_w, ey - 0.55 * iod, ex + 0.6 * eye_w, ey - 0.2 * iod)
        shape("arc", brow, dark, start=200, end=340, width=max(1, round(0.1 * iod)))
    mx, my = (e1x + e2x) / 2, ny + 0.55 * iod
    shape(
        "ellipse", (nx - 0.2 * iod, ny - 0.05 * iod, nx + 0.2 * iod, ny + 0.06 * iod), shadow, 150
    )
    shape("ellipse", (mx - 0.42 * iod, my - 0.09 * iod, mx + 0.42 * iod, my + 0.09 * iod), lips)
    shape("line", (mx - 0.4 * iod, my, mx + 0.4 * iod, my), dark, width=max(1, round(0.04 * iod)))
    cover = cover.filter(ImageFilter.GaussianBlur(0.03 * iod))
    return Image.composite(paint, crop, cover.point(lambda v: round(v * strength)))


def _face_px(style: Style, width: int, height: int) -> float:
    """The face's width in the frame: a share of the width, capped by the height for wide frames."""
    return style.face_size * min(width, 0.8 * height)


def _face_centre(style: Style, width: int, height: int) -> tuple[float, float]:
    """Where the face's centre goes, in frame pixels.

    Frames taller than 3:4 keep the 3:4 head-and-shoulders composition at their bottom and
    spend the extra height as headroom, so the bust still runs off the bottom edge.
    """
    composed = min(height, 4.0 / 3.0 * width)
    return style.face_x * width, height - (1.0 - style.face_y) * composed


def _person_layer(
    face_jpeg: bytes, identity: float, style: Style, width: int, height: int
) -> tuple[Image.Image, Image.Image, tuple[float, float]]:
    """The lit, graded person scaled into the frame, its mask, and where its face centre is."""
    ref = _reference(face_jpeg)
    # Scales in steps of 1 %: invisible, and masks of one face are then shared between styles.
    scale = round(_face_px(style, width, height) / ref.face_width, 2)
    size = (max(1, round(ref.crop.width * scale)), max(1, round(ref.crop.height * scale)))
    anchor = (ref.face_x * scale, ref.face_y * scale)

    def make() -> Image.Image:
        person = _person(face_jpeg, identity)
        lit = ImageChops.multiply(person, _face_light(ref, style, width, height))
        # The key light falls on the sitter, not the backdrop: a harder light leaves the lit side
        # brighter than the room, as in a real low-key or dramatic portrait.
        graded = _grade(lit, style, key=math.log2(1.0 + 0.45 * style.light_strength))
        focused = _focus(graded, style.sharpness, ref.face_width)
        return focused.resize(size, Image.BILINEAR, reducing_gap=2.0)

    def make_alpha() -> Image.Image:
        return _upscale_smooth(ref.alpha, size) if scale > 1 else ref.alpha.resize(size)

    layer = _LAYERS.get((ref.digest, identity, style, width, height), make)
    alpha = _LAYERS.get((ref.digest, "mask", size), make_alpha)
    return layer, alpha, anchor


# Focus, in face widths: a soft-focus blur's radius at sharpness -1, and the unsharp mask's
# radius when sharpened (its strength is 200 % at sharpness +1).
_SOFT_FOCUS, _SHARPEN_RADIUS = 0.03, 0.01


def _focus(person: Image.Image, sharpness: float, face_width: float) -> Image.Image:
    """The sitter softer (lens blur) or crisper (unsharp mask) than as shot; the backdrop is out
    of focus anyway. Radii follow the face, so a soft style is as soft at every frame size."""
    if sharpness < 0:
        radius = -sharpness * _SOFT_FOCUS * face_width
        return person.filter(ImageFilter.GaussianBlur(radius)) if radius >= 0.1 else person
    percent = round(200 * sharpness)
    if percent < 1:
        return person
    radius = max(1.0, _SHARPEN_RADIUS * face_width)
    return person.filter(ImageFilter.UnsharpMask(radius=radius, percent=percent, threshold=0))


def _face_light(ref: _Reference, style: Style, width: int, height: int) -> Image.Image:
    """Key light across the face plus the frame's vignette, as a multiply map at crop size."""
    w, h = max(2, ref.crop.width // 8), max(2, ref.crop.height // 8)
    xs = (np.arange(w) + 0.5) / w * ref.crop.width
    ys = (np.arange(h) + 0.5) / h * ref.crop.height
    gx, gy = np.meshgrid(xs, ys)
    rel_x = (gx - ref.face_x) / ref.face_width
    rel_y = (gy - ref.face_y) / ref.face_width
    shade = _key_light(rel_x, rel_y, style)
    # Vignette in frame coordinates, with the face where the style puts it.
    face_px = _face_px(style, width, height)
    centre_x, centre_y = _face_centre(style, width, height)
    fx = centre_x + rel_x * face_px
    fy = centre_y + rel_y * face_px
    shade = shade * _vignette((fx / width - 0.5) * 2, (fy / height - 0.5) * 2, style.vignette)
    warm = style.light_warmth
    gains = np.array([1.0 + 0.08 * warm, 1.0, 1.0 - 0.08 * warm]) / (1.0 + 0.08 * abs(warm))
    rgb = np.clip(shade[..., None] * gains * 255.0, 0, 255).astype(np.uint8)
    return _upscale_smooth(Image.fromarray(rgb, "RGB"), ref.crop.size)


def _key_light(rel_x: np.ndarray, rel_y: np.ndarray, style: Style) -> np.ndarray:
    """1 on the lit side, down to 1 - strength on the shadow side; positions in face widths."""
    angle = math.radians(style.light_angle)
    towards = rel_x * math.cos(angle) - rel_y * math.sin(angle)  # image y points down
    return 1.0 - style.light_strength * 0.5 * (1.0 - np.tanh(1.6 * towards))


def _vignette(nx: np.ndarray, ny: np.ndarray, amount: float) -> np.ndarray:
    """Corner darkening; nx, ny run -1..1 across the frame."""
    r2 = (nx * nx + ny * ny) / 2.0
    return 1.0 - amount * np.clip(r2, 0, 1) ** 1.5


# --- Grade ----------------------------------------------------------------------------------


def _grade(image: Image.Image, style: Style, key: float = 0.0) -> Image.Image:
    """Colour matrix (saturation, temperature, tint, toning) then the tone curve."""
    return image.convert("RGB", _colour_matrix(style)).point(_tone_lut(style, round(key, 4)))


@lru_cache(maxsize=1024)
def _colour_matrix(style: Style) -> tuple[float, ...]:
    luma = np.array(_LUMA)
    sat = np.eye(3) * style.saturation + (1.0 - style.saturation) * np.tile(luma, (3, 1))
    if style.monochrome:
        gains = np.array(style.tone)
    else:
        t, m = style.temperature, style.tint
        gains = np.array([1.0 + 0.12 * t, 1.0 - 0.06 * m, 1.0 - 0.14 * t])
    matrix = gains[:, None] * sat
    return tuple(float(v) for row in matrix for v in (*row, 0.0))


# Split toning's directions in RGB: towards yellow-orange (b) and towards magenta (a).
_SPLIT_WARM = np.array([1.0, 0.15, -1.0])
_SPLIT_MAGENTA = np.array([0.5, -1.0, 0.5])


@lru_cache(maxsize=1024)
def _tone_lut(style: Style, key: float) -> list[int]:
    x = np.arange(256) / 255.0
    y = x * 2.0 ** (style.exposure + key)
    # A soft shoulder instead of clipping, like film.
    y = np.where(y > 0.75, 0.75 + 0.25 * np.tanh((y - 0.75) / 0.25), y)
    s_curve = y * y * (3.0 - 2.0 * y)
    y = y + style.contrast * (s_curve - y)
    y = style.fade + (1.0 - style.fade) * y
    # Split toning: highlights pushed one way, shadows the other, midtones left alone.
    a, b = style.split
    push = (np.clip(y, 0, 1) ** 2 - np.clip(1.0 - y, 0, 1) ** 2)[:, None]
    rgb = y[:, None] + push * (a * _SPLIT_MAGENTA + b * _SPLIT_WARM)
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(int).T.flatten().tolist()


# --- Backdrops ------------------------------------------------------------------------------


def _background(style: Style, width: int, height: int) -> Image.Image:
    """The graded, lit, vignetted backdrop at full size (cached: samples share it)."""
    key = (style, width, height)
    return _BACKGROUNDS.get(key, lambda: _make_background(style, width, height))


def _make_background(style: Style, width: int, height: int) -> Image.Image:
    # Backdrops are out of focus, so a plate a sixth of the frame's size holds all their detail;
    # float32 and one pass per effect keep a new backdrop at a few milliseconds.
    w, h = max(32, width // 6), max(32, height // 6)
    rng = np.random.default_rng(style.texture_seed)
    xs = ((np.arange(w, dtype=np.float32) + 0.5) / w)[None, :]
    ys = ((np.arange(h, dtype=np.float32) + 0.5) / h)[:, None]
    unit = min(w, h)
    main = np.array(colorsys.hsv_to_rgb(*style.backdrop), dtype=np.float32)
    accent = np.array(colorsys.hsv_to_rgb(*style.accent), dtype=np.float32)
    discs: list[tuple[int, np.ndarray]] = []  # (how many, colour) of out-of-focus highlights

    if style.scene == "outdoor":
        horizon = 0.3 + 0.25 * rng.random()
        wobble = 0.06 * _low_noise(rng, 12, 1, w, 1)
        sky = np.clip((horizon + wobble - ys) / 0.12 + 0.5, 0, 1)[..., None]
        sky_colour = accent * (0.9 + 0.2 * (1 - ys))[..., None]
        leaves = _low_noise(rng, 9, max(2, round(9 * h / w)), w, h)[..., None]
        foliage = main * (0.65 + 0.7 * style.texture * leaves)
        rgb = sky * sky_colour + (1 - sky) * foliage
        discs.append((int(4 + 18 * style.texture), accent * 1.1 + 0.1))
    elif style.scene == "office":
        window_x = 0.05 + 0.6 * rng.random()
        window = np.exp(-(((xs - window_x - 0.15) / 0.18) ** 8)) * np.clip((0.8 - ys) * 4, 0, 1)
        rgb = main * (0.85 + 0.3 * ys)[..., None] + window[..., None] * (accent * 0.4 + 0.35)
        count = int(3 + 8 * style.texture)
        lamp = np.array([1.0, 0.85, 0.6], dtype=np.float32)
        discs += [(count, accent * 1.2), (count, main * 1.3 + 0.15), (count, lamp)]
    else:
        mottle = _low_noise(rng, 6, max(2, round(6 * h / w)), w, h) * 0.35 * style.texture
        shade = (1.0 + mottle - 0.175 * style.texture)[..., None]
        rgb = (main + (accent - main) * (ys**1.3 * 0.8)[..., None]) * shade

    dx, dy = (xs - style.glow_x) * (w / unit), (ys - style.glow_y) * (h / unit)
    glow = (np.exp(-(dx * dx + dy * dy) / (2 * 0.3**2)) * style.glow)[..., None]
    rgb = rgb * (1.0 + 0.55 * glow) + 0.25 * glow
    # The key light reaches the backdrop too, so light and shadow sides agree with the face;
    # then the vignette. Both are one multiplier.
    centre_x, centre_y = _face_centre(style, width, height)
    rel_x = (xs - centre_x / width) * (1.5 * w / unit)
    rel_y = (ys - centre_y / height) * (1.5 * h / unit)
    light = (0.55 + 0.45 * _key_light(rel_x, rel_y, style)) * _vignette(
        (xs - 0.5) * 2, (ys - 0.5) * 2, style.vignette
    )
    rgb = rgb * light[..., None]
    if discs:
        rgb = _bokeh(rgb, rng, discs, unit)
    small = Image.fromarray(np.clip(rgb * 255.0, 0, 255).astype(np.uint8), "RGB")
    small = _grade(small.filter(ImageFilter.GaussianBlur(unit / 160)), style)
    return _upscale_smooth(small, (width, height))


def _upscale_smooth(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale smooth content up: bilinear to half the size, then pixel doubling. The doubling's
    2×2 blocks step by at most a level or two on out-of-focus content (grain hides even that),
    and it halves the cost of the most expensive step of a new backdrop."""
    half = image.resize(((size[0] + 1) // 2, (size[1] + 1) // 2), Image.BILINEAR)
    return half.resize(size, Image.NEAREST)


def _low_noise(rng: np.random.Generator, cells_x: int, cells_y: int, w: int, h: int) -> np.ndarray:
    """Smooth noise in 0..1, shape (h, w): a few random cells interpolated up."""
    grid = (rng.random((max(1, cells_y), cells_x)) * 255).astype(np.uint8)
    big = Image.fromarray(grid, "L").resize((w, h), Image.BICUBIC)
    return np.asarray(big, dtype=np.float32) / np.float32(255.0)


def _bokeh(
    rgb: np.ndarray, rng: np.random.Generator, discs: list[tuple[int, np.ndarray]], unit: int
) -> np.ndarray:
    """Out-of-focus light discs, screened over the backdrop."""
    h, w = rgb.shape[:2]
    layer = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(layer)
    for count, colour in discs:
        colour = np.clip(colour, 0, 1)
        for _ in range(count):
            r = unit * rng.uniform(0.025, 0.09)
            x, y = rng.uniform(0, w), rng.uniform(0, h * 0.85)
            fill = tuple(int(c) for c in colour * rng.uniform(40, 130))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    glow = np.asarray(layer.filter(ImageFilter.GaussianBlur(unit / 200)), dtype=np.float32)
    return 1.0 - (1.0 - rgb) * (1.0 - glow / np.float32(255.0))


# --- Grain ----------------------------------------------------------------------------------

_GRAIN_MARGIN = 64
_GRAIN_CACHE = BoundedCache(48 * 2**20, _image_bytes)


def _grain_reach(level: int) -> int:
    """Grain is clipped at 2.5 standard deviations, so it never moves a pixel further than this."""
    return math.ceil(2.5 * level)


def _grain(level: int, width: int, height: int) -> Image.Image:
    """Monochrome film grain as signed bytes (two's complement), a little larger than the frame
    so samples can take different windows of it."""

    def make() -> Image.Image:
        rng = np.random.default_rng(level)
        size = (height + _GRAIN_MARGIN, width + _GRAIN_MARGIN)
        reach = _grain_reach(level)
        noise = np.clip(np.round(rng.normal(0.0, level, size)), -reach, reach).astype(np.int16)
        plane = Image.fromarray((noise % 256).astype(np.uint8), "L")
        return Image.merge("RGB", (plane, plane, plane))

    return _GRAIN_CACHE.get((level, width, height), make)


@lru_cache(maxsize=4096)
def _exposure_lut(exposure: float, reach: int) -> list[int]:
    """The sample's light level, with the tonal range pulled in by the grain's reach."""
    x = np.arange(256, dtype=np.float64)
    y = reach + np.clip(x * 2.0**exposure, 0, 255) * (255 - 2 * reach) / 255
    return np.round(y).astype(int).tolist() * 3


def _expose_with_grain(
    image: Image.Image, amount: float, variation: SampleVariation
) -> Image.Image:
    """The sample's own light level, then its window of grain.

    Grain is added modulo 256, a tenth of the cost of a saturating add (a pass over the frame
    matters when a render is budgeted at ~30 ms); the exposure table keeps every pixel at least
    the grain's reach away from 0 and 255, so nothing ever wraps around.
    """
    level = max(1, round(amount))
    exposed = image.point(_exposure_lut(round(variation.exposure, 4), _grain_reach(level)))
    ox, oy = variation.grain_offset
    noise = _grain(level, image.width, image.height)
    return ImageChops.add_modulo(exposed, noise.crop((ox, oy, ox + image.width, oy + image.height)))
