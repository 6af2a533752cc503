"""Schemathesis hooks for tests/test_simulator_openapi.py, loaded by `st run` (SCHEMATHESIS_HOOKS).

The contract's `jpeg-data-uri` format is more than a pattern can say (the bytes must decode), so
schemathesis gets real JPEGs for it; and bodies that carry a key get the simulator's, so generated
requests reach the renderer and its 200s, not just the 401 an outside caller meets.
"""

from __future__ import annotations

import io
import os

import schemathesis
from hypothesis import strategies as st
from matplotlib import cbook
from PIL import Image

from workbench.contract import JPEG_DATA_URI_FORMAT, encode_input_image

KEY = os.environ["WORKBENCH_SCHEMATHESIS_KEY"]


def _faces() -> list[str]:
    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        hopper = handle.read()
    small = io.BytesIO()
    Image.open(io.BytesIO(hopper)).reduce(4).save(small, format="PNG")  # sent converted to JPEG
    plain = io.BytesIO()
    Image.new("RGB", (160, 200), (90, 120, 150)).save(plain, format="JPEG")  # no face in it
    return [encode_input_image(data) for data in (hopper, small.getvalue(), plain.getvalue())]


schemathesis.openapi.format(JPEG_DATA_URI_FORMAT, st.sampled_from(_faces()))


@schemathesis.hook
def map_body(context, body):
    if isinstance(body, dict) and isinstance(body.get("apiKey"), str) and body["apiKey"]:
        return {**body, "apiKey": KEY}
    return body
