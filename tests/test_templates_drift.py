"""Templates against the real simulator on loopback: the drift check catches a model update
(a later `model_version`) and passes when nothing changed; apply logs a new face's images."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from people import people, photo_path
from PIL import Image

from workbench.catalogue import Catalogue
from workbench.cli import main
from workbench.client import HeadshotClient
from workbench.contract import SIMULATOR_BACKEND, SIMULATOR_MODEL_VERSION, simulator_identity
from workbench.erase import erase_face
from workbench.layout import DataLayout
from workbench.run import SweepRun
from workbench.scoring import compare_styles, describe_style
from workbench.scoring.style_changes import STYLE_CHANGES, apply_change
from workbench.simulator import SimulatorConfig, SimulatorServer
from workbench.simulator.server import SimulatorProcess
from workbench.sweep import Sweep
from workbench.templates import (
    DIMENSION_DRIFT_THRESHOLDS,
    TemplateError,
    TemplateLibrary,
    apply_template,
    check_drift,
    style_drift,
    template_from_catalogue,
)

pytestmark = pytest.mark.e2e
pytest_plugins = ["sweep_fixtures"]

PROMPT = "studio portrait, teal backdrop"


async def sweep_on(layout: DataLayout, server: SimulatorServer) -> None:
    sweep = Sweep.build(prompts=[PROMPT], seeds=[21], sizes=["512x512"], faces=["hopper"])
    run = SweepRun.prepare(sweep, layout, backend=SIMULATOR_BACKEND)
    async with HeadshotClient(server.url, server.api_key) as client:
        await run.execute(client)


@pytest.fixture
async def templated(panel_layout):
    """A panel, one sweep of one style on hopper (model version 1), saved as template `teal`."""
    with SimulatorServer() as server:
        await sweep_on(panel_layout, server)
    saved = template_from_catalogue(
        panel_layout, name="teal", prompt=PROMPT, seed=21, width=512, height=512
    )
    TemplateLibrary(panel_layout).save(saved)
    return panel_layout


# The simulator's model, and a later one standing for a provider's model update.
CURRENT = SIMULATOR_MODEL_VERSION
UPDATED = SIMULATOR_MODEL_VERSION + 1


async def check_on(layout: DataLayout, model_version: int, **kwargs):
    with SimulatorServer(SimulatorConfig(model_version=model_version)) as server:
        async with HeadshotClient(server.url, server.api_key) as client:
            backend = simulator_identity(model_version)
            report = await check_drift(layout, client, backend=backend, **kwargs)
        return report, server.stats


async def test_same_model_passes_and_the_check_really_asks_the_api(templated):
    rows_before = len(Catalogue(templated.catalogue).runs())
    report, stats = await check_on(templated, CURRENT)
    assert report.exit_code == 0 and report.drifted == []
    (teal,) = report.templates
    faces = {face.face_id: face for face in teal.faces}
    assert faces["hopper"].status == "ok" and faces["hopper"].style_drift == 0.0
    assert faces["astronaut"].status == "no baseline"
    # The same request key is stored, yet the check went to the API and logged its rows.
    assert stats.requests == 1
    runs = Catalogue(templated.catalogue).runs()
    assert len(runs) == rows_before + 1
    assert runs["sweep_id"].str.startswith("drift-check-").sum() == 1


async def test_another_model_version_is_caught_per_template_and_face(templated):
    report, _ = await check_on(templated, UPDATED)
    assert report.exit_code == 1 and report.drifted == ["teal"]
    hopper = next(f for f in report.templates[0].faces if f.face_id == "hopper")
    assert hopper.status == "drifted"
    assert hopper.style_drift > report.style_threshold
    # The report says why, in words: the overall move and every dimension past its threshold.
    assert hopper.reason.startswith("style moved") and "(limit" in hopper.reason
    assert hopper.per_dimension, "says which style dimensions moved"
    # The baseline is the saved evidence, not the latest rows: a second check still sees it.
    again, _ = await check_on(templated, UPDATED)
    assert again.drifted == ["teal"]
    back, _ = await check_on(templated, CURRENT)
    assert back.exit_code == 0


async def test_check_with_nothing_to_compare_says_so(templated):
    with pytest.raises(TemplateError, match="faces: no panel face ghost"):
        await check_on(templated, CURRENT, faces=["ghost"])
    report, stats = await check_on(templated, CURRENT, faces=["astronaut"])
    assert report.exit_code == 2 and stats.requests == 0
    TemplateLibrary(templated).retire("teal")
    with pytest.raises(TemplateError, match="no templates to check"):
        await check_on(templated, CURRENT)


def test_cli_check_exits_non_zero_on_drift(templated, monkeypatch):
    runner = CliRunner()
    data = ["--data", str(templated.root)]
    with SimulatorProcess(SimulatorConfig(model_version=UPDATED)) as updated:
        monkeypatch.setenv("HEADSHOT_API_URL", updated.url)
        monkeypatch.setenv("HEADSHOT_API_KEY", updated.api_key)
        drifted = runner.invoke(main, [*data, "templates", "check", "teal"])
    assert drifted.exit_code == 1, drifted.output
    assert "teal: DRIFTED" in drifted.output and "hopper: drifted, style drift" in drifted.output
    monkeypatch.delenv("HEADSHOT_API_URL")
    monkeypatch.delenv("HEADSHOT_API_KEY")
    same = runner.invoke(main, [*data, "templates", "check"])
    assert same.exit_code == 0, same.output
    assert "teal: ok (style drift 0.000" in same.output
    as_json = runner.invoke(main, [*data, "templates", "check", "--json"])
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert report["drifted"] == [] and report["templates"][0]["faces"][0]["face_id"] == "hopper"


async def test_apply_generates_for_a_new_face_logs_it_and_can_be_erased(
    templated, astronaut_jpeg, tmp_path
):
    out = tmp_path / "out"
    with SimulatorServer() as server:
        async with HeadshotClient(server.url, server.api_key) as client:
            first = await apply_template(
                templated,
                "teal",
                astronaut_jpeg,
                photo_name="New Hire.jpg",
                out=out,
                client=client,
                samples=2,
                backend=SIMULATOR_BACKEND,
            )
            again = await apply_template(
                templated,
                "teal",
                astronaut_jpeg,
                photo_name="New Hire.jpg",
                out=out,
                client=client,
                samples=2,
                backend=SIMULATOR_BACKEND,
            )
        assert server.stats.requests == 1, "the second apply is served from the catalogue"
    assert first.face_id == "apply-new-hire" and not first.reused and again.reused
    assert [p.name for p in first.files] == [
        "teal-apply-new-hire-0.jpg",
        "teal-apply-new-hire-1.jpg",
    ]
    runs = Catalogue(templated.catalogue).runs()
    mine = runs[runs["face_id"] == "apply-new-hire"]
    assert len(mine) == 2 and set(mine["prompt"]) == {PROMPT} and set(mine["seed"]) == {21}
    report = erase_face(templated, "apply-new-hire")
    assert report.catalogue_rows == 2 and report.images == 2
    TemplateLibrary(templated).retire("teal")
    with pytest.raises(TemplateError, match="retired"):
        await apply_template(
            templated,
            "teal",
            astronaut_jpeg,
            photo_name="x.jpg",
            out=out,
            client=None,
            backend=SIMULATOR_BACKEND,
        )


async def test_saved_templates_carry_the_leaderboard_scores(panel_layout):
    from workbench.scoring.leaderboard import leaderboard
    from workbench.scoring.runner import score_catalogue

    sweep = Sweep.build(prompts=[PROMPT], seeds=[3, 4], sizes=["512x512"])
    with SimulatorServer() as server:
        run = SweepRun.prepare(sweep, panel_layout, backend=SIMULATOR_BACKEND)
        async with HeadshotClient(server.url, server.api_key) as client:
            await run.execute(client)
    score_catalogue(panel_layout, workers=1)
    board = leaderboard(panel_layout)
    best = board.iloc[0]

    result = CliRunner().invoke(
        main,
        ["--data", str(panel_layout.root), "templates", "save", "best", "--from-leaderboard", "1"],
    )
    assert result.exit_code == 0, result.output
    assert "scores: consistency" in result.output
    saved = TemplateLibrary(panel_layout).get("best")
    assert saved.seed == int(best["seed"]) and saved.provenance.source.startswith(
        "leaderboard rank 1"
    )
    assert saved.scores.consistency == pytest.approx(float(best["consistency"]))
    assert saved.scores.faces == 2 and saved.scores.worst_face in ("hopper", "astronaut")
    assert len(saved.provenance.image_hashes) == 2

    by_hand = template_from_catalogue(
        panel_layout, name="by-hand", prompt=PROMPT, seed=int(best["seed"]), width=512, height=512
    )
    assert by_hand.scores == saved.scores, "saved by hand, the same candidate gets the same scores"
    too_far = CliRunner().invoke(
        main,
        ["--data", str(panel_layout.root), "templates", "save", "x", "--from-leaderboard", "9"],
    )
    assert too_far.exit_code == 1 and "rank: 9 is not between 1 and 2" in too_far.output


def _baseline_jpeg(image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _verdict(old: bytes, new: bytes) -> list[str]:
    comparison = compare_styles(describe_style(old), describe_style(new))
    return style_drift(comparison.overall, comparison.per_dimension)


@pytest.fixture(scope="module")
def baseline_photo():
    """A template's baseline image: a real studio portrait at an API's output size."""
    with Image.open(photo_path(people()[1], "studio_portrait")) as opened:
        return opened.convert("RGB").resize((1024, 1024), Image.LANCZOS)


@pytest.mark.parametrize("change", [c.name for c in STYLE_CHANGES])
def test_each_named_change_to_a_baseline_is_caught_and_named(baseline_photo, change):
    reasons = _verdict(
        _baseline_jpeg(baseline_photo), _baseline_jpeg(apply_change(baseline_photo, change, 1.0))
    )
    assert reasons, change
    # Each dimension that moved past its own threshold is named in words.
    assert any("moved" in r and "limit" in r for r in reasons)


def test_a_re_encoded_or_smaller_baseline_is_no_drift(baseline_photo):
    old = _baseline_jpeg(baseline_photo)
    assert _verdict(old, _baseline_jpeg(baseline_photo, 60)) == []
    assert _verdict(old, _baseline_jpeg(baseline_photo.resize((512, 512), Image.LANCZOS))) == []


def test_one_dimension_alone_fails_the_check_though_the_overall_holds():
    per_dimension = dict.fromkeys(DIMENSION_DRIFT_THRESHOLDS, 1.0) | {"colour_grade": 0.8}
    reasons = style_drift(0.96, per_dimension)
    assert reasons == ["colour grade moved 0.20 (limit 0.1)"]
    assert style_drift(0.96, dict.fromkeys(DIMENSION_DRIFT_THRESHOLDS, 0.99)) == []
    assert style_drift(0.85, {}) == ["style moved 0.15 (limit 0.1)"]
