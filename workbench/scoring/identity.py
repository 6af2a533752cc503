"""Identity preservation: how alike the reference face and the face in an output are, with
dlib's 128-d ResNet face descriptor (offline, from `face-recognition-models`)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from workbench.face_models import DLIB_LOCK, face_recognition_model
from workbench.scoring.face import Face, find_face
from workbench.scoring.images import SCORING_SIDE, ImageInput, load_rgb

__all__ = [
    "IDENTITY_SCORER",
    "IDENTITY_VERSION",
    "descriptor_similarity",
    "face_descriptor",
    "identity_similarity",
]

IDENTITY_SCORER = "dlib-resnet"
# The size pictures are read at (the score runner imports it under this name).
_MAX_SIDE = SCORING_SIDE
IDENTITY_VERSION = 1

# dlib calls two faces the same person below a Euclidean distance of 0.6; strangers sit around
# 0.8-1.0. Similarity falls linearly from 1 at distance 0 to 0 at this distance.
_ZERO_SIMILARITY_DISTANCE = 1.2


def face_descriptor(image: ImageInput) -> np.ndarray | None:
    """dlib's 128-d descriptor of the largest face in `image`, or None when there is no face."""
    picture = load_rgb(image, max_side=SCORING_SIDE)
    face = find_face(picture)
    if face is None:
        return None
    return descriptor_of(picture, face)


def descriptor_of(picture: Image.Image, face: Face) -> np.ndarray:
    """The descriptor of an already found face (`find_face`) in `picture`."""
    with DLIB_LOCK:
        values = face_recognition_model().compute_face_descriptor(np.asarray(picture), face.shape)
    return np.asarray(values, dtype=np.float32)


def descriptor_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Similarity of two face descriptors in [0, 1]; 1 is the same face."""
    distance = float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))
    return float(np.clip(1.0 - distance / _ZERO_SIMILARITY_DISTANCE, 0.0, 1.0))


def identity_similarity(reference: ImageInput, image: ImageInput) -> float | None:
    """How alike the person in `reference` and in `image` are, in [0, 1] (1 = same person);
    None when either has no detectable face."""
    ref = face_descriptor(reference)
    if ref is None:
        return None
    out = face_descriptor(image)
    if out is None:
        return None
    return descriptor_similarity(ref, out)
