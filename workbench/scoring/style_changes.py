"""Named photographic style changes, applied to a photo at a strength in [0, 1]: the changes a
photographer would name (warmer, darker, flatter, softer, a teal backdrop, ...). They are the
metamorphic suite's ground truth (tests/test_scoring_metamorphic.py): applied to part of a
panel shot in one style, each must lower the scorer's consistency, more as it grows.

Each change is written independently of the scorer: pixel operations in sRGB or linear light,
and, for backdrop changes, a backdrop found here by its own rule (smooth pixels close to the
frame border's colour, connected to the border), not the scorer's person mask.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy.ndimage import binary_fill_holes, gaussian_filter, label, shift

__all__ = ["STYLE_CHANGES", "StyleChange", "apply_change", "backdrop_alpha"]

Pixels = np.ndarray  # (h, w, 3) float32 sRGB in [0, 1]


def _linear(pixels: Pixels) -> Pixels:
    return np.where(pixels <= 0.04045, pixels / 12.92, ((pixels + 0.055) / 1.055) ** 2.4)


def _srgb(linear: Pixels) -> Pixels:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)


def _luma(pixels: Pixels) -> np.ndarray:
    return pixels @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def _rng(pixels: Pixels) -> np.random.Generator:
    # Deterministic per photo, different between photos (grain is never the same pattern).
    return np.random.default_rng(int(pixels[::37, ::41].sum() * 1000) % (2**32))


def white_balance(pixels: Pixels, strength: float, warm: bool) -> Pixels:
    """Warm (amber) or cool (blue) white balance: channel gains in linear light, up to about
    ±1,500 K at full strength."""
    k = 0.22 * strength * (1 if warm else -1)
    gains = np.array([1 + k, 1 + 0.1 * k, 1 - k], dtype=np.float32)
    return _srgb(_linear(pixels) * gains)


def exposure(pixels: Pixels, strength: float, darker: bool) -> Pixels:
    """Exposure in linear light: one stop down (darker) or up (brighter) at full strength."""
    stops = -1.0 * strength if darker else 0.9 * strength
    return _srgb(_linear(pixels) * 2.0**stops)


def contrast(pixels: Pixels, strength: float, stronger: bool) -> Pixels:
    """A tone curve about mid-grey: an S-curve (stronger) or lifted blacks and muted whites
    (flatter)."""
    x = np.clip(pixels, 0.0, 1.0)
    if stronger:
        # Blend towards a smoothstep-like S-curve; clipping never hard.
        s = x * x * (3 - 2 * x)
        return x + 0.8 * strength * (s - x)
    return 0.5 + (x - 0.5) * (1 - 0.45 * strength)


def desaturate(pixels: Pixels, strength: float) -> Pixels:
    """Chroma towards grey: 90 % of it gone at full strength (almost monochrome)."""
    grey = _luma(pixels)[..., None]
    return grey + (pixels - grey) * (1 - 0.9 * strength)


def split_tone(pixels: Pixels, strength: float) -> Pixels:
    """Teal shadows and orange highlights, the film-look grade."""
    y = _luma(pixels)[..., None]
    teal = np.array([-0.6, 0.15, 0.45], dtype=np.float32)
    orange = np.array([0.5, 0.1, -0.6], dtype=np.float32)
    amount = 0.16 * strength
    return pixels + amount * ((1 - y) ** 2 * teal + y**2 * orange)


def _radius(h: int, w: int) -> np.ndarray:
    ny, nx = np.mgrid[0:h, 0:w].astype(np.float32)
    nx, ny = (nx + 0.5) / w * 2 - 1, (ny + 0.5) / h * 2 - 1
    return np.sqrt((nx * nx + ny * ny) / 2.0)  # 0 at the centre, 1 in the corners


def vignette(pixels: Pixels, strength: float) -> Pixels:
    """Corners darkened, like a lens or a burned-in edge: 1.3 stops in the corners at full."""
    h, w = pixels.shape[:2]
    fall = 2.0 ** (-1.3 * strength * _radius(h, w) ** 2.5)
    return _srgb(_linear(pixels) * fall[..., None])


def grain(pixels: Pixels, strength: float) -> Pixels:
    """Film grain: luminance noise with a little clumping (about 1.5 px), 8 levels of 255 at
    full strength, scaled to the photo's size (a 1024 px photo)."""
    h, w = pixels.shape[:2]
    size = max(h, w) / 1024
    noise = gaussian_filter(_rng(pixels).standard_normal((h, w)).astype(np.float32), 0.6 * size)
    noise /= noise.std() + 1e-9
    return pixels + (8.0 / 255 * strength) * noise[..., None]


def soft_focus(pixels: Pixels, strength: float) -> Pixels:
    """Lens blur: a Gaussian of up to 0.35 % of the long side (3.6 px on a 1024 px photo)."""
    sigma = 0.0035 * max(pixels.shape[:2]) * strength
    return gaussian_filter(pixels, (sigma, sigma, 0))


def zoom(pixels: Pixels, strength: float) -> Pixels:
    """Tighter framing: the centre cropped by up to 1.3x and enlarged back."""
    h, w = pixels.shape[:2]
    factor = 1 + 0.3 * strength
    ch, cw = round(h / factor), round(w / factor)
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = pixels[top : top + ch, left : left + cw]
    image = Image.fromarray((np.clip(crop, 0, 1) * 255 + 0.5).astype(np.uint8))
    return np.asarray(image.resize((w, h), Image.LANCZOS), dtype=np.float32) / 255


def shift_frame(pixels: Pixels, strength: float) -> Pixels:
    """The subject off-centre: the frame moved by up to 12 % of its width and 6 % of its
    height (the edge the move uncovers repeats the backdrop at the border)."""
    h, w = pixels.shape[:2]
    return shift(pixels, (0.06 * h * strength, 0.12 * w * strength, 0), order=1, mode="nearest")


def backdrop_alpha(pixels: Pixels) -> np.ndarray:
    """Where the backdrop is, softly (1 = backdrop): pixels smooth and close to the colour the
    frame's border has there (a plane fitted to the border), connected to the top or side
    border. A rule of this module's own, independent of the scorer's person mask."""
    h, w = pixels.shape[:2]
    step = max(1, max(h, w) // 256)
    small = pixels[::step, ::step]
    sh, sw = small.shape[:2]
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    band = max(2, sh // 40)
    border = np.zeros((sh, sw), dtype=bool)
    border[:band], border[:, :band], border[:, -band:] = True, True, True
    border[int(0.6 * sh) :] = False  # the bottom border is mostly clothes
    design = np.stack([np.ones_like(xx), xx / sw, yy / sh], -1)
    coef, *_ = np.linalg.lstsq(design[border], small[border], rcond=None)
    expected = design @ coef
    distance = np.linalg.norm(small - expected, axis=-1)
    grey = _luma(small)
    detail = np.abs(grey - gaussian_filter(grey, 2.0))
    candidate = (distance < 0.09) & (gaussian_filter(detail, 1.5) < 0.02)
    labels, _ = label(candidate)
    touching = np.unique(
        np.concatenate([labels[:band].ravel(), labels[:, :band].ravel(), labels[:, -band:].ravel()])
    )
    mask = np.isin(labels, touching[touching > 0])
    # The person is one solid region: holes inside the backdrop-coloured area stay backdrop,
    # holes inside the person (a grey shirt) are filled back into the person.
    person = binary_fill_holes(~mask)
    mask = ~person
    soft = gaussian_filter(mask.astype(np.float32), 1.0)
    full = np.asarray(
        Image.fromarray((soft * 255).astype(np.uint8)).resize((w, h), Image.BILINEAR),
        dtype=np.float32,
    )
    return full / 255


def backdrop_colour(pixels: Pixels, strength: float) -> Pixels:
    """The backdrop repainted towards a teal-blue, its own light and shading kept."""
    alpha = backdrop_alpha(pixels)[..., None] * strength
    y = _luma(pixels)[..., None]
    tint = np.array([0.55, 0.95, 1.25], dtype=np.float32)  # a teal of the same luminance
    tinted = y * tint / float(tint @ np.array([0.2126, 0.7152, 0.0722]))
    return pixels * (1 - 0.85 * alpha) + tinted * 0.85 * alpha


def backdrop_texture(pixels: Pixels, strength: float) -> Pixels:
    """A mottled, painted-canvas backdrop: blotches at three sizes (1-6 % of the frame) on the
    backdrop only, a standard deviation of 12 levels of 255 at full strength."""
    h, w = pixels.shape[:2]
    rng = _rng(pixels)
    side = max(h, w)
    mottle = np.zeros((h, w), dtype=np.float32)
    for scale, weight in ((0.01, 0.5), (0.025, 0.8), (0.06, 1.0)):
        layer = gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), scale * side)
        mottle += weight * layer / (layer.std() + 1e-9)
    mottle /= mottle.std() + 1e-9
    alpha = backdrop_alpha(pixels)[..., None]
    return pixels + alpha * (12.0 / 255 * strength) * mottle[..., None]


def light_direction(pixels: Pixels, strength: float) -> Pixels:
    """The key light moved to one side: a left-to-right falloff of up to 1.6 stops across the
    person, a third of it on the backdrop (further from the light's reach)."""
    h, w = pixels.shape[:2]
    x = (np.arange(w, dtype=np.float32) + 0.5) / w - 0.5
    alpha = backdrop_alpha(pixels)
    stops = 1.6 * strength * x[None, :] * (1 - alpha * 2 / 3)
    return _srgb(_linear(pixels) * (2.0**stops)[..., None])


@dataclass(frozen=True)
class StyleChange:
    """One named change: its name in a photographer's words and the pixel operation."""

    name: str
    apply: Callable[[Pixels, float], Pixels]


STYLE_CHANGES: tuple[StyleChange, ...] = (
    StyleChange("warmer", lambda p, s: white_balance(p, s, warm=True)),
    StyleChange("cooler", lambda p, s: white_balance(p, s, warm=False)),
    StyleChange("darker", lambda p, s: exposure(p, s, darker=True)),
    StyleChange("brighter", lambda p, s: exposure(p, s, darker=False)),
    StyleChange("more contrast", lambda p, s: contrast(p, s, stronger=True)),
    StyleChange("flatter", lambda p, s: contrast(p, s, stronger=False)),
    StyleChange("desaturated", desaturate),
    StyleChange("split-tone grade", split_tone),
    StyleChange("vignette", vignette),
    StyleChange("grain", grain),
    StyleChange("soft focus", soft_focus),
    StyleChange("zoom in", zoom),
    StyleChange("off-centre", shift_frame),
    StyleChange("backdrop colour", backdrop_colour),
    StyleChange("backdrop texture", backdrop_texture),
    StyleChange("light from one side", light_direction),
)


def apply_change(image: Image.Image, change: str | StyleChange, strength: float) -> Image.Image:
    """`image` (RGB) with the named change applied at `strength` (0 = unchanged, 1 = full)."""
    if isinstance(change, str):
        known = {c.name: c for c in STYLE_CHANGES}
        if change not in known:
            raise KeyError(f"{change!r} is not a style change; one of {', '.join(known)}")
        change = known[change]
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], not {strength}")
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255
    changed = change.apply(pixels, float(strength)) if strength > 0 else pixels
    return Image.fromarray((np.clip(changed, 0.0, 1.0) * 255 + 0.5).astype(np.uint8))
