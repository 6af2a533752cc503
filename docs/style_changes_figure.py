"""Draws docs/style_changes.png, the picture of docs/scoring.md's metamorphic suite: one studio
portrait (openpeople, MIT) and each named style change applied to it at full strength.

Run from the repository root: `.venv/bin/python docs/style_changes_figure.py` (needs the dev
extras).
"""

from __future__ import annotations

from pathlib import Path

import openpeople
from PIL import Image, ImageDraw

from workbench.scoring.style_changes import STYLE_CHANGES, apply_change

OUT = Path(__file__).with_name("style_changes.png")
PERSON = "P002"
TILE = 160
COLUMNS = 6


def main() -> None:
    path = Path(openpeople.__file__).parent / "data" / "curated" / PERSON / "assets"
    with Image.open(path / "studio_portrait.jpg") as opened:
        photo = opened.convert("RGB").resize((1024, 1024), Image.LANCZOS)
    tiles = [("unchanged", photo)] + [(c.name, apply_change(photo, c, 1.0)) for c in STYLE_CHANGES]
    rows = -(-len(tiles) // COLUMNS)
    sheet = Image.new("RGB", (COLUMNS * TILE, rows * (TILE + 22)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (name, image) in enumerate(tiles):
        x, y = (index % COLUMNS) * TILE, (index // COLUMNS) * (TILE + 22)
        sheet.paste(image.resize((TILE, TILE), Image.LANCZOS), (x, y))
        draw.text((x + 4, y + TILE + 4), name, fill="black")
    # A palette keeps the file small; the changes stay visible.
    sheet.quantize(256, dither=Image.Dither.NONE).save(OUT, optimize=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
