"""The style descriptor: defined for awkward pictures, blind to resolution, and on real photos a
single studio set-up reads as more consistent than casual selfies."""

from __future__ import annotations

import io

import numpy as np
import pytest
from people import people, photo
from PIL import Image

from workbench.errors import InputError
from workbench.scoring import (
    STYLE_DIMENSIONS,
    StyleDescriptor,
    compare_styles,
    describe_style,
    style_consistency,
)


def _jpeg(image: Image.Image, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _in_range(comparison) -> bool:
    values = [comparison.overall, *comparison.per_dimension.values()]
    return all(0.0 <= v <= 1.0 for v in values) and set(comparison.per_dimension) == set(
        STYLE_DIMENSIONS
    )


def test_a_flat_grey_image_has_a_defined_descriptor_without_a_face():
    grey = describe_style(_jpeg(Image.new("RGB", (512, 512), (128, 128, 128))))
    assert not grey.has_face
    measured = [
        n for n in STYLE_DIMENSIONS if n not in ("backdrop_colour", "face_light", "framing")
    ]
    assert np.isfinite(np.concatenate([grey.dimension(n) for n in measured])).all()
    # The backdrop's mean is always there; grid cells hidden behind the person guess are not.
    backdrop = grey.dimension("backdrop_colour")
    assert np.isfinite(backdrop[:3]).all() and np.isfinite(backdrop[3:]).sum() >= 18
    # Neutral grey is neutral: Pillow's LAB mode would read its a*, b* as 0 or 255.
    assert np.abs(grey.dimension("colour_grade")[:3]).max() < 1.0
    assert compare_styles(grey, grey).overall == pytest.approx(1.0)


def test_an_output_without_a_face_compares_to_one_with_a_face():
    face = describe_style(photo(people()[0], "studio_portrait"))
    blank = describe_style(_jpeg(Image.new("RGB", (768, 1024), (90, 100, 120))))
    assert face.has_face and not blank.has_face
    comparison = compare_styles(face, blank)
    assert _in_range(comparison)
    assert comparison.per_dimension["framing"] == 0.0
    assert comparison.overall < compare_styles(face, face).overall


def test_the_same_picture_at_512_and_2024_pixels_has_the_same_style():
    source = Image.open(io.BytesIO(photo(people()[1], "studio_portrait", max_side=2048)))
    small = describe_style(_jpeg(source.resize((512, 512), Image.LANCZOS)))
    large = describe_style(_jpeg(source.resize((2024, 2024), Image.LANCZOS)))
    comparison = compare_styles(small, large)
    assert _in_range(comparison)
    assert comparison.per_dimension["framing"] > 0.95
    assert comparison.per_dimension["backdrop_colour"] > 0.95
    assert comparison.overall > 0.8


def test_consistency_needs_two_images():
    one = photo(people()[0], "studio_portrait")
    with pytest.raises(InputError, match="at least 2 images, got 1"):
        style_consistency([one])
    with pytest.raises(InputError, match="at least 2"):
        style_consistency(one)


def test_a_descriptor_survives_its_vector_and_rejects_a_wrong_length():
    described = describe_style(photo(people()[0], "amateur_selfie"))
    again = StyleDescriptor.from_vector(described.vector.tolist())
    np.testing.assert_array_equal(again.vector, described.vector)
    assert compare_styles(described, again).overall == pytest.approx(1.0)
    with pytest.raises(InputError, match="expected"):
        StyleDescriptor.from_vector(described.vector[:-1])
    with pytest.raises(KeyError, match="not a style dimension"):
        described.dimension("mood")


def test_a_changed_backdrop_shows_in_the_backdrop_dimensions():
    source = Image.open(io.BytesIO(photo(people()[2], "studio_portrait")))
    pixels = np.asarray(source).astype(np.int16)
    tinted = Image.fromarray(np.clip(pixels + np.array([40, 0, -40]), 0, 255).astype(np.uint8))
    comparison = compare_styles(describe_style(source), describe_style(tinted))
    assert comparison.per_dimension["colour_grade"] < 0.5
    assert comparison.per_dimension["framing"] > 0.95


@pytest.mark.e2e
def test_one_studio_set_up_is_more_consistent_than_casual_selfies():
    studio = style_consistency([photo(p, "studio_portrait") for p in people()])
    selfies = style_consistency([photo(p, "amateur_selfie") for p in people()])
    print(f"openpeople style consistency: studio {studio:.3f}, selfies {selfies:.3f}")
    assert studio > selfies + 0.1
