"""The app's callbacks as plain functions over the library: no browser, real files, the real
simulator on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import gradio as gr
import pandas as pd
import pytest
from hostile_files import crafted_template_files

from workbench.app import build_app
from workbench.app import catalogue as catalogue_tab
from workbench.app import leaderboard as leaderboard_tab
from workbench.app import panel as panel_tab
from workbench.app import review as review_tab
from workbench.app import sweep as sweep_tab
from workbench.app import templates as templates_tab
from workbench.app.banner import banner_text
from workbench.app.context import AppContext
from workbench.backend import Backend
from workbench.catalogue import Catalogue
from workbench.contract import SIMULATOR_BACKEND
from workbench.errors import InputError
from workbench.panel import Panel
from workbench.simulator import SimulatorConfig, SimulatorServer

pytest_plugins = ["sweep_fixtures"]

KEY = "app-test-key-7f3a"
FORM = dict(
    prompts="studio headshot\n\nfilm noir portrait\n",
    seeds="1-2",
    scales="0.8",
    size="1:1",
    custom_size="",
    samples=1,
    faces=None,
    max_images=None,
    price_per_image=0.02,
    concurrency=4,
)


@pytest.fixture
def simulator():
    with SimulatorServer(SimulatorConfig(api_key=KEY)) as server:
        yield server


@pytest.fixture
def ctx(panel_layout, simulator, tmp_path) -> AppContext:
    backend = Backend(url=simulator.url, api_key=KEY, kind="simulator")
    return AppContext(layout=panel_layout, backend=backend, api_concurrency=4, exports=tmp_path)


def test_the_banner_names_the_backend_and_never_the_key():
    simulated = banner_text(Backend("http://127.0.0.1:1", KEY, "simulator"))
    remote = banner_text(Backend("https://ada:pw@api.example.com", KEY, "remote"))
    assert "simulator" in simulated and "not real portraits" in simulated
    assert "https://api.example.com" in remote and "API key: set" in remote
    assert KEY not in simulated + remote
    assert "pw" not in remote  # credentials in the URL are not shown either


def test_faces_are_inline_data_never_a_file_url(panel_layout):
    page = panel_tab.faces_html(panel_layout)
    assert page.count("data:image/jpeg;base64,") == 2
    assert str(panel_layout.root) not in page and "file=" not in page
    assert list(panel_tab.faces_table(panel_layout)["id"]) == ["hopper", "astronaut"]
    assert "panel: 2 face(s)" in panel_tab.balance_text(panel_layout)


def test_upload_goes_through_the_import_pipeline_and_the_upload_is_deleted(
    layout, hopper_jpeg, tmp_path
):
    photo = tmp_path / "upload" / "Grace Hopper.jpg"
    junk = tmp_path / "upload" / "notes.jpg"
    photo.parent.mkdir()
    photo.write_bytes(hopper_jpeg)
    junk.write_bytes(b"not an image at all")
    report = panel_tab.add_faces(layout, [str(photo), str(junk)], "public domain", False)
    assert "added Grace Hopper.jpg: added as grace-hopper" in report
    assert "rejected notes.jpg" in report
    assert report.endswith("1 added, 0 already present, 1 rejected")
    assert not photo.exists() and not junk.exists()
    assert Panel(layout).get("grace-hopper").consent == "public domain"


def test_attributes_are_edited_and_erase_removes_the_person(panel_layout):
    assert panel_tab.set_attribute(panel_layout, "hopper", "age_band", "75+") == (
        "hopper: age_band = '75+'"
    )
    with pytest.raises(InputError, match="monk_skin_tone"):
        panel_tab.set_attribute(panel_layout, "hopper", "monk_skin_tone", "11")
    box, warning = panel_tab.erase_prompt(panel_layout, "hopper")
    assert box["visible"] is True and "cannot be undone" in warning
    assert Panel(panel_layout).get("hopper")  # asking is not erasing
    _, report = panel_tab.erase(panel_layout, "hopper")
    assert report.startswith("erased hopper: 1 face")
    assert panel_tab.face_ids(panel_layout) == ["astronaut"]


def test_the_form_builds_the_same_sweep_a_toml_file_would():
    sweep = sweep_tab.sweep_from_form(**FORM)
    assert sweep.prompts == ["studio headshot", "film noir portrait"]
    assert sweep.seed_values() == [1, 2]
    assert sweep.size_values() == [(768, 768)]
    assert sweep.faces == "all"
    custom = sweep_tab.sweep_from_form(
        **{**FORM, "size": "custom", "custom_size": "1024x512", "scales": "0.6, 0.9"}
    )
    assert custom.size_values() == [(1024, 512)] and custom.identity_scales == [0.6, 0.9]
    with pytest.raises(InputError, match="seeds"):
        sweep_tab.sweep_from_form(**{**FORM, "seeds": "1-x"})
    with pytest.raises(InputError, match="prompts"):
        sweep_tab.sweep_from_form(**{**FORM, "prompts": "\n \n"})


def test_the_estimate_counts_requests_images_cost_and_time(ctx):
    run = sweep_tab.SweepRun.prepare(
        sweep_tab.sweep_from_form(**FORM), ctx.layout, backend=SIMULATOR_BACKEND
    )
    text = sweep_tab.estimate_text(run)
    assert text.startswith("**8 requests · 8 images · cost 0.16 · about")
    capped = sweep_tab.SweepRun.prepare(
        sweep_tab.sweep_from_form(**{**FORM, "max_images": 3}),
        ctx.layout,
        backend=SIMULATOR_BACKEND,
    )
    assert "3 requests · 3 images" in sweep_tab.estimate_text(capped)
    assert "capped by the budget of 3 images" in sweep_tab.estimate_text(capped)


async def test_a_run_reports_progress_and_results_then_a_summary(ctx):
    sweep = sweep_tab.sweep_from_form(**FORM)
    updates = [update async for update in sweep_tab.run_sweep(ctx, sweep)]
    final_progress, final_results = updates[-1]
    assert 'value="8" max="8"' in final_progress and "done: sweep" in final_progress
    assert len(final_results) == 8
    for path, caption in final_results:
        assert path.startswith(str(ctx.layout.thumbnails)) and "seed" in caption
    rows = Catalogue(ctx.layout.catalogue).runs()
    assert len(rows) == 8 and set(rows.status) == {"ok"}


async def test_cancelling_a_run_keeps_what_arrived(panel_layout, tmp_path):
    with SimulatorServer(SimulatorConfig(api_key=KEY, latency_ms=300)) as slow:
        ctx = AppContext(
            panel_layout, Backend(slow.url, KEY, "simulator"), api_concurrency=2, exports=tmp_path
        )
        sweep = sweep_tab.sweep_from_form(**{**FORM, "seeds": "1-20", "concurrency": 2})
        seen: list[str] = []

        async def consume():
            async for progress, _ in sweep_tab.run_sweep(ctx, sweep):
                seen.append(progress)

        task = asyncio.create_task(consume())
        while not any(
            "requests" in p and not p.startswith('<div id="sweep-progress"><progress value="0"')
            for p in seen
        ):
            await asyncio.sleep(0.1)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    rows = Catalogue(panel_layout.catalogue).runs()
    assert 0 < len(rows) < 80
    assert set(rows.status) == {"ok"}


def test_catalogue_filters_and_exports_the_filtered_rows(ctx):
    asyncio.run(_drain(sweep_tab.run_sweep(ctx, sweep_tab.sweep_from_form(**FORM))))
    layout = ctx.layout
    choices = catalogue_tab.filter_choices(layout)
    assert choices["prompt"] == [catalogue_tab.ANY, "film noir portrait", "studio headshot"]
    rows = catalogue_tab.filtered_rows(layout, "studio headshot", "hopper", None, catalogue_tab.ANY)
    assert len(rows) == 2 and set(rows.face_id) == {"hopper"}
    csv_path = catalogue_tab.export_rows(ctx, "csv", "studio headshot", None, None, None)
    parquet_path = catalogue_tab.export_rows(ctx, "parquet", None, "astronaut", None, None)
    assert len(pd.read_csv(csv_path)) == 4
    exported = pd.read_parquet(parquet_path)
    assert len(exported) == 4 and set(exported.face_id) == {"astronaut"}
    assert KEY not in Path(csv_path).read_text()


def test_the_app_builds_with_every_tab(ctx):
    blocks = build_app(ctx)
    assert isinstance(blocks, gr.Blocks)
    config = str(blocks.get_config_file())
    for tab in ("Review", "Leaderboard", "Panel", "Sweep", "Templates", "Catalogue"):
        assert tab in config
    assert KEY not in config


async def _drain(updates) -> None:
    async for _ in updates:
        pass


def test_the_review_grid_is_faces_by_seeds_with_every_cell_accounted_for(ctx):
    asyncio.run(_drain(sweep_tab.run_sweep(ctx, sweep_tab.sweep_from_form(**FORM))))
    layout = ctx.layout
    choices = review_tab.review_choices(layout)
    assert choices == {
        "prompt": ["film noir portrait", "studio headshot"],
        "scale": [0.8],
        "size": ["768x768"],
    }
    grid = review_tab.review_grid(layout, "studio headshot", 0.8, "768x768")
    assert grid.columns == 2
    assert [(c.face_id, c.column) for c in grid.cells] == [
        ("hopper", "seed 1"),
        ("hopper", "seed 2"),
        ("astronaut", "seed 1"),
        ("astronaut", "seed 2"),
    ]
    items = review_tab.gallery_items(layout, grid, ctx.exports / "tiles")
    assert all(path.startswith(str(layout.thumbnails)) for path, _ in items)
    image, text = review_tab.cell_details(layout, grid.cells[3])
    assert image is not None and Path(image).parent.parent == layout.images
    assert "astronaut · seed 2" in text and "identity scale 0.8 · 768x768" in text
    side = review_tab.compare_items(layout, grid, "seed 2", ctx.exports / "tiles")
    assert [caption for _, caption in side] == ["hopper · seed 2", "astronaut · seed 2"]


async def test_missing_cells_show_as_tiles_and_a_rerun_fills_them(ctx):
    one_face = {**FORM, "prompts": "studio headshot", "faces": ["hopper"]}
    await _drain(sweep_tab.run_sweep(ctx, sweep_tab.sweep_from_form(**one_face)))
    grid = review_tab.review_grid(ctx.layout, "studio headshot", 0.8, "768x768")
    assert [c.status for c in grid.cells] == ["ok", "ok", "not run", "not run"]
    tiles = ctx.exports / "tiles"
    assert review_tab.gallery_items(ctx.layout, grid, tiles)[2][0].startswith(str(tiles))
    progress = [p async for p in review_tab.rerun_missing(ctx, grid)]
    assert 'value="2" max="2"' in progress[-1]  # only the two missing cells were sent
    again = review_tab.review_grid(ctx.layout, "studio headshot", 0.8, "768x768")
    assert [c.status for c in again.cells] == ["ok"] * 4


def test_templates_are_saved_approved_retired_exported_and_imported(ctx, tmp_path):
    asyncio.run(_drain(sweep_tab.run_sweep(ctx, sweep_tab.sweep_from_form(**FORM))))
    layout = ctx.layout
    grid = review_tab.review_grid(layout, "studio headshot", 0.8, "768x768")
    report = review_tab.save_cell_as_template(layout, grid.cells[1], "soft-light", by="ada")
    assert report == "saved soft-light (candidate; 2 image(s) of evidence)"
    with pytest.raises(InputError, match="exists"):
        review_tab.save_cell_as_template(layout, grid.cells[1], "soft-light", by="ada")
    table = templates_tab.templates_table(layout)
    assert list(table.iloc[0][["name", "status", "seed", "saved by"]]) == [
        "soft-light",
        "candidate",
        2,
        "ada",
    ]
    assert templates_tab.set_status(layout, "soft-light", "approved") == (
        "soft-light is now approved"
    )
    exported = Path(templates_tab.export_templates(layout, tmp_path))
    document = json.loads(exported.read_text())
    assert [t["name"] for t in document["templates"]] == ["soft-light"]
    text = exported.read_text()
    assert "hopper" not in text and "astronaut" not in text and KEY not in text
    assert templates_tab.set_status(layout, "soft-light", "retired") == "soft-light is now retired"
    upload = tmp_path / "upload.json"
    upload.write_bytes(exported.read_bytes())
    with pytest.raises(InputError, match="already in the library"):
        templates_tab.import_templates(layout, str(upload), "stop", by="bob")
    upload.write_bytes(exported.read_bytes())
    assert templates_tab.import_templates(layout, str(upload), "rename", by="bob") == (
        "added 0; renamed soft-light → soft-light-2"
    )
    assert not upload.exists()  # the uploaded copy is not kept
    assert templates_tab.template_names(layout) == ["soft-light", "soft-light-2"]


async def test_a_template_applies_to_an_upload_and_the_drift_check_runs(
    ctx, tmp_path, astronaut_jpeg
):
    await _drain(sweep_tab.run_sweep(ctx, sweep_tab.sweep_from_form(**FORM)))
    layout = ctx.layout
    templates_tab.save_template(
        layout, "noir", "film noir portrait", 1, 0.8, "768x768", "general", "", by="ada"
    )
    photo = tmp_path / "upload" / "new person.jpg"
    photo.parent.mkdir()
    photo.write_bytes(astronaut_jpeg)
    images, line = await templates_tab.apply_to_upload(ctx, "noir", str(photo), tmp_path / "out")
    # A face outside the panel: logged under an apply- id, erasable like any face.
    assert line == "noir applied to apply-new-person (1 request sent)"
    assert len(images) == 1 and images[0].startswith(str(layout.images))
    assert not photo.exists() and not any((tmp_path / "out").glob("**/*.jpg"))
    table, verdict = await templates_tab.run_drift_check(ctx, "noir")
    assert set(table["face"]) == {"hopper", "astronaut"}
    # The tab shows the library's verdict per face, whatever it is.
    assert set(table["status"]) <= {"ok", "drifted", "failed", "no baseline"}
    assert set(table["template"]) == {"noir"}
    assert "re-run logged as sweep" in verdict


def test_a_cell_is_rated_at_once_as_the_signed_in_user_and_shows_its_scores(ctx):
    asyncio.run(_drain(sweep_tab.run_sweep(ctx, sweep_tab.sweep_from_form(**FORM))))
    layout = ctx.layout
    grid = review_tab.review_grid(layout, "studio headshot", 0.8, "768x768")
    cell = grid.cells[0]
    text = review_tab.cell_scores(layout, cell)
    assert "identity (this image vs hopper):" in text
    assert "candidate consistency" in text and "per dimension:" in text
    assert review_tab.my_rating(layout, cell.image_hash, "ada") == (None, False)
    assert review_tab.rate_cell(layout, cell, 4, False, by="ada") == "saved: 4★ by ada"
    assert review_tab.rate_cell(layout, cell, 5, True, by="bob") == "saved: 5★ · winner by bob"
    assert review_tab.my_rating(layout, cell.image_hash, "ada") == (4, False)
    assert review_tab.my_rating(layout, cell.image_hash, "bob") == (5, True)
    with pytest.raises(gr.Error):
        review_tab.rate_cell(layout, None, 3, False, by="ada")


def test_the_leaderboard_ranks_plots_explains_and_saves_a_candidate(ctx):
    asyncio.run(_drain(sweep_tab.run_sweep(ctx, sweep_tab.sweep_from_form(**FORM))))
    layout = ctx.layout
    frame = leaderboard_tab.board(layout)
    assert len(frame) == 4  # 2 prompts x 2 seeds
    view = leaderboard_tab.board_view(frame)
    assert list(view["rank"]) == [1, 2, 3, 4]
    assert view["consistency"].is_monotonic_decreasing
    # Two faces prove little: every candidate says how many more it needs.
    assert all(flag.startswith("uncertain") for flag in view["flag"])
    assert len(leaderboard_tab.board(layout, sure_only=True)) == 0
    only_noir = leaderboard_tab.board(layout, prompt="film noir portrait")
    assert set(only_noir["prompt"]) == {"film noir portrait"}
    points = leaderboard_tab.scatter_points(frame)
    assert len(points) == 4 and set(points["worst_face"]) <= {"hopper", "astronaut"}
    groups, text = leaderboard_tab.group_bars(layout, leaderboard_tab.candidate_at(frame, 0))
    assert text.startswith(f"**'{frame.iloc[0]['prompt']}' seed {frame.iloc[0]['seed']}")
    assert list(groups.columns) == ["group", "consistency", "attribute", "faces"]
    line = leaderboard_tab.save_candidate(layout, frame.iloc[0], "top-one", by="ada")
    assert line == "saved top-one (candidate) from the leaderboard"
    saved = templates_tab.TemplateLibrary(layout).get("top-one")
    assert saved.scores.consistency == pytest.approx(frame.iloc[0]["consistency"])
    assert saved.provenance.source == "leaderboard" and saved.provenance.saved_by == "ada"


@pytest.mark.parametrize("name", sorted(crafted_template_files()))
def test_a_crafted_template_upload_is_refused_in_one_line_naming_no_server_folder(
    layout, tmp_path, name
):
    upload = tmp_path / "gradio" / "5f0c9e" / name  # where Gradio keeps an upload
    upload.parent.mkdir(parents=True)
    upload.write_bytes(crafted_template_files()[name])
    with pytest.raises(InputError) as caught:
        templates_tab.import_templates(layout, str(upload), "rename", by="bob")
    message = str(caught.value)
    assert message.startswith(f"{name}: ") and "\n" not in message and len(message) < 200
    assert str(tmp_path) not in message
    assert not upload.exists() and not layout.templates.exists()


def test_the_erase_prompt_refuses_a_malformed_or_unknown_id_before_asking(panel_layout):
    for face_id, words in (("../faces/grace-hopper", "is not a face id"), ("nobody", "no face")):
        with pytest.raises(InputError, match=words):
            panel_tab.erase_prompt(panel_layout, face_id)
    assert sorted(panel_tab.face_ids(panel_layout)) == ["astronaut", "hopper"]


def test_errors_in_the_page_name_no_folder_of_the_server(panel_layout, tmp_path, monkeypatch):
    from workbench.app.errors import _DATA_ROOTS, public_text, shown

    monkeypatch.setattr("workbench.app.errors._DATA_ROOTS", set(_DATA_ROOTS))
    build_app(AppContext(panel_layout, Backend("http://127.0.0.1:9", "k", "simulator")))
    root = str(panel_layout.root)
    # An unknown id: the panel's error names its folder, the page shows it relative.
    with pytest.raises(gr.Error) as caught:
        shown(lambda face: panel_tab.erase_prompt(panel_layout, face))("nobody")
    assert "no face with id 'nobody' in faces" in caught.value.message
    assert root not in caught.value.message and str(tmp_path) not in caught.value.message
    # Gradio's upload folder: only the file name is shown.
    upload = tmp_path / "gradio" / "0c1f9e2a" / "holiday photo.jpg"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"not an image at all")
    report = panel_tab.add_faces(panel_layout, [str(upload)], "", False)
    assert "rejected holiday photo.jpg" in report and str(tmp_path) not in report
    assert public_text(f"cannot read {root}/catalogue/part-1.parquet; see {root}") == (
        "cannot read catalogue/part-1.parquet; see the data folder"
    )
    assert public_text("HTTP 500 from https://api.example.com/v1/x: /srv/app/x.py failed") == (
        "HTTP 500 from https://api.example.com/v1/x: x.py failed"
    )


async def test_any_failure_of_a_callback_reaches_the_page_as_one_line_without_paths(tmp_path):
    from workbench.app.errors import shown

    missing = tmp_path / "data" / "catalogue" / "part-9.parquet"

    def reads():
        return missing.read_bytes()  # FileNotFoundError names the absolute path

    async def streams():
        yield "first"
        raise InputError(f"{missing}: damaged")

    with pytest.raises(gr.Error) as caught:
        shown(reads)()
    assert caught.value.message.startswith("FileNotFoundError: [Errno 2] No such file")
    assert "part-9.parquet" in caught.value.message and str(tmp_path) not in caught.value.message
    seen = []
    with pytest.raises(gr.Error) as caught:
        async for item in shown(streams)():
            seen.append(item)
    assert seen == ["first"] and caught.value.message == "part-9.parquet: damaged"
