"""Grids: which cell is which image, labelled failures and gaps, random seeds shown as used,
size caps, PNG metadata round trips, and clear errors when there is nothing to draw."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from workbench.catalogue import STATUS_FAILED, STATUS_OK, Catalogue, CatalogueRow
from workbench.erase import erase_face
from workbench.errors import InputError
from workbench.grids import (
    CandidateKey,
    GridError,
    GridQuery,
    GridScores,
    GridStyle,
    _font,
    grid_scores,
    load_grid,
    plan_pages,
    render_grid,
    render_grids,
    restore_grid_params,
    save_grid_png,
    wrap_text,
)
from workbench.panel import Panel
from workbench.scoring.runner import score_catalogue
from workbench.store import ImageStore

pytest_plugins = ["sweep_fixtures"]

PROMPT = "studio headshot, soft window light"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def colour_jpeg(colour: tuple[int, int, int], size=(768, 1024)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def colour_of(face: str, seed: int, sample: int = 0) -> tuple[int, int, int]:
    return (40 + 60 * (face == "hopper") + 20 * sample, 30 * seed % 256, 200 - 15 * seed)


class Rows:
    """Writes images and catalogue rows the way a sweep does, without the network."""

    def __init__(self, layout):
        self.layout = layout
        self.store = ImageStore(layout)
        self.rows: list[CatalogueRow] = []
        self.tick = 0
        self.face_hashes = {face.id: face.hash for face in Panel(layout).faces()}

    def _row(self, face, seed, **fields) -> CatalogueRow:
        self.tick += 1
        base = {
            "sweep_id": fields.pop("sweep_id", "s1"),
            "request_key": f"key-{face}-{seed}-{fields.get('seed_used')}",
            "created_at": T0 + timedelta(seconds=self.tick),
            "backend": "simulator",
            "prompt": fields.pop("prompt", PROMPT),
            "seed": seed,
            "sample_number": fields.pop("sample_number", 1),
            "identity_scale": fields.pop("identity_scale", 0.8),
            "width": fields.pop("width", 768),
            "height": fields.pop("height", 1024),
            "face_id": face,
            "face_hash": self.face_hashes.get(face, "f" * 64),
            "attempts": 1,
            "latency_ms": 10.0,
        }
        return CatalogueRow(**base, **fields)

    def ok(self, face, seed, samples=1, seed_used=None, data=None, **fields) -> list[str]:
        hashes = []
        shown_seed = seed_used if seed == -1 else seed
        for index in range(samples):
            stored = self.store.put(data or colour_jpeg(colour_of(face, shown_seed or 0, index)))
            hashes.append(stored.hash)
            self.rows.append(
                self._row(
                    face,
                    seed,
                    status=STATUS_OK,
                    sample_number=samples,
                    sample_index=index,
                    image_hash=stored.hash,
                    image_path=stored.relative_path,
                    seed_used=seed_used if seed == -1 else seed,
                    **fields,
                )
            )
        return hashes

    def failed(self, face, seed, error_class="RateLimited", **fields) -> None:
        self.rows.append(
            self._row(
                face,
                seed,
                status=STATUS_FAILED,
                error_class=error_class,
                error="429 too many requests",
                **fields,
            )
        )

    def commit(self) -> None:
        Catalogue(self.layout.catalogue).append(self.rows)
        self.rows = []


@pytest.fixture
def sheet(panel_layout):
    """hopper and astronaut × seeds 1-3; astronaut's seed 3 failed (rate limited), hopper's
    seed 3 never ran."""
    rows = Rows(panel_layout)
    for seed in (1, 2):
        for face in ("hopper", "astronaut"):
            rows.ok(face, seed)
    rows.failed("astronaut", 3)
    rows.commit()
    return panel_layout


def centre_colour(grid, cell) -> tuple[int, int, int]:
    left, top, right, bottom = cell.box
    return grid.image.getpixel(((left + right) // 2, top + (bottom - top) // 3))


def test_layout_says_which_cell_is_which_image(sheet):
    grid = render_grid(sheet, GridQuery(prompts=(PROMPT,)))
    assert [c.label for c in grid.page.columns] == ["seed 1", "seed 2", "seed 3"]
    assert [face.id for face in grid.page.rows] == ["hopper", "astronaut"]
    by_place = {(cell.face_id, cell.column_label): cell for cell in grid.cells}
    assert len(by_place) == 6
    store = ImageStore(sheet)
    for face in ("hopper", "astronaut"):
        for seed in (1, 2):
            cell = by_place[(face, f"seed {seed}")]
            assert cell.status == "ok" and store.has(cell.image_hash)
            left, top, right, bottom = cell.box
            assert 0 <= left < right <= grid.image.width and 0 <= top < bottom <= grid.image.height
            # The pixels inside the box are that image's (JPEG-close), and a click finds it.
            expected = colour_of(face, seed)
            assert (
                max(abs(a - b) for a, b in zip(centre_colour(grid, cell), expected, strict=True))
                < 12
            )
            assert grid.cell_at((left + right) // 2, (top + bottom) // 2) == cell
    assert grid.cell_at(0, 0) is None


def test_a_failed_cell_is_a_labelled_tile_and_a_gap_says_not_run(sheet):
    grid = render_grid(sheet, GridQuery(prompts=(PROMPT,)))
    by_place = {(cell.face_id, cell.column_label): cell for cell in grid.cells}
    failed = by_place[("astronaut", "seed 3")]
    assert failed.status == "failed" and failed.image_hash is None
    assert failed.request_key == "key-astronaut-3-None"
    assert by_place[("hopper", "seed 3")].status == "not run"
    # The two tiles are painted differently (red for failed, grey for not run).
    assert centre_colour(grid, failed) != centre_colour(grid, by_place[("hopper", "seed 3")])
    data = load_grid(sheet, GridQuery(prompts=(PROMPT,)))
    cell = data.cells[("astronaut", CandidateKey(PROMPT, 3, 0.8, 768, 1024))]
    assert cell.reason == "rate limited"


def test_a_later_success_replaces_a_failure(sheet):
    rows = Rows(sheet)
    rows.ok("astronaut", 3)
    rows.commit()
    grid = render_grid(sheet, GridQuery(prompts=(PROMPT,)))
    cell = next(c for c in grid.cells if (c.face_id, c.column_label) == ("astronaut", "seed 3"))
    assert cell.status == "ok"


def test_samples_of_one_request_sit_side_by_side_in_their_cell(panel_layout):
    rows = Rows(panel_layout)
    hashes = rows.ok("hopper", 5, samples=3)
    rows.commit()
    grid = render_grid(panel_layout, GridQuery(prompts=(PROMPT,), faces=("hopper",)))
    cells = [c for c in grid.cells if c.face_id == "hopper"]
    assert [c.image_hash for c in cells] == hashes
    assert [c.sample_index for c in cells] == [0, 1, 2]
    boxes = [c.box for c in cells]
    assert boxes[0][2] <= boxes[1][0], "sample 1 to the right of sample 0"
    assert boxes[2][1] >= boxes[0][3], "sample 2 on the next line (2 × 2 layout)"
    assert len({c.column_label for c in cells}) == 1


def test_random_seeds_show_the_seed_used_and_say_random(panel_layout):
    rows = Rows(panel_layout)
    rows.ok("hopper", 7)
    rows.ok("hopper", -1, seed_used=123456)
    rows.ok("astronaut", -1, seed_used=98765)
    rows.commit()
    grid = render_grid(panel_layout, GridQuery(prompts=(PROMPT,)))
    labels = [c.label for c in grid.page.columns]
    assert labels == ["seed 7", "seed 98765 (random)", "seed 123456 (random)"]
    assert all("-1" not in label for label in labels)
    assert grid.params["seeds"] == [7, 98765, 123456]
    assert grid.params["random_seeds"] == [98765, 123456]
    # Asking for seed -1 means "the random runs", each under the seed it had.
    only_random = render_grid(panel_layout, GridQuery(prompts=(PROMPT,), seeds=(-1,)))
    assert [c.value for c in only_random.page.columns] == [98765, 123456]
    # Asking for the seed a random run had finds that run: a restored grid shows it again.
    by_seed = render_grid(panel_layout, GridQuery(prompts=(PROMPT,), seeds=(123456,)))
    assert [c.label for c in by_seed.page.columns] == ["seed 123456 (random)"]
    assert [c.status for c in by_seed.cells] == ["ok", "not run"]


def test_other_axes_are_paged_and_columns_can_be_prompts_or_scales(panel_layout):
    rows = Rows(panel_layout)
    for prompt in (PROMPT, "noir"):
        for scale in (0.6, 0.9):
            rows.ok("hopper", 1, prompt=prompt, identity_scale=scale)
    rows.commit()
    by_seed = render_grids(panel_layout, GridQuery(prompts=(PROMPT, "noir")))
    assert len(by_seed) == 4 and [g.page.number for g in by_seed] == [1, 2, 3, 4]
    assert {g.page.total for g in by_seed} == {4}
    by_prompt = render_grids(panel_layout, GridQuery(prompts=(PROMPT, "noir"), cols="prompt"))
    assert len(by_prompt) == 2
    assert [c.value for c in by_prompt[0].page.columns] == [PROMPT, "noir"]
    by_scale = render_grids(panel_layout, GridQuery(prompts=(PROMPT, "noir"), cols="scale"))
    assert [c.label for c in by_scale[0].page.columns] == ["identity 0.6", "identity 0.9"]
    assert render_grids(panel_layout, GridQuery(prompts=(PROMPT,)), pages=[2])[0].page.number == 2
    with pytest.raises(InputError, match="page: 9"):
        render_grids(panel_layout, GridQuery(prompts=(PROMPT,)), pages=[9])


def test_rows_follow_panel_attributes_on_request(sheet):
    panel = Panel(sheet)
    panel.set_attributes("hopper", age_band="75+")
    panel.set_attributes("astronaut", age_band="30-44")
    grid = render_grid(sheet, GridQuery(prompts=(PROMPT,), order_by=("age_band",)))
    assert [face.id for face in grid.page.rows] == ["astronaut", "hopper"]


def test_big_grids_are_downscaled_then_split_and_say_so(panel_layout):
    rows = Rows(panel_layout)
    for seed in range(1, 25):
        rows.ok("hopper", seed)
    rows.commit()
    query = GridQuery(prompts=(PROMPT,))
    downscaled = render_grids(panel_layout, query, GridStyle(max_side=4000))
    assert len(downscaled) == 1
    grid = downscaled[0]
    assert grid.image.width <= 4000
    assert grid.page.thumb < 256 and "downscaled" in grid.page.notes[0]
    assert grid.params["notes"] == grid.page.notes

    split = render_grids(panel_layout, query, GridStyle(max_side=1500, max_pixels=1_500_000))
    assert len(split) > 1
    for part in split:
        assert part.image.width <= 1500 and part.image.height <= 1500
        assert part.image.width * part.image.height <= 1_500_000
        assert any(note.startswith("split: part") for note in part.page.notes)
    shown = [c.image_hash for part in split for c in part.cells if c.status == "ok"]
    assert len(shown) == 24 and len(set(shown)) == 24, "every image on exactly one part"


def test_long_legends_wrap_and_are_never_cut():
    font = _font(15)
    text = "a " * 3 + "supercalifragilisticexpialidocious-without-any-space-at-all " + "end"
    lines = wrap_text(text, font, 120)
    assert all(font.getlength(line) <= 120 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_long_prompt_headers_make_the_header_taller(panel_layout):
    long_prompt = "editorial portrait " * 12
    rows = Rows(panel_layout)
    rows.ok("hopper", 1, prompt=long_prompt.strip())
    rows.ok("hopper", 1, prompt="short")
    rows.commit()
    query = GridQuery(prompts=(long_prompt, "short"), cols="prompt")
    grid = render_grid(panel_layout, query)
    short_only = render_grid(panel_layout, GridQuery(prompts=("short",), cols="prompt"))
    assert grid.cells[0].box[1] > short_only.cells[0].box[1] + 40


def test_score_badges_come_from_the_mapping_given(sheet):
    data = load_grid(sheet, GridQuery(prompts=(PROMPT,)))
    hopper_1 = data.cells[("hopper", CandidateKey(PROMPT, 1, 0.8, 768, 1024))].images[0]
    scores = GridScores(
        identity={hopper_1: 0.93}, consistency={CandidateKey(PROMPT, 1, 0.8, 768, 1024): 0.5}
    )
    plain = render_grid(sheet, GridQuery(prompts=(PROMPT,)))
    scored = render_grid(sheet, GridQuery(prompts=(PROMPT,)), scores=scores)
    cell = next(c for c in scored.cells if c.image_hash == hopper_1)
    badge = scored.image.getpixel((cell.box[0] + 6, cell.box[1] + 8))
    assert badge == (46, 125, 50), "a green identity badge in the cell's corner"
    # The consistency line makes the header taller than the unscored one.
    assert scored.cells[0].box[1] > plain.cells[0].box[1]
    looked_up = render_grid(sheet, GridQuery(prompts=(PROMPT,)), scores=lambda layout, d: scores)
    assert looked_up.image.tobytes() == scored.image.tobytes()


def test_png_keeps_the_sweep_parameters_and_restores_them(sheet, tmp_path):
    grid = render_grid(sheet, GridQuery(prompts=(PROMPT,)))
    path = save_grid_png(grid, tmp_path / "grid.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == grid.image.size
    restored = restore_grid_params(path)
    assert restored.params["prompts"] == [PROMPT]
    assert restored.params["seeds"] == [1, 2, 3]
    assert restored.params["identity_scales"] == [0.8]
    assert restored.params["sizes"] == ["768x1024"]
    assert restored.params["faces"] == ["hopper", "astronaut"]
    assert restored.params["backend"] == ["simulator"]
    sweep = restored.sweep()
    assert sweep.seed_values() == [1, 2, 3] and sweep.faces == ["hopper", "astronaut"]
    again = render_grid(sheet, restored.query())
    assert [c.image_hash for c in again.cells] == [c.image_hash for c in grid.cells]


def test_restoring_something_that_is_not_a_grid_says_so(tmp_path):
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    with pytest.raises(InputError, match="not saved by `workbench grid`"):
        restore_grid_params(plain)
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(InputError, match="not a PNG image"):
        restore_grid_params(text)
    with pytest.raises(InputError, match="no such file"):
        restore_grid_params(tmp_path / "missing.png")


def test_a_prompt_with_no_rows_gets_a_clear_message(sheet):
    with pytest.raises(GridError, match="prompt: no catalogue rows for 'never swept'"):
        render_grid(sheet, GridQuery(prompts=("never swept",)))
    with pytest.raises(GridError, match=f"did you mean '{PROMPT}'"):
        render_grid(sheet, GridQuery(prompts=("studio headshot, soft window lights",)))
    with pytest.raises(GridError, match="no catalogue rows .* filters"):
        render_grid(sheet, GridQuery(prompts=(PROMPT,), seeds=(99,)))
    with pytest.raises(InputError, match="prompt"):
        GridQuery(prompts=("  ",))


def test_a_grid_whose_images_were_erased_gets_a_clear_message(sheet):
    store = ImageStore(sheet)
    render_grid(sheet, GridQuery(prompts=(PROMPT,)))  # thumbnails made and cached
    for image_hash in store.hashes():
        store.delete(image_hash)
    with pytest.raises(GridError, match="no longer in .*images"):
        render_grid(sheet, GridQuery(prompts=(PROMPT,)))


def test_after_erasing_every_face_the_grid_says_there_are_no_rows(sheet):
    render_grid(sheet, GridQuery(prompts=(PROMPT,)))
    erase_face(sheet, "hopper")
    grid = render_grid(sheet, GridQuery(prompts=(PROMPT,)))
    assert {c.face_id for c in grid.cells} == {"astronaut"}
    erase_face(sheet, "astronaut")
    with pytest.raises(GridError, match="erased"):
        render_grid(sheet, GridQuery(prompts=(PROMPT,)))


def test_style_options_are_checked():
    with pytest.raises(InputError, match="font size"):
        GridStyle(font_size=2)
    with pytest.raises(InputError, match="thumb"):
        GridStyle(thumb=5000)


def test_plan_pages_is_pure_and_skips_combinations_never_run(panel_layout):
    rows = Rows(panel_layout)
    rows.ok("hopper", 1, prompt=PROMPT, identity_scale=0.6)
    rows.ok("hopper", 2, prompt="noir", identity_scale=0.9)
    rows.commit()
    data = load_grid(panel_layout, GridQuery(prompts=(PROMPT, "noir")))
    pages = plan_pages(data)
    assert [(p.fixed["prompt"].value, p.fixed["scale"].value) for p in pages] == [
        (PROMPT, 0.6),
        ("noir", 0.9),
    ]


def test_badges_come_from_the_scoring_stores(panel_layout, hopper_jpeg, astronaut_jpeg):
    rows = Rows(panel_layout)
    hopper = rows.ok("hopper", 1, data=hopper_jpeg)[0]
    astronaut = rows.ok("astronaut", 1, data=astronaut_jpeg)[0]
    rows.ok("hopper", 2)
    rows.commit()
    query = GridQuery(prompts=(PROMPT,))
    data = load_grid(panel_layout, query)
    assert not grid_scores(panel_layout, data), "nothing scored yet: no badges"
    score_catalogue(panel_layout, workers=1)
    scores = grid_scores(panel_layout, data)
    # Each image against its own reference face: the reference itself scores near 1.
    assert scores.identity[hopper] > 0.9 and scores.identity[astronaut] > 0.9
    seed_1, seed_2 = (CandidateKey(PROMPT, s, 0.8, 768, 1024) for s in (1, 2))
    assert 0 <= scores.consistency[seed_1] <= 1
    assert seed_2 not in scores.consistency, "one face is no consistency"
    grid = render_grid(panel_layout, query, scores=grid_scores)
    cell = next(c for c in grid.cells if c.image_hash == hopper)
    assert grid.image.getpixel((cell.box[0] + 6, cell.box[1] + 8)) == (46, 125, 50)
