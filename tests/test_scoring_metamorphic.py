"""The style scorer's main evidence, on real photos: one studio set-up photographed on six
people (openpeople's `studio_portrait`), with each named style change a photographer would make
applied to half of them at three strengths (`workbench.scoring.style_changes`). Every change
must lower consistency strictly as it grows, and by at least 15 % at full strength; a JPEG
re-encode at quality 60, a downscale to 512 px and three other people in the same set-up must
each cost at most 5 %. docs/scoring.md shows the table this prints."""

from __future__ import annotations

import io
from functools import cache

import pytest
from people import people, photo_path
from PIL import Image

from workbench.scoring.style import (
    StyleDescriptor,
    consistency_of,
    describe_style,
    style_differences,
)
from workbench.scoring.style_changes import STYLE_CHANGES, apply_change

SIDE = 768  # the panel's photos, as wide as a portrait API's default output
STRENGTHS = (1 / 3, 2 / 3, 1.0)
PANEL = tuple(people()[:6])
OTHERS = tuple(people()[6:9])  # the same set-up on three other people
CHANGED = (1, 3, 5)  # half the panel, alternate people
INVARIANCES = ("JPEG quality 60", "downscaled to 512 px", "other people")
MOST_FALL_WHEN_INVARIANT = 0.05
LEAST_FALL_AT_FULL = 0.15
# ~200 real photos described (~25 s): kept out of the fast loop, run by `make test`.
pytestmark = pytest.mark.e2e


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@cache
def _photo(person: str) -> Image.Image:
    with Image.open(photo_path(person, "studio_portrait")) as opened:
        return opened.convert("RGB").resize((SIDE, SIDE), Image.LANCZOS)


@cache
def _described(person: str, change: str, strength: float) -> StyleDescriptor:
    """The descriptor of `person`'s photo after `change` (cached: each image is described once
    per test session)."""
    image = _photo(person)
    if change == "none":
        return describe_style(_jpeg(image))
    if change == "JPEG quality 60":
        return describe_style(_jpeg(image, 60))
    if change == "downscaled to 512 px":
        return describe_style(_jpeg(image.resize((512, 512), Image.LANCZOS)))
    return describe_style(_jpeg(apply_change(image, change, strength)))


def panel_consistency(change: str = "none", strength: float = 1.0) -> float:
    """Consistency of the panel with `change` applied to the people in CHANGED."""
    descriptors = []
    for index, person in enumerate(PANEL):
        if index not in CHANGED or change == "none":
            descriptors.append(_described(person, "none", 0.0))
        elif change == "other people":
            descriptors.append(_described(OTHERS[CHANGED.index(index)], "none", 0.0))
        else:
            descriptors.append(_described(person, change, strength))
    return consistency_of(descriptors)


@pytest.mark.parametrize("change", [c.name for c in STYLE_CHANGES])
def test_each_named_change_lowers_consistency_more_as_it_grows(change):
    unchanged = panel_consistency()
    scores = [panel_consistency(change, s) for s in STRENGTHS]
    falls = [1 - score / unchanged for score in scores]
    print(f"{change}: {unchanged:.3f} -> " + ", ".join(f"{s:.3f}" for s in scores))
    assert unchanged > scores[0] > scores[1] > scores[2], (change, unchanged, scores)
    assert falls[-1] >= LEAST_FALL_AT_FULL, (change, falls)


@pytest.mark.parametrize("invariance", INVARIANCES)
def test_what_is_not_a_style_change_costs_little(invariance):
    unchanged = panel_consistency()
    fall = 1 - panel_consistency(invariance) / unchanged
    print(f"{invariance}: {fall:+.1%}")
    assert fall <= MOST_FALL_WHEN_INVARIANT, (invariance, fall)


def test_a_change_at_zero_strength_is_no_change():
    image = _photo(PANEL[0])
    for change in STYLE_CHANGES:
        assert apply_change(image, change, 0.0).tobytes() == image.tobytes(), change.name
    with pytest.raises(KeyError, match="not a style change"):
        apply_change(image, "dreamy", 0.5)
    with pytest.raises(ValueError, match="strength"):
        apply_change(image, "grain", 1.5)


@pytest.mark.parametrize(
    ("change", "dimension", "words"),
    [
        ("soft focus", "sharpness", "softer on 2 faces"),
        ("warmer", "colour_grade", "warmer on 2 faces"),
        ("desaturated", "colour_grade", "less saturated on 2 faces"),
        ("more contrast", "tone_curve", "more contrast on 2 faces"),
        ("flatter", "tone_curve", "flatter on 2 faces"),
        ("grain", "grain", "grainier on 2 faces"),
        ("off-centre", "framing", "further right on 2 faces"),
        ("backdrop colour", "backdrop_colour", "bluer backdrop on 2 faces"),
        ("light from one side", "face_light", "lit from the right on 2 faces"),
    ],
)
def test_the_explanation_says_what_changed_on_how_many_faces(change, dimension, words):
    # Two of six changed: the other four say what the style is.
    faces = {
        person: [_described(person, change if index in CHANGED[:2] else "none", 1.0)]
        for index, person in enumerate(PANEL)
    }
    how = style_differences(faces)
    assert words in how.get(dimension, ""), how


def test_the_explanation_names_at_most_two_differences_per_dimension():
    # Each of the six people changed differently: six different words would be unreadable.
    changes = ("warmer", "cooler", "desaturated", "split-tone grade", "none", "none")
    faces = {
        person: [_described(person, change, 1.0)]
        for person, change in zip(PANEL, changes, strict=True)
    }
    how = style_differences(faces)
    assert "colour_grade" in how
    assert all(text.count(" on ") <= 2 for text in how.values()), how
