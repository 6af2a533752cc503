"""Identity scoring: dlib's descriptor tells a different photo of the same person from another
person (openpeople's synthetic people), and a picture without a face is an outcome, not a crash."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from people import KINDS, people, photo, photo_path
from PIL import Image

from workbench.errors import InputError
from workbench.scoring import (
    descriptor_similarity,
    face_descriptor,
    identity_similarity,
)


def _grey(size=(512, 512)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (128, 128, 128)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_same_person_in_another_photo_scores_higher_than_another_person():
    a, b = people()[:2]
    same = identity_similarity(photo(a, "studio_portrait"), photo(a, "amateur_selfie"))
    other = identity_similarity(photo(a, "studio_portrait"), photo(b, "amateur_selfie"))
    assert same is not None and other is not None
    assert 0.0 <= other < same <= 1.0


def test_no_face_is_none_not_an_error(tmp_path):
    grey = tmp_path / "grey.jpg"
    grey.write_bytes(_grey())
    assert face_descriptor(grey) is None
    assert identity_similarity(photo(people()[0], "studio_portrait"), grey) is None
    assert identity_similarity(grey, photo(people()[0], "studio_portrait")) is None


def test_paths_bytes_and_pil_images_give_the_same_descriptor(tmp_path):
    data = photo(people()[0], "studio_portrait")
    path = tmp_path / "face.jpg"
    path.write_bytes(data)
    from_bytes = face_descriptor(data)
    assert from_bytes is not None and from_bytes.shape == (128,)
    np.testing.assert_allclose(face_descriptor(path), from_bytes, atol=1e-6)
    np.testing.assert_allclose(face_descriptor(Image.open(path)), from_bytes, atol=1e-6)
    assert descriptor_similarity(from_bytes, from_bytes) == pytest.approx(1.0)


def test_an_unreadable_file_is_an_input_error_naming_it(tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    with pytest.raises(InputError, match="notes.jpg"):
        face_descriptor(bad)


@pytest.mark.e2e
def test_openpeople_auc_over_all_pairs_of_photos():
    """Every pair of photos (4 kinds × 9 people): same-person pairs must outscore
    different-person pairs, AUC ≥ 0.97 (dlib reaches about 0.995 here)."""
    descriptors = {}
    for person, kind in itertools.product(people(), KINDS):
        found = face_descriptor(photo_path(person, kind))
        if found is not None:
            descriptors[(person, kind)] = found
    assert len(descriptors) >= 0.9 * len(people()) * len(KINDS)
    same, other = [], []
    for (a, da), (b, db) in itertools.combinations(descriptors.items(), 2):
        (same if a[0] == b[0] else other).append(descriptor_similarity(da, db))
    same_a, other_a = np.array(same)[:, None], np.array(other)[None, :]
    auc = float((same_a > other_a).mean() + 0.5 * (same_a == other_a).mean())
    print(f"openpeople identity AUC {auc:.4f} over {len(same)} + {len(other)} pairs")
    assert auc >= 0.97
