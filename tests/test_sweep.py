"""The sweep specification and its plan: seed syntax, sizes, faces, request keys (all pure)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from workbench.contract import SIMULATOR_BACKEND, PortraitParams
from workbench.errors import InputError
from workbench.layout import DataLayout
from workbench.panel import Face, Panel
from workbench.sweep import MAX_SEEDS, Plan, Sweep, expand_seeds, parse_size, plan, request_key

REPO_SWEEPS = Path(__file__).resolve().parents[1] / "data" / "sweeps"
ANN = Face("ann", "ann.jpg", "a" * 64, 512, 512)
BOB = Face("bob", "bob.jpg", "b" * 64, 512, 512)


def sweep(**fields) -> Sweep:
    return Sweep.build(**{"prompts": ["studio portrait"], "seeds": [1], **fields})


@pytest.mark.parametrize(
    ("spec", "seeds"),
    [
        ("1-5", [1, 2, 3, 4, 5]),
        ("1-50 (+5)", [1, 6, 11, 16, 21, 26, 31, 36, 41, 46]),
        ("1-1000 [8]", [1, 144, 286, 429, 572, 715, 857, 1000]),
        ("10-12, 42", [10, 11, 12, 42]),
        ("7", [7]),
        ("-1", [-1]),
    ],
)
def test_seed_syntax_matches_the_xyz_plot(spec, seeds):
    assert expand_seeds([spec], generator_seed=0) == seeds


def test_explicit_seeds_keep_order_drop_repeats_but_not_random_ones():
    assert expand_seeds([5, "3-6", 5, -1, -1], generator_seed=0) == [5, 3, 4, 6, -1, -1]


def test_random_seeds_are_reproducible_from_the_recorded_generator():
    first = sweep(seeds="random:12")
    assert first.seed_generator is not None  # drawn and recorded
    again = Sweep.from_toml(first.to_toml())
    assert again.seed_values() == first.seed_values()
    assert len(set(first.seed_values())) == 12
    assert all(seed > 0 for seed in first.seed_values())
    assert (
        sweep(seeds="random:12", seed_generator=1).seed_values()
        != sweep(seeds="random:12", seed_generator=2).seed_values()
    )


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        ('prompts = ["a"]\nseeds = "1-x"\n', "seeds", 2),
        ('prompts = ["a"]\nseeds = "50-1"\n', "seeds", 2),
        ('prompts = ["a"]\nseeds = [0]\n', "seeds", 2),
        ('prompts = ["a"]\nseeds = 1\nsizes = ["100x100"]\n', "sizes", 3),
        ('prompts = ["a"]\nseeds = 1\nsizes = "4:3"\n', "sizes", 3),
        ('prompts = ["a"]\nseeds = 1\nidentity_scales = [1.5]\n', "identity_scales", 3),
        ('prompts = ["a"]\nseeds = 1\nsample_number = 9\n', "sample_number", 3),
        ('prompts = ["a"]\nseeds = 1\nconcurrency = 0\n', "concurrency", 3),
        ('prompts = ["a"]\nseeds = 1\nmax_images = -1\n', "max_images", 3),
        ('prompts = ["  "]\nseeds = 1\n', "prompts", 1),
        ('prompts = ["a"]\nseed = 1\n', "seed", 2),
    ],
)
def test_bad_specs_name_the_field_and_line(text, field, line):
    with pytest.raises(InputError) as caught:
        Sweep.from_toml(text, source="bad.toml")
    message = str(caught.value)
    assert message.startswith("bad.toml: ")
    assert f"{field} (line {line})" in message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("prompts = " + "[" * 5_000 + "]" * 5_000, "nested too deeply"),
        ('prompts = ["a"]\nseeds = [' + "9" * 5_000 + "]", "a number too long"),
        ('prompts = ["a"]\nseeds = "1-' + "9" * 5_000 + '"', "is not a seed spec"),
        ('prompts = ["a"]\nseeds = "random:' + "9" * 5_000 + '"', "is not a seed spec"),
        ('prompts = ["a"]\nseeds = 1\nsizes = ["' + "9" * 5_000 + 'x1"]', "is not a size"),
    ],
)
def test_a_crafted_sweep_file_gets_one_short_line(text, words):
    with pytest.raises(InputError, match=words) as caught:
        Sweep.from_toml(text, source="crafted.toml")
    message = str(caught.value)
    assert message.startswith("crafted.toml: ") and len(message) < 200 and "\n" not in message


def test_toml_syntax_error_names_the_file_and_position():
    with pytest.raises(InputError, match=r"bad\.toml: not valid TOML.*line 2"):
        Sweep.from_toml('prompts = ["a"]\nseeds = = 1\n', source="bad.toml")


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such sweep file"):
        Sweep.load(tmp_path / "nope.toml")


def test_sizes_accept_presets_and_width_x_height():
    assert parse_size("1:1") == (768, 768)
    assert parse_size("3:4") == (768, 1024)
    assert parse_size("600x900") == (600, 900)
    with pytest.raises(ValueError, match="512"):
        parse_size("2048x2048")


def test_plan_expands_every_axis_over_the_faces_in_order():
    spec = sweep(prompts=["a", "b"], seeds="1-3", identity_scales=[0.5, 0.9], sizes=["1:1", "3:4"])
    the_plan = plan(spec, [ANN, BOB], backend=SIMULATOR_BACKEND)
    assert the_plan.requests == 2 * 3 * 2 * 2 * 2
    first, second = the_plan.cells[:2]
    # Faces vary fastest: one prompt+seed fills across the panel before the next begins.
    assert (first.face_id, second.face_id) == ("ann", "bob")
    assert first.params == second.params
    assert len({cell.key for cell in the_plan.cells}) == the_plan.requests
    assert the_plan.images == the_plan.requests  # sample_number 1


def test_plan_uses_only_the_named_faces_and_names_unknown_ones():
    assert {
        c.face_id for c in plan(sweep(faces=["bob"]), [ANN, BOB], backend=SIMULATOR_BACKEND).cells
    } == {"bob"}
    with pytest.raises(InputError, match="faces: no face with id carol"):
        plan(sweep(faces=["carol"]), [ANN, BOB], backend=SIMULATOR_BACKEND)
    with pytest.raises(InputError, match="panel is empty"):
        plan(sweep(), [], backend=SIMULATOR_BACKEND)


def test_request_key_is_the_request_without_the_key_and_face_bytes():
    params = PortraitParams(prompt="p", seed=3)
    key = request_key(params, ANN.hash, backend=SIMULATOR_BACKEND)
    assert len(key) == 64
    assert key == request_key(
        PortraitParams(prompt="p", seed=3), ANN.hash, backend=SIMULATOR_BACKEND
    )
    assert key != request_key(params, BOB.hash, backend=SIMULATOR_BACKEND)
    for change in (
        {"prompt": "q"},
        {"seed": 4},
        {"identity_scale": 0.5},
        {"sample_number": 2},
        {"width": 1024},
        {"height": 768},
    ):
        assert (
            request_key(params.model_copy(update=change), ANN.hash, backend=SIMULATOR_BACKEND)
            != key
        ), change


def test_request_key_is_scoped_to_the_backend():
    params = PortraitParams(prompt="p", seed=3)
    simulated = request_key(params, ANN.hash, "simulator")
    real = request_key(params, ANN.hash, "https://api.example.com")
    other = request_key(params, ANN.hash, "https://eu.api.example.com")
    assert len({simulated, real, other}) == 3
    assert {
        c.key for c in plan(sweep(), [ANN], backend="https://api.example.com").cells
    }.isdisjoint({c.key for c in plan(sweep(), [ANN], backend=SIMULATOR_BACKEND).cells})


def test_stored_cells_are_pending_again_only_with_seed_minus_one():
    the_plan = plan(sweep(seeds=[1, 2, -1]), [ANN], backend=SIMULATOR_BACKEND)
    stored = {cell.key for cell in the_plan.cells}
    pending = the_plan.pending(stored)
    assert [cell.params.seed for cell in pending] == [-1]
    assert len(the_plan.pending(set())) == 3


def test_cells_marked_rerun_are_pending_even_when_stored():
    from dataclasses import replace

    cells = [
        replace(cell, rerun=True)
        for cell in plan(sweep(seeds=[1, 2]), [ANN], backend=SIMULATOR_BACKEND).cells
    ]
    rerun = Plan(cells)
    assert not any(cell.dedupable for cell in cells)
    assert rerun.pending({cell.key for cell in cells}) == cells


def test_identical_fixed_requests_are_planned_once_random_ones_each_time():
    # The same photo under two ids makes the same request: one is paid for, not two. Seed -1
    # is a fresh draw every time, so each of its cells is its own request.
    twin = Face("ann-again", "ann2.jpg", ANN.hash, 512, 512)
    the_plan = plan(
        sweep(prompts=["a", "a"], seeds=[1, -1, -1]), [ANN, twin], backend=SIMULATOR_BACKEND
    )
    fixed = [cell for cell in the_plan.cells if cell.params.seed == 1]
    assert [cell.face_id for cell in fixed] == ["ann"]
    drawn = [cell for cell in the_plan.cells if cell.params.seed == -1]
    assert [cell.face_id for cell in drawn] == ["ann", "ann-again"] * 2
    assert the_plan.requests == 5 and the_plan.images == 5


def test_a_huge_range_is_refused_before_planning():
    with pytest.raises(InputError, match="seeds"):
        sweep(seeds="1-2000000000")


def test_the_python_object_is_the_same_as_the_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('prompts = "a"\nseeds = "1-2"\nsizes = "1:1"\nfaces = ["ann"]\n')
    from_file = Sweep.load(path)
    assert from_file == Sweep(prompts=["a"], seeds=["1-2"], sizes=["1:1"], faces=["ann"])
    assert Sweep.from_toml("[sweep]\n" + path.read_text()) == from_file


# hunt.toml is a hunt file (sweep fields plus the hunt's): tests/test_hunt_schedule.py loads it.
EXAMPLE_SWEEPS = sorted(p for p in REPO_SWEEPS.glob("*.toml") if p.name != "hunt.toml")


@pytest.mark.parametrize("path", EXAMPLE_SWEEPS, ids=lambda p: p.name)
def test_example_sweeps_load_and_plan(path):
    spec = Sweep.load(path)
    # The demo panel's ids (data/faces/manifest.csv).
    faces = [Face("grace-hopper", "h.jpg", "c" * 64, 512, 600)]
    faces.append(Face("eileen-collins", "e.jpg", "d" * 64, 512, 512))
    assert plan(spec, faces, backend=SIMULATOR_BACKEND).requests > 0


def test_demo_sweep_on_the_committed_panel_fits_its_budget_and_a_minute():
    # `make demo` promises well under a minute on the embedded simulator: the demo sweep over
    # the demo panel as committed, at the demo simulator's latency and the sweep's concurrency.
    from workbench.cli.demo import DEMO_SIMULATOR

    spec = Sweep.load(REPO_SWEEPS / "demo.toml")
    faces = Panel(DataLayout(REPO_SWEEPS.parent)).faces()
    the_plan = plan(spec, faces, backend=SIMULATOR_BACKEND)
    assert the_plan.images <= spec.max_images  # the budget cap never cuts the demo short
    waves = -(-the_plan.requests // spec.concurrency)
    assert waves * DEMO_SIMULATOR.latency_ms / 1000 < 30


# --- Hostile input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seeds",
    [
        "1-2147483647 [30000000]",
        "1-2147483647 [999999999999]",
        ["1-2147483647 [60000]", "1-2147483647 [60000]"],  # each fits, together they do not
        "1-60000, 100000-160000",
        ", ".join(["1-2147483647 [50000]"] * 3),
        list(range(1, MAX_SEEDS + 2)),
        "1-99999999999999999999999999999",
    ],
    ids=["count", "huge-count", "list", "mixed", "repeated", "ints", "digits"],
)
def test_seed_forms_are_capped_before_they_cost_memory(seeds):
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="seeds"):
            sweep(seeds=seeds)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 30 million seeds took 2.9 GB; the refusal is arithmetic. (The int list is its own input.)
    assert peak < 20_000_000 + (16 * MAX_SEEDS if isinstance(seeds, list) else 0)


def test_the_cap_still_allows_exactly_max_seeds():
    assert len(expand_seeds([f"1-{MAX_SEEDS}"], generator_seed=0)) == MAX_SEEDS
    assert len(expand_seeds(["1-2147483647 [50000]", "5-100"], generator_seed=0)) == 50_096


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('prompts = ["a"]\nseeds = true\n', "seeds (line 2): true is not a value here"),
        ('prompts = ["a"]\nseeds = [1, false]\n', "seeds (line 2): false is not a value here"),
        ('prompts = ["a"]\nseeds = 1\nfaces = []\n', "faces (line 3): an empty list names no"),
        ('prompts = ["a"]\nseeds = 1\nprice_per_image = inf\n', "price_per_image (line 3)"),
        ('prompts = ["a"]\nseeds = 1\nprice_per_image = nan\n', "price_per_image (line 3)"),
    ],
)
def test_values_toml_turns_into_something_else_are_refused(text, message):
    with pytest.raises(InputError, match=re.escape(message)):
        Sweep.from_toml(text, source="s.toml")


def test_a_sweep_file_with_a_bom_is_read(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b'prompts = ["a"]\nseeds = "1-2"\n')
    assert Sweep.load(path).seed_values() == [1, 2]


def test_a_sweep_file_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('prompts = ["café"]\nseeds = 1\n'.encode("latin-1"))
    with pytest.raises(InputError, match=r"not UTF-8 text \(byte 0xe9 at offset 15\)"):
        Sweep.load(path)


@pytest.mark.parametrize("kind", ["device", "fifo", "folder", "too-big"])
def test_a_sweep_file_must_be_a_small_regular_file(tmp_path, kind, monkeypatch):
    path = tmp_path / "spec.toml"
    if kind == "device":
        path = Path("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)  # opening it for reading would wait for a writer forever
    elif kind == "folder":
        path.mkdir()
    else:
        monkeypatch.setattr("workbench.sweep.MAX_SPEC_BYTES", 100)
        path.write_text('prompts = ["a"]\nseeds = 1\n# ' + "x" * 200 + "\n")
    with pytest.raises(InputError, match="not a regular file|is a folder|limit"):
        Sweep.load(path)


def test_a_backend_kind_is_not_a_backend_identity():
    with pytest.raises(ValueError, match="Backend.identity"):
        plan(sweep(), [ANN], backend="remote")
