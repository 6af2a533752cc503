"""dlib's models: each loaded once per process, shared by the panel and the simulator, and safe
to use from several threads at once (the panel imports while the embedded simulator renders)."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from workbench import face_models
from workbench.contract import PortraitParams
from workbench.face_models import (
    DLIB_LOCK,
    face_detector,
    face_recognition_model,
    shape_predictor,
)
from workbench.panel import detect_faces
from workbench.simulator.render import render_portrait


def test_each_model_is_loaded_once_and_shared():
    assert face_detector() is face_detector()
    assert shape_predictor(5) is shape_predictor(5)
    assert shape_predictor(68) is not shape_predictor(5)
    assert face_recognition_model() is face_recognition_model()


def test_only_the_shipped_shape_predictors_exist():
    with pytest.raises(ValueError, match="5- and 68-point"):
        shape_predictor(7)


def test_the_models_find_a_face_and_describe_it(hopper_jpeg):
    pixels = np.asarray(Image.open(io.BytesIO(hopper_jpeg)).convert("RGB"))
    with DLIB_LOCK:
        boxes = face_detector()(pixels, 1)
        assert len(boxes) == 1
        landmarks = shape_predictor(68)(pixels, boxes[0])
        descriptor = np.array(
            face_recognition_model().compute_face_descriptor(
                pixels, shape_predictor(5)(pixels, boxes[0])
            )
        )
    assert landmarks.num_parts == 68
    assert descriptor.shape == (128,)


def test_panel_and_simulator_share_the_detector_across_threads(hopper_jpeg, astronaut_jpeg):
    # Before one loader, the panel and the renderer each had a detector and a lock of their
    # own; the shared object now takes one lock, so concurrent use neither crashes nor differs.
    image = Image.open(io.BytesIO(hopper_jpeg)).convert("RGB")
    expected = detect_faces(image)
    params = PortraitParams(prompt="studio portrait", seed=3, width=512, height=512)

    def detect(_):
        return detect_faces(image)

    def render(n):
        return render_portrait(astronaut_jpeg, params.model_copy(update={"seed": 10 + n}), 0)

    with ThreadPoolExecutor(max_workers=4) as pool:
        detections = list(pool.map(detect, range(6)))
        renders = list(pool.map(render, range(6)))
    assert all(found == expected for found in detections)
    assert all(jpeg[:2] == b"\xff\xd8" for jpeg in renders)
    assert set(face_models._loaded) >= {"detector", "shapes-5"}
