"""Shared fixtures: real face photos that ship inside packages (public domain), temp data roots."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from workbench.layout import DataLayout


def _jpeg(image: Image.Image, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def hopper_jpeg() -> bytes:
    """Grace Hopper, US Navy photograph (public domain), shipped inside matplotlib."""
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        return handle.read()


@pytest.fixture(scope="session")
def astronaut_jpeg() -> bytes:
    """Eileen Collins, NASA photograph (public domain), shipped inside scikit-image; cropped to
    her head and shoulders so exactly one face is in frame."""
    from skimage import data

    image = Image.fromarray(data.astronaut()).crop((90, 0, 360, 300))
    return _jpeg(image)


@pytest.fixture(scope="session")
def sample_faces(hopper_jpeg: bytes, astronaut_jpeg: bytes) -> dict[str, bytes]:
    return {"hopper": hopper_jpeg, "astronaut": astronaut_jpeg}


@pytest.fixture
def layout(tmp_path) -> DataLayout:
    return DataLayout(tmp_path / "data")


@pytest.fixture
def no_backend_env(monkeypatch):
    """No real API configured: the workbench starts its embedded simulator."""
    monkeypatch.delenv("HEADSHOT_API_URL", raising=False)
    monkeypatch.delenv("HEADSHOT_API_KEY", raising=False)
