"""Imported once by the forkserver that starts the simulator's render workers
(`workbench.simulator.pool`): the renderer's modules and dlib's models load there, once, and
every worker forked from it starts with them."""

import skimage.color  # noqa: F401  (the renderer imports it on first use)

from workbench.face_models import face_detector, face_recognition_model, shape_predictor
from workbench.simulator import render  # noqa: F401  (imported for the workers)

face_detector()
shape_predictor(5)
face_recognition_model()
