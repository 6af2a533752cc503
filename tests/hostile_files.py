"""Crafted files a hostile user might hand the workbench (issue 21): JSON that is too deep, too
long or too many, and grid PNGs whose header or metadata is built to break a reader."""

from __future__ import annotations

import io
import json
import struct
import zlib

from PIL import Image, PngImagePlugin

DEEP = 200_000
LONG_DIGITS = 5_000

TEMPLATE = {"name": "ok", "prompt": "studio portrait", "seed": 7}


def deep_json(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def many_templates_json(count: int = 100_000) -> bytes:
    """About 4 MB for 100,000 templates: short names, prompts and seeds."""
    items = ",".join(f'{{"name":"t{i}","prompt":"p","seed":{i + 1}}}' for i in range(count))
    return f'{{"schema_version":1,"templates":[{items}]}}'.encode()


def crafted_template_files() -> dict[str, bytes]:
    """name -> file content, each a template file that must be refused in one line."""
    digits = "9" * LONG_DIGITS
    deep_inside = json.dumps({"schema_version": 1, "templates": ["X"]}).replace('"X"', deep_json())
    return {
        "deep.json": deep_json().encode(),
        "deep-inside.json": deep_inside.encode(),
        "long-seed.json": (
            '{"schema_version": 1, "templates": [{"name": "ok", "prompt": "p", "seed": '
            + digits
            + "}]}"
        ).encode(),
        "many-arrays.json": (
            '{"schema_version": 1, "templates": [' + "[]," * 1_000_000 + "[]]}"
        ).encode(),
        "long-version.json": ('{"schema_version": ' + "1" * 4000 + ', "templates": []}').encode(),
        "long-name.json": json.dumps(
            {"schema_version": 1, "templates": [{**TEMPLATE, "name": "N" * 100_000}]}
        ).encode(),
        "long-field.json": json.dumps(
            {"schema_version": 1, "templates": [{**TEMPLATE, "F" * 100_000: 1}]}
        ).encode(),
    }


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_header(width: int, height: int) -> bytes:
    """A PNG that says it is width x height, with one tiny IDAT: no pixels behind the claim."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def png_with_text(value: str, *, key: str = "workbench.grid", compressed: bool = False) -> bytes:
    image = Image.new("RGB", (8, 8), (90, 90, 90))
    info = PngImagePlugin.PngInfo()
    if compressed:
        info.add_text(key, value, zip=True)
    else:
        info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def grid_metadata(**changes) -> str:
    params = {
        "version": 1,
        "prompts": ["studio"],
        "seeds": [1, 2],
        "identity_scales": [0.8],
        "sizes": ["512x512"],
        "sample_number": 1,
        "faces": ["hopper"],
        "cols": "seed",
    }
    return json.dumps({**params, **changes})


def crafted_grid_pngs() -> dict[str, bytes]:
    """name -> PNG bytes, each a grid file `grid --restore` must refuse in one line."""
    return {
        "bomb.png": png_with_header(20_000, 20_000),
        "ztxt-10mb.png": png_with_text(grid_metadata(prompts=["x" * 10 * 2**20]), compressed=True),
        "nested.png": png_with_text(grid_metadata(prompts=["X"]).replace('"X"', deep_json())),
        "long-seed.png": png_with_text(grid_metadata().replace("[1, 2]", "[" + "7" * 5000 + "]")),
        "long-version.png": png_with_text(grid_metadata(version="v" * 4000)),
        "wrong-types.png": png_with_text(grid_metadata(prompts="studio", sizes=["big"])),
        "many-objects.png": png_with_text(grid_metadata(faces=[{}] * 100_000)),
        "many-seeds.png": png_with_text(grid_metadata(seeds=list(range(1, 200_001)))),
        "nan-scale.png": png_with_text(grid_metadata(identity_scales=[float("nan")])),
    }
