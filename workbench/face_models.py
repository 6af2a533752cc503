"""dlib's face models, each loaded once per process: the frontal face detector (the panel's
import check, the simulator, scoring), the 5- and 68-point shape predictors and the ResNet face
descriptor model.

Every model ships inside an installed package (the detector in `dlib-bin`, the others in
`face-recognition-models`); nothing is downloaded. One dlib object called from two threads at
once crashes the process (measured: a segfault in dlib 20.0 with three panel imports in a
thread pool), and the embedded simulator renders in its own thread beside the panel and
scoring; so every call into a model holds `DLIB_LOCK`:

    with DLIB_LOCK:
        boxes = face_detector()(pixels, 1)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import dlib

_T = TypeVar("_T")

# Re-entrant, so a caller holding it can load a model (loading takes it too).
DLIB_LOCK = threading.RLock()
_loaded: dict[str, object] = {}


def _once(name: str, load: Callable[[], _T]) -> _T:
    with DLIB_LOCK:
        if name not in _loaded:
            _loaded[name] = load()
        return _loaded[name]  # type: ignore[return-value]


def face_detector() -> dlib.fhog_object_detector:
    """dlib's HOG frontal face detector: `detector(pixels, upsample)` or `.run(...)` for scores."""

    def load():
        import dlib  # imported late: loading dlib takes a moment and many commands never need it

        return dlib.get_frontal_face_detector()

    return _once("detector", load)


def shape_predictor(points: int = 5) -> dlib.shape_predictor:
    """The 5-point (eye corners, nose base) or 68-point landmark model."""
    if points not in (5, 68):
        raise ValueError(f"dlib ships 5- and 68-point shape predictors, not {points}")

    def load():
        import dlib
        import face_recognition_models as models

        path = (
            models.pose_predictor_five_point_model_location()
            if points == 5
            else models.pose_predictor_model_location()
        )
        return dlib.shape_predictor(path)

    return _once(f"shapes-{points}", load)


def face_recognition_model() -> dlib.face_recognition_model_v1:
    """dlib's ResNet that maps an aligned face to a 128-d descriptor
    (`model.compute_face_descriptor(pixels, shape)`)."""

    def load():
        import dlib
        import face_recognition_models as models

        return dlib.face_recognition_model_v1(models.face_recognition_model_location())

    return _once("resnet", load)
