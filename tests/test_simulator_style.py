"""The simulator's hidden ground truth means something: an unstable style drifts with the
person's *appearance* (face descriptor, skin tone), not with the bytes of the photo, and the
drift shows in every style, monochrome included."""

from __future__ import annotations

import dataclasses
import io
import itertools

import numpy as np
import pytest
from people import people, photo
from PIL import Image

from workbench.contract import PortraitParams
from workbench.simulator.render import appearance, render_portrait
from workbench.simulator.style import (
    BACKDROP_KNOBS,
    FADE_DRIFT,
    FOCUS_DRIFT,
    GRAIN_DRIFT,
    SATURATION_DRIFT,
    SPLIT_DRIFT,
    STABLE_END_BOOST,
    Style,
    drift_amounts,
    drift_curve,
    person_style,
    stability,
)

MONO, COLOUR = "black and white studio portrait", "studio portrait, blue backdrop"
MONO_UNSTABLE, MONO_STABLE = 37, 52  # stability 0.0 and 0.995
COLOUR_UNSTABLE = 32  # stability 0.02

# Knobs a monochrome picture can show, and the colour-only ones, with a unit each.
_LUMINANCE_KNOBS = {
    "exposure": 0.35,
    "contrast": 0.25,
    "light_angle": 50.0,
    "light_strength": 0.25,
    "vignette": 0.2,
    "face_size": 0.05,
    "face_x": 0.06,
    "face_y": 0.04,
    "fade": FADE_DRIFT,
    "grain": GRAIN_DRIFT,
    "sharpness": FOCUS_DRIFT,
}


def _knobs(style: Style, monochrome_only: bool = False) -> np.ndarray:
    values = [getattr(style, k) / unit for k, unit in _LUMINANCE_KNOBS.items()]
    values += [style.backdrop[2] / 0.28, style.accent[2] / 0.25, style.glow / 0.3]
    if not monochrome_only:
        values += [style.backdrop[0] / 0.12, style.backdrop[1] / 0.25, style.temperature / 0.4]
        values += [style.tint / 0.2, style.saturation / SATURATION_DRIFT]
        values += [style.split[0] / SPLIT_DRIFT, style.split[1] / SPLIT_DRIFT]
    return np.array(values)


def _drift(a: bytes, b: bytes, prompt: str = COLOUR, seed: int = COLOUR_UNSTABLE) -> float:
    one, two = person_style(prompt, seed, appearance(a)), person_style(prompt, seed, appearance(b))
    return float(np.linalg.norm(_knobs(one) - _knobs(two)))


def _resaved(jpeg: bytes, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def test_the_seeds_used_here_are_as_stable_as_named():
    assert stability(MONO, MONO_UNSTABLE) < 0.05 and stability(MONO, MONO_STABLE) > 0.9
    assert stability(COLOUR, COLOUR_UNSTABLE) < 0.05


def test_a_resaved_photo_drifts_like_the_original_not_like_a_stranger():
    original = photo(people()[0], "amateur_selfie")
    resaved = _resaved(original, 60)
    assert resaved != original
    stranger = photo(people()[1], "amateur_selfie")
    assert _drift(original, resaved) < 0.15 * _drift(original, stranger)


def test_another_photo_of_the_same_person_drifts_closer_than_other_people():
    """Over every person: the studio portrait and the selfie of one person drift less apart than
    the selfies of two different people (dlib's descriptor puts photos of one person about half
    as far apart as strangers, and the drift follows it)."""
    cast = people()
    same = [_drift(photo(p, "studio_portrait"), photo(p, "amateur_selfie")) for p in cast]
    other = [
        _drift(photo(p, "amateur_selfie"), photo(q, "amateur_selfie"))
        for p, q in itertools.combinations(cast, 2)
    ]
    print(f"drift apart: same person {np.mean(same):.2f}, different people {np.mean(other):.2f}")
    assert np.mean(same) < 0.75 * np.mean(other)
    assert np.median(same) < np.percentile(other, 30)


def test_different_people_drift_differently_in_an_unstable_style():
    faces = [photo(p, "amateur_selfie") for p in people()[:4]]
    for a, b in itertools.combinations(faces, 2):
        assert _drift(a, b) > 0.5


def test_a_stable_style_barely_moves_with_the_person():
    faces = [photo(p, "amateur_selfie") for p in people()[:4]]
    stable = max(range(1, 40), key=lambda s: stability(COLOUR, s))
    for a, b in itertools.combinations(faces, 2):
        assert _drift(a, b, COLOUR, stable) < 0.1 * _drift(a, b)


def test_monochrome_drift_is_as_visible_as_colour_drift():
    """In black and white, hue and grade drift cannot show; luminance, contrast, light and
    framing drift more instead, so a monochrome style looks as unstable as it is."""
    faces = [photo(p, "amateur_selfie") for p in people()[:5]]
    pairs = list(itertools.combinations(faces, 2))
    mono = np.mean(
        [
            np.linalg.norm(
                _knobs(person_style(MONO, MONO_UNSTABLE, appearance(a)), True)
                - _knobs(person_style(MONO, MONO_UNSTABLE, appearance(b)), True)
            )
            for a, b in pairs
        ]
    )
    colour = np.mean([_drift(a, b) for a, b in pairs])
    assert mono > 0.8 * colour


def test_monochrome_renders_of_two_people_differ_only_when_unstable():
    def difference(seed: int) -> float:
        params = PortraitParams(prompt=MONO, seed=seed, width=512, height=640, identity_scale=0.8)
        grey = []
        for face in (photo(people()[0], "amateur_selfie"), photo(people()[4], "amateur_selfie")):
            image = Image.open(io.BytesIO(render_portrait(face, params, 0))).convert("L")
            grey.append(np.asarray(image, dtype=np.float64))
        # The top band is backdrop in both: its brightness and falloff carry the drift.
        top = [g[:90].reshape(3, 30, -1).mean(axis=(1, 2)) for g in grey]
        return float(np.abs(top[0] - top[1]).max())

    # The five most and least stable of 200 seeds (0.0-0.08 and 0.990-0.998), on average: one
    # seed each way is not enough, since two people can push one unstable style the same way
    # (11 levels apart for one such seed, 229 for another), and the stable ones still differ
    # by 2-12 levels because the two people are not placed alike.
    seeds = sorted(range(1, 201), key=lambda seed: stability(MONO, seed))
    unstable = np.mean([difference(seed) for seed in seeds[:5]])
    stable = np.mean([difference(seed) for seed in seeds[-5:]])
    assert unstable > 5 * stable


# Every dimension a photographer names, as the drifted style holds it, in units of its drift.
_NAMED = {
    "exposure": lambda s: s.exposure / 0.35,
    "white balance": lambda s: s.temperature / 0.4,
    "saturation": lambda s: s.saturation / SATURATION_DRIFT,
    "colour grade": lambda s: np.hypot(*s.split) / SPLIT_DRIFT,
    "contrast": lambda s: s.contrast / 0.25,
    "fade": lambda s: s.fade / FADE_DRIFT,
    "grain": lambda s: s.grain / GRAIN_DRIFT,
    "focus": lambda s: s.sharpness / FOCUS_DRIFT,
    "vignette": lambda s: s.vignette / 0.2,
    "backdrop": lambda s: s.backdrop[0] / 0.12,
    "framing": lambda s: s.face_size / 0.05,
    "face light": lambda s: s.light_strength / 0.25,
}


def test_every_named_dimension_drifts_with_the_person_unless_the_style_is_stable():
    """Model 2's drift is no mirror of any scorer: besides backdrop, light and framing it moves
    saturation, the split tone, the tone curve, grain and focus, each by a visible step across
    people in an unstable style and by little in a stable one."""
    faces = [appearance(photo(p, "amateur_selfie")) for p in people()[:6]]
    stable = max(range(1, 60), key=lambda s: stability(COLOUR, s))

    def spread(seed: int) -> dict[str, float]:
        styles = [person_style(COLOUR, seed, face) for face in faces]
        return {name: float(np.ptp([knob(s) for s in styles])) for name, knob in _NAMED.items()}

    unstable, steady = spread(COLOUR_UNSTABLE), spread(stable)
    print({name: (round(unstable[name], 2), round(steady[name], 2)) for name in _NAMED})
    for name in _NAMED:
        assert unstable[name] > 0.4, (name, unstable[name])
        assert steady[name] < 0.25 * unstable[name], (name, steady[name], unstable[name])


def test_the_drifted_style_is_still_a_style():
    style = person_style(MONO, MONO_UNSTABLE, appearance(photo(people()[2], "amateur_selfie")))
    assert isinstance(style, Style) and style.monochrome
    assert dataclasses.replace(style).saturation == 0.0


def test_drift_grows_with_instability_for_every_gain_and_is_steep_at_the_stable_end():
    instabilities = np.linspace(0.0, 1.0, 4001)
    for gain in (0.25, 0.5, 1.0, 2.0, 3.0):  # the range render.drift_gain gives
        amounts = np.stack([drift_amounts(x, gain) for x in instabilities])
        assert np.all(amounts[0] == 0.0)
        assert np.all(np.diff(amounts, axis=0) > 0), gain
        # Only the backdrop's knobs carry the gain; framing and light drift alike in every style.
        others = amounts[:, BACKDROP_KNOBS:]
        assert np.allclose(others, others[:, :1])
        assert (amounts[1, 0] > amounts[1, -1]) == (gain > 1.0)
    # Two styles near the stable end drift clearly apart: stability 0.999 vs 0.99.
    near, far = drift_amounts(0.001)[-1], drift_amounts(0.01)[-1]
    assert far > 7 * near
    curve = np.array([drift_curve(x) for x in instabilities])
    slopes = np.diff(curve) / np.diff(instabilities)
    assert slopes[0] == pytest.approx(STABLE_END_BOOST * slopes[-1], rel=0.02)
    # Nowhere flatter than at the unstable end: the next best styles, a few hundredths of
    # stability apart, drift apart too (a plateau there once hid them).
    assert slopes.min() >= 0.999 * slopes[-1]
    assert drift_curve(0.1) > 1.5 * drift_curve(0.03)
    assert drift_curve(1.0) == pytest.approx(1.0)
