"""Draws docs/scoring.png, the figure of docs/scoring.md: what the style descriptor looks at
(the person mask, the backdrop grid, the landmarks) and what comparing two outputs gives.

Run from the repository root: `.venv/bin/python docs/scoring_figure.py` (needs the dev extras).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import openpeople
from matplotlib.patches import Rectangle
from PIL import Image

from workbench.contract import PortraitParams
from workbench.scoring.consistency import dimension_label
from workbench.scoring.face import find_face
from workbench.scoring.style import (
    _GRID,
    STYLE_DIMENSIONS,
    compare_styles,
    describe_picture,
    person_mask,
)
from workbench.simulator.render import render_portrait
from workbench.simulator.style import stability

OUT = Path(__file__).with_name("scoring.png")
PROMPT = "studio portrait, blue backdrop"


def _selfie(person: str) -> bytes:
    path = Path(openpeople.__file__).parent / "data" / "curated" / person / "assets"
    with Image.open(path / "amateur_selfie.jpg") as opened:
        opened.draft("RGB", (800, 800))
        image = opened.convert("RGB")
    image.thumbnail((800, 800))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _render(face: bytes, seed: int) -> Image.Image:
    params = PortraitParams(prompt=PROMPT, seed=seed, width=512, height=640, identity_scale=0.8)
    return Image.open(io.BytesIO(render_portrait(face, params, 0))).convert("RGB")


def main() -> None:
    seeds = sorted(range(1, 60), key=lambda s: stability(PROMPT, s))
    unstable, stable = seeds[0], seeds[-1]
    faces = [_selfie("P001"), _selfie("P006")]
    pictures = {seed: [_render(face, seed) for face in faces] for seed in (stable, unstable)}
    found = {seed: [find_face(p) for p in pics] for seed, pics in pictures.items()}
    described = {
        seed: [describe_picture(p, f) for p, f in zip(pictures[seed], found[seed], strict=True)]
        for seed in pictures
    }

    figure = plt.figure(figsize=(12, 5), dpi=80)
    grid = figure.add_gridspec(1, 4, width_ratios=(1, 1, 1, 1.3))
    panels = [(stable, 0), (unstable, 0), (unstable, 1)]
    for column, (seed, index) in enumerate(panels):
        axes = figure.add_subplot(grid[0, column])
        picture, face = pictures[seed][index], found[seed][index]
        axes.imshow(picture)
        mask = person_mask(picture.size, face)
        overlay = np.zeros((*mask.shape, 4))
        overlay[mask] = (1.0, 0.2, 0.2, 0.35)
        axes.imshow(overlay)
        w, h = picture.size
        for row in range(_GRID):
            for col in range(_GRID):
                axes.add_patch(
                    Rectangle(
                        (col * w / _GRID, row * h / _GRID),
                        w / _GRID,
                        h / _GRID,
                        fill=False,
                        lw=0.6,
                        ec="white",
                    )
                )
        if face is not None:
            axes.plot(*face.landmarks.T, ".", ms=1.5, color="yellow")
        label = "stable seed" if seed == stable else "unstable seed"
        axes.set_title(f"{label}, face {index + 1}", fontsize=9)
        axes.axis("off")

    bars = figure.add_subplot(grid[0, 3])
    y = np.arange(len(STYLE_DIMENSIONS))
    for offset, seed, colour in ((-0.2, stable, "tab:green"), (0.2, unstable, "tab:red")):
        comparison = compare_styles(*described[seed])
        values = [comparison.per_dimension[name] for name in STYLE_DIMENSIONS]
        name = "stable" if seed == stable else "unstable"
        bars.barh(
            y + offset,
            values,
            height=0.4,
            color=colour,
            label=f"{name} (stability {stability(PROMPT, seed):.2f}): overall"
            f" {comparison.overall:.2f}",
        )
    bars.set_yticks(y, [dimension_label(name) for name in STYLE_DIMENSIONS], fontsize=8)
    bars.invert_yaxis()
    bars.set_xlim(0, 1)
    bars.set_xlabel("similarity of face 1 and face 2 (1 = same style)", fontsize=8)
    bars.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.4, -0.12))
    figure.suptitle(
        f"Style descriptor: person mask (red) from dlib's 68 landmarks (yellow), backdrop"
        f" measured per grid cell — “{PROMPT}”",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(OUT, dpi=80)
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
