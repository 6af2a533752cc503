"""The simulator's styles: what a (prompt, seed) pair decides about a portrait, how much of that
drifts with the person in the photo (the hidden stability), and how sample *i* varies it.

Everything here is pure and deterministic: hashes go through hashlib (Python's `hash()` is salted
per process), so the same prompt and seed give the same style in every process and on every
machine. Rendering lives in `workbench.simulator.render`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from workbench.contract import SIMULATOR_MODEL_VERSION

SCENES = ("studio", "office", "outdoor")

# Words that pick the scene. The first one found in the prompt wins.
_SCENE_WORDS = {
    "studio": "studio",
    "backdrop": "studio",
    "seamless": "studio",
    "office": "office",
    "corporate": "office",
    "business": "office",
    "workplace": "office",
    "indoor": "office",
    "indoors": "office",
    "outdoor": "outdoor",
    "outdoors": "outdoor",
    "outside": "outdoor",
    "park": "outdoor",
    "garden": "outdoor",
    "nature": "outdoor",
    "street": "outdoor",
    "beach": "outdoor",
}

# Backdrop colours a prompt can name: (hue, saturation, value) in 0..1.
_COLOUR_WORDS: dict[str, tuple[float, float, float]] = {
    "red": (0.99, 0.62, 0.55),
    "crimson": (0.97, 0.7, 0.45),
    "orange": (0.07, 0.65, 0.7),
    "yellow": (0.14, 0.6, 0.8),
    "gold": (0.12, 0.6, 0.65),
    "golden": (0.11, 0.6, 0.68),
    "green": (0.33, 0.5, 0.5),
    "olive": (0.2, 0.45, 0.4),
    "teal": (0.48, 0.6, 0.45),
    "cyan": (0.51, 0.55, 0.65),
    "turquoise": (0.47, 0.55, 0.6),
    "blue": (0.6, 0.62, 0.55),
    "navy": (0.63, 0.6, 0.25),
    "purple": (0.77, 0.5, 0.45),
    "violet": (0.79, 0.45, 0.55),
    "lavender": (0.74, 0.25, 0.78),
    "pink": (0.93, 0.35, 0.8),
    "magenta": (0.87, 0.6, 0.6),
    "brown": (0.07, 0.5, 0.32),
    "beige": (0.1, 0.2, 0.8),
    "cream": (0.12, 0.15, 0.88),
    "grey": (0.0, 0.0, 0.5),
    "gray": (0.0, 0.0, 0.5),
    "white": (0.0, 0.0, 0.93),
    "black": (0.0, 0.0, 0.07),
}

_MONOCHROME = re.compile(
    r"\b(black\s*(and|&|n)\s*white|b\s*&\s*w|b/w|monochrome|greyscale|grayscale)\b"
)
_HIGH_KEY = re.compile(r"\bhigh[\s-]*key\b")
_LOW_KEY = re.compile(r"\blow[\s-]*key\b")


@dataclass(frozen=True)
class Style:
    """Every knob of a simulated portrait. Hues and levels are 0..1 unless said otherwise."""

    scene: str
    backdrop: tuple[float, float, float]  # HSV of the main backdrop colour
    accent: tuple[float, float, float]  # HSV of the second colour: gradient end, bokeh, foliage
    glow: float  # strength of the pool of light behind the subject
    glow_x: float  # where that pool sits, as fractions of the frame
    glow_y: float
    texture: float  # mottled canvas (studio), bokeh (office), foliage (outdoor): 0..1
    texture_seed: int
    light_angle: float  # degrees the key light comes from: 0 camera right, 90 above, 180 left
    light_strength: float  # how dark the shadow side gets, 0..1
    light_warmth: float  # colour of the key light, -1 cool … +1 warm
    exposure: float  # stops
    contrast: float  # S-curve amount, negative flattens
    fade: float  # lifted blacks (matte look), 0..0.25; below 0, crushed blacks (to -0.08)
    saturation: float  # 0 grey … 1 as shot … 1.4 vivid
    temperature: float  # grade, -1 cool … +1 warm
    tint: float  # grade, -1 green … +1 magenta
    monochrome: bool
    tone: tuple[float, float, float]  # RGB gains after the grade (sepia, cold-toned silver …)
    vignette: float  # darkening at the corners, 0..0.8
    grain: float  # film grain, standard deviation in 8-bit levels
    # Split toning: highlights pushed along (a: green- / magenta+, b: blue- / yellow+), shadows
    # the opposite way, in fractions of full scale (0.03 is about 8 levels at the extremes).
    split: tuple[float, float]
    sharpness: float  # lens focus on the sitter: 0 as shot, -1 soft focus ... +0.6 crisp
    face_size: float  # face width as a fraction of the frame's width (capped by its height)
    face_x: float  # face centre, as fractions of the frame
    face_y: float


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def _words(prompt: str) -> list[str]:
    return re.findall(r"[a-z]+", prompt.lower())


@lru_cache(maxsize=4096)
def stability(prompt: str, seed: int) -> float:
    """Hidden ground truth: how little the style of (prompt, seed) drifts with the person, 0..1.

    Spread over the whole range across seeds; controlled studio looks lean stable and busy
    outdoor looks lean unstable, as a real model's would. Never served over HTTP.
    """
    u = float(_rng("stability", prompt, seed).random())
    words = set(_words(prompt))
    if words & {"studio", "backdrop", "seamless"}:
        return u**0.75
    if words & {"outdoor", "outdoors", "outside", "park", "garden", "nature", "street", "beach"}:
        return u**1.35
    return u


@lru_cache(maxsize=4096)
def style_for(prompt: str, seed: int, model_version: int = SIMULATOR_MODEL_VERSION) -> Style:
    """The style a (prompt, seed) pair asks for, before any person is involved.

    Prompt words set the family (scene, colours, light, grade); the seed picks a variant inside
    it. Words the simulator does not know still change the style, because the whole prompt is
    hashed into the random generator. Another `model_version` keeps the families but gives each
    seed another variant, as a provider's silent model update would (what drift checks catch).
    """
    # Model 2 changed how styles drift with the person, not the styles: it keeps model 1's
    # variant of each seed. Later versions (a faked provider update) draw other variants.
    rng = (
        _rng("style", prompt, seed)
        if model_version <= 2
        else _rng("style", prompt, seed, model_version)
    )
    text = prompt.lower()
    words = _words(prompt)
    has = set(words).__contains__

    def between(low: float, high: float) -> float:
        return float(rng.uniform(low, high))

    scene = next((_SCENE_WORDS[w] for w in words if w in _SCENE_WORDS), None)
    if scene is None:
        scene = SCENES[int(rng.choice(3, p=[0.5, 0.25, 0.25]))]

    monochrome = bool(_MONOCHROME.search(text))
    high_key = bool(_HIGH_KEY.search(text))
    low_key = bool(_LOW_KEY.search(text))
    dramatic = has("dramatic") or has("moody") or has("cinematic") or has("noir")
    soft = has("soft") or has("gentle") or has("airy") or has("natural")
    vintage = has("vintage") or has("retro") or has("film") or has("analog")
    sepia = has("sepia")
    warm = has("warm") or has("sunset") or has("golden")
    cool = has("cool") or has("cold") or has("icy") or has("winter")
    vivid = has("vibrant") or has("colorful") or has("colourful") or has("vivid") or has("neon")
    dreamy = has("dreamy") or has("hazy") or has("ethereal") or has("haze")
    crisp = has("crisp") or has("sharp") or has("detailed")

    # "black and white" names no backdrop colour; everything else that names a colour does.
    colour_text = _MONOCHROME.sub(" ", text)
    named = [_COLOUR_WORDS[w] for w in re.findall(r"[a-z]+", colour_text) if w in _COLOUR_WORDS]

    # Backdrop colour: a named colour, else a temperature family, else the scene's own palette.
    if named:
        hue, sat, val = named[0]
        hue += between(-0.025, 0.025)
        sat = float(np.clip(sat + between(-0.12, 0.12), 0, 1))
        val = float(np.clip(val + between(-0.12, 0.12), 0.03, 0.97))
    elif warm:
        hue, sat, val = between(0.02, 0.12), between(0.35, 0.6), between(0.45, 0.75)
    elif cool or has("blue"):
        hue, sat, val = between(0.5, 0.64), between(0.3, 0.55), between(0.4, 0.7)
    elif scene == "studio":
        hue, sat, val = between(0, 1), between(0.0, 0.3), between(0.25, 0.75)
    elif scene == "office":
        hue, sat, val = between(0.05, 0.14), between(0.08, 0.3), between(0.45, 0.8)
    else:
        hue, sat, val = between(0.22, 0.4), between(0.35, 0.6), between(0.35, 0.65)
    if len(named) > 1:
        accent_h, accent_s, accent_v = named[1]
    elif scene == "outdoor":
        # Sky above foliage: the accent is the sky unless a colour already took the backdrop.
        accent_h, accent_s, accent_v = between(0.53, 0.62), between(0.2, 0.5), between(0.7, 0.95)
    else:
        accent_h = (hue + between(-0.12, 0.12)) % 1.0
        accent_s = float(np.clip(sat * between(0.5, 1.3), 0, 1))
        accent_v = float(np.clip(val * between(0.45, 1.25), 0.02, 0.98))
    if vivid:
        sat, accent_s = min(1.0, sat + 0.3), min(1.0, accent_s + 0.3)

    light_strength = between(0.25, 0.55)
    exposure = between(-0.12, 0.12)
    contrast = between(0.0, 0.3)
    vignette = between(0.1, 0.35)
    glow = between(0.2, 0.6)
    if high_key:
        val, accent_v = between(0.88, 0.97), between(0.85, 0.97)
        sat, accent_s = sat * 0.4, accent_s * 0.4
        exposure, light_strength, vignette = between(0.35, 0.55), between(0.05, 0.2), 0.03
    if low_key:
        val, accent_v = between(0.05, 0.15), between(0.04, 0.2)
        exposure, light_strength = between(-0.55, -0.35), between(0.6, 0.85)
        vignette, contrast = between(0.4, 0.6), between(0.3, 0.5)
    if dramatic:
        light_strength = max(light_strength, between(0.7, 0.9))
        contrast, vignette = contrast + between(0.3, 0.5), vignette + between(0.15, 0.3)
        # A dark room with a pool of light behind the sitter.
        val, glow = val * 0.6, between(0.5, 0.8)
    if soft:
        light_strength, contrast = light_strength * 0.35, contrast - between(0.15, 0.3)
        vignette, glow = vignette * 0.5, glow * 0.6

    temperature = between(-0.12, 0.12)
    if warm:
        temperature = between(0.35, 0.6)
    if cool:
        temperature = between(-0.6, -0.35)
    elif has("blue"):
        temperature = min(temperature, between(-0.3, -0.1))
    saturation = between(0.85, 1.1) + (0.3 if vivid else 0.0)
    fade, grain = between(0.0, 0.03), between(1.0, 4.0)
    tone = (1.0, 1.0, 1.0)
    if vintage:
        fade, grain = between(0.08, 0.16), between(5.0, 9.0)
        saturation, temperature = saturation * 0.7, max(temperature, between(0.15, 0.35))
        contrast -= 0.1
    if sepia:
        monochrome, tone = True, (1.1, 0.98, 0.78)
    elif monochrome:
        # Silver prints: slightly cold or slightly warm, never coloured.
        cast = between(-0.015, 0.015)
        tone = (1.0 + cast, 1.0, 1.0 - cast)
    if monochrome:
        saturation = 0.0
    # The knobs model 2 added draw from their own generator, so every other knob of a seed is
    # what model 1 drew. A faint split tone in most styles; "cinematic" asks for teal shadows
    # and orange highlights.
    extra = _rng("style-2", prompt, seed, model_version)
    split = (float(extra.uniform(-0.01, 0.01)), float(extra.uniform(-0.01, 0.01)))
    if has("cinematic"):
        split = (split[0], float(extra.uniform(0.03, 0.05)))
    if monochrome:
        split = (0.0, 0.0)
    sharpness = float(extra.uniform(-0.1, 0.1))
    if dreamy:
        sharpness = float(extra.uniform(-0.6, -0.35))
    if crisp:
        sharpness = float(extra.uniform(0.25, 0.4))

    face_size = between(0.3, 0.38)
    if has("closeup") or has("close") or has("tight"):
        face_size = between(0.4, 0.46)
    if has("environmental") or has("wide") or has("body"):
        face_size = between(0.23, 0.28)

    return Style(
        scene=scene,
        backdrop=(hue % 1.0, sat, val),
        accent=(accent_h % 1.0, accent_s, accent_v),
        glow=glow,
        glow_x=between(0.3, 0.7),
        glow_y=between(0.2, 0.45),
        texture=between(0.2, 0.9),
        texture_seed=int(rng.integers(0, 2**31)),
        light_angle=float(rng.choice([between(10, 70), between(110, 170)])),
        light_strength=float(np.clip(light_strength, 0, 0.95)),
        light_warmth=temperature * 0.5 + between(-0.15, 0.15),
        exposure=exposure,
        contrast=contrast,
        fade=fade,
        saturation=saturation,
        temperature=temperature,
        tint=between(-0.08, 0.08),
        monochrome=monochrome,
        tone=tone,
        vignette=float(np.clip(vignette, 0, 0.8)),
        grain=grain,
        split=split,
        sharpness=sharpness,
        face_size=face_size,
        face_x=between(0.44, 0.56),
        face_y=between(0.36, 0.43),
    )


def _wrap(hue: float) -> float:
    return hue % 1.0


@dataclass(frozen=True)
class Appearance:
    """What the simulator sees of a person: the drift of an unstable style follows it, as a real
    model's style leaks identity-dependent features. Two photos of one person look alike here,
    so they drift almost alike; different-looking people drift differently."""

    descriptor: tuple[float, ...]  # dlib's 128-d face descriptor; all 0 without a face
    skin: tuple[float, float, float]  # CIELAB L*, a*, b* of the cheeks (of the centre: no face)


# How many independent knobs drift, and how fast the drift turns with the face descriptor: a
# unit projection of dlib descriptors spreads ~0.045 across people, so 20 rad per unit spreads
# a knob's phase over about a radian; photos of one person sit about half as far apart.
# Model 2 added the last six (saturation, split tone, fade, grain, focus): see `apply_drift`.
DRIFT_KNOBS = 24
# The first knobs move the backdrop itself (its colour, the accent, the glow): the only ones the
# renderer's visibility probe (`render.drift_gain`) sees, so the only ones its gain scales.
BACKDROP_KNOBS = 8
_DESCRIPTOR_FREQUENCY = 20.0
# Skin tone pulls the light and grade one way per style (lighter or darker skin), in units of
# this many L* from a mid tone.
_SKIN_MID, _SKIN_SPAN, _SKIN_WEIGHT = 55.0, 25.0, 0.35


@lru_cache(maxsize=4096)
def _drift_direction(appearance: Appearance, prompt: str, seed: int) -> np.ndarray:
    """Per knob, which way this person pushes this style: a smooth function of the face
    descriptor (random projections, one set per style) plus a skin-tone pull, scaled to a root
    mean square of 1 over the knobs. The person sets the drift's direction, never its size:
    that is the style's instability alone, so every person moves an unstable style as far and
    how far the outputs drift apart across a panel follows the hidden stability closely."""
    rng = _rng("drift", prompt, seed)
    projections = rng.normal(size=(DRIFT_KNOBS, 128))
    projections /= np.linalg.norm(projections, axis=1, keepdims=True)
    phases = rng.uniform(0.0, 2.0 * np.pi, DRIFT_KNOBS)
    skin_pull = rng.uniform(-1.0, 1.0, DRIFT_KNOBS)
    descriptor = np.asarray(appearance.descriptor, dtype=np.float64)
    by_face = np.sin(phases + _DESCRIPTOR_FREQUENCY * (projections @ descriptor))
    skin = np.clip((appearance.skin[0] - _SKIN_MID) / _SKIN_SPAN, -1.5, 1.5)
    push = np.clip(1.2 * by_face + _SKIN_WEIGHT * skin * skin_pull, -1.3, 1.3)
    return push / max(float(np.sqrt(np.mean(push * push))), 1e-9)


# How drift grows with instability: `STABLE_END_BOOST` times as steeply at the stable end as
# at the unstable end, the extra steepness fading over `_STABLE_END` of instability, and nowhere
# flatter than at the unstable end. A pool's best styles sit a few thousandths of stability
# apart, and the next best a few hundredths: both must drift measurably differently. (The first
# steep end, x(1 + 5e^(-x/0.03)), left a near plateau round x = 0.06 that hid the second.)
# Normalised by `_FULL_DRIFT` so that a fully unstable style drifts as far as ever (1).
STABLE_END_BOOST = 6.0
_STABLE_END = 0.05
# A style's gain (how much its backdrop hides drift) adds to the backdrop's drift at the stable
# end, fading out over this much instability: further out, every style's drift shows anyway.
# With gains of 0.25-3 (render.drift_gain) drift still grows with instability everywhere.
_GAIN_FADE = 0.1


def _steep_at_the_stable_end(instability: float) -> float:
    # Slope STABLE_END_BOOST at 0, falling towards 1 over _STABLE_END: never below 1.
    fade = 1.0 - math.exp(-instability / _STABLE_END)
    return instability + (STABLE_END_BOOST - 1.0) * _STABLE_END * fade


_FULL_DRIFT = _steep_at_the_stable_end(1.0)


def drift_curve(instability: float) -> float:
    """How far a style of this instability (1 - stability) drifts, 0..1: 0 when fully stable,
    1 when fully unstable, `STABLE_END_BOOST` times as steep at the stable end as at the
    unstable end, and nowhere flatter than there."""
    return _steep_at_the_stable_end(instability) / _FULL_DRIFT


@lru_cache(maxsize=1024)
def person_style(
    prompt: str,
    seed: int,
    appearance: Appearance,
    model_version: int = SIMULATOR_MODEL_VERSION,
    gain: float = 1.0,
) -> Style:
    """The style as it comes out for one person: the base style pushed in the direction this
    person's appearance pushes it, by 1 − stability, more near the stable end (see below).

    A fully stable pair does not move at all; a fully unstable one changes backdrop, grade,
    light and framing clearly. `gain` is how far this style must move to show a given drift
    (the renderer measures it, `render.drift_gain`), so that equal stability looks equally
    stable in every style: a dark or grey backdrop hides a hue step that a teal one shows.
    """
    base = style_for(prompt, seed, model_version)
    # Scaled by 1 - stability, as the contract puts it ("a face-dependent perturbation scaled
    # by 1 - stability"), steeper at the stable end (`STABLE_END_BOOST`); the backdrop's knobs
    # also by the style's gain near the stable end, since only they are what the gain measures.
    amounts = drift_amounts(1.0 - stability(prompt, seed), gain)
    return apply_drift(base, _drift_direction(appearance, prompt, seed) * amounts)


def drift_amounts(instability: float, gain: float = 1.0) -> np.ndarray:
    """Per knob, how far a style of this instability (1 − stability) drifts, in units of the
    person's drift direction: 0 when fully stable, growing with instability for every gain."""
    amounts = np.full(DRIFT_KNOBS, drift_curve(instability))
    visibility = (gain - 1.0) * instability * math.exp(-instability / _GAIN_FADE)
    amounts[:BACKDROP_KNOBS] += visibility
    return amounts


# How far one unit of drift moves the knobs model 2 added. Chosen by eye, for a person looking
# at two portraits side by side, never from the scorer's numbers: a fully unstable style
# (|u| about 1) shows a change a photographer would name at once, and at stability 0.95
# (drift_curve about 0.17) the change is about one just-noticeable difference.
#   saturation 0.3: 1.0 -> 0.7 is "muted" (0.05, about a JND in chroma, at stability 0.95);
#   split tone 0.03: highlights and shadows pushed 8 levels each way in R and B, a named
#     teal-orange (or green-magenta) grade (11 levels already turned black hair blue); 1.4
#     levels at stability 0.95;
#   fade 0.05: blacks lifted by 13 levels, a matte look, or the darkest 5 % crushed to black;
#     2 levels at stability 0.95;
#   grain 3 levels (standard deviation): 2 -> 5 is "grainier" on a 512 px portrait; half a
#     level at stability 0.95, below a JND, as grain comes in whole levels;
#   focus 0.5: a blur of 1.5 % of the face's width (2.5 px at 512 x 512), "soft focus", or an
#     unsharp mask of 100 %, "over-sharpened"; 0.4 px at stability 0.95.
SATURATION_DRIFT, SPLIT_DRIFT, FADE_DRIFT, GRAIN_DRIFT, FOCUS_DRIFT = 0.3, 0.03, 0.05, 3.0, 0.5


def apply_drift(base: Style, u: np.ndarray) -> Style:
    """`base` moved by the knob vector `u` (one number per drifting knob, `DRIFT_KNOBS`).

    Monochrome styles cannot show hue, saturation or grade drift, so their luminance, contrast
    and light drift is larger by as much; in a dark (low-key, dramatic) style small luminance
    steps vanish in the shadows, so they are larger there too.
    """
    colour = 0.0 if base.monochrome else 1.0
    dark = min(1.0, max(0.0, (0.35 - base.backdrop[2]) / 0.25))
    luminance = (1.5 if base.monochrome else 1.0) * (1.0 + 1.2 * dark)
    h, s, v = base.backdrop
    ah, as_, av = base.accent
    return dataclasses.replace(
        base,
        backdrop=(
            _wrap(h + 0.12 * colour * u[0]),
            _clip01(s + 0.25 * colour * u[1]),
            _lighter(v, 0.18 * luminance * u[2]),
        ),
        accent=(
            _wrap(ah + 0.12 * colour * u[3]),
            _clip01(as_ + 0.25 * colour * u[4]),
            _lighter(av, 0.16 * luminance * u[5]),
        ),
        glow=_clip01(base.glow + 0.3 * luminance * u[6]),
        glow_x=base.glow_x + 0.2 * u[7],
        light_angle=base.light_angle + 50.0 * luminance * u[8],
        light_strength=float(np.clip(base.light_strength + 0.25 * luminance * u[9], 0, 0.95)),
        exposure=base.exposure + float(np.clip(0.35 * luminance * u[10], -0.8, 0.8)),
        temperature=base.temperature + 0.4 * colour * u[11],
        tint=base.tint + 0.2 * colour * u[12],
        vignette=float(np.clip(base.vignette + 0.2 * luminance * u[13], 0, 0.8)),
        face_size=base.face_size * float(np.clip(1.0 + 0.15 * u[14], 0.7, 1.4)),
        face_x=base.face_x + float(np.clip(0.06 * u[15], -0.12, 0.12)),
        face_y=base.face_y + float(np.clip(0.04 * u[16], -0.08, 0.08)),
        contrast=base.contrast + float(np.clip(0.25 * luminance * u[17], -0.5, 0.5)),
        saturation=float(np.clip(base.saturation + SATURATION_DRIFT * colour * u[18], 0, 1.6)),
        split=(
            base.split[0] + SPLIT_DRIFT * colour * u[19],
            base.split[1] + SPLIT_DRIFT * colour * u[20],
        ),
        fade=float(np.clip(base.fade + FADE_DRIFT * luminance * u[21], -0.08, 0.25)),
        grain=float(np.clip(base.grain + GRAIN_DRIFT * u[22], 1.0, 12.0)),
        sharpness=float(np.clip(base.sharpness + FOCUS_DRIFT * u[23], -1.0, 0.6)),
    )


@dataclass(frozen=True)
class SampleVariation:
    """How sample *i* of a request differs from the others: framing nudge, light level, grain."""

    dx: float  # face offset, fractions of the frame
    dy: float
    exposure: float  # stops
    light_turn: float  # degrees the key light moves round; three settings, so layers are reused
    grain_offset: tuple[int, int]


@lru_cache(maxsize=4096)
def sample_variation(prompt: str, seed: int, sample_index: int) -> SampleVariation:
    """Sample *i* is derived from (prompt, seed, i) only, so it is the same for every face."""
    rng = _rng("sample", prompt, seed, sample_index)
    return SampleVariation(
        dx=float(rng.uniform(-0.025, 0.025)),
        dy=float(rng.uniform(-0.018, 0.018)),
        exposure=float(rng.uniform(-0.12, 0.12)),
        light_turn=float(rng.choice([-12.0, 0.0, 12.0])),
        grain_offset=(int(rng.integers(0, 64)), int(rng.integers(0, 64))),
    )


def _lighter(value: float, step: float) -> float:
    """`value` (0..1) made lighter by `step` (negative: darker) in a perceptual, square-root
    scale, so a dark low-key backdrop drifts as visibly as a mid-grey one instead of clipping."""
    return _clip01((min(1.0, max(0.0, math.sqrt(max(value, 0.0)) + step))) ** 2)


def _clip01(value: float) -> float:
    return float(min(1.0, max(0.0, value)))
