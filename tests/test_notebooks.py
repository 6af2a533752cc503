"""The companion notebooks: committed without outputs, and each runs top to bottom, headless, on a
data root that starts empty (the embedded simulator seeds it), within its time limit.

Executed copies, and every figure they drew as a PNG, go to `test-output/notebooks/` (git-ignored)
so a person can open them.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from workbench.layout import DataLayout
from workbench.panel import Panel

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
OUTPUT = ROOT / "test-output" / "notebooks"
NOTEBOOK_NAMES = sorted(path.name for path in NOTEBOOKS.glob("*.ipynb"))
# The kernel the notebooks ask for; `make lab` registers it for the venv's Python.
KERNEL = "headshot-workbench"
# Time limits per notebook and per cell. Alone on two cores each notebook runs in tens of
# seconds; the limits leave room for a machine busy with other work (scoring is CPU-bound).
NOTEBOOK_SECONDS = 480
CELL_SECONDS = 300


def test_the_three_companion_notebooks_are_there():
    assert NOTEBOOK_NAMES == [
        "01_style_hunt.ipynb",
        "02_catalogue_analysis.ipynb",
        "03_templates.ipynb",
    ]


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_notebook_is_committed_without_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"{name} cell {index} has outputs: strip them (nbstripout)"
        assert cell.execution_count is None, f"{name} cell {index} has an execution count"
    # Widget state and run metadata are outputs too.
    assert "widgets" not in notebook.metadata
    assert notebook.metadata.kernelspec.name == KERNEL


def execute(name: str, data_root: Path) -> tuple[nbformat.NotebookNode, float]:
    """Run a notebook in a fresh kernel (this Python, WORKBENCH_DATA set) from the notebooks
    folder, write the executed copy and its figures under OUTPUT, and return it with its time."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_SECONDS,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    started = time.monotonic()
    try:
        client.execute(env=_kernel_env(data_root))
    finally:
        _write_outputs(name, notebook)
    return notebook, time.monotonic() - started


def _kernel_env(data_root: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("HEADSHOT_API_URL", "HEADSHOT_API_KEY")  # never the real API in tests
    }
    env["WORKBENCH_DATA"] = str(data_root)
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    return env


def _write_outputs(name: str, notebook: nbformat.NotebookNode) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, OUTPUT / name)
    figures = OUTPUT / Path(name).stem
    figures.mkdir(exist_ok=True)
    for old in figures.glob("*.png"):
        old.unlink()
    for png_name, data in figures_of(notebook):
        (figures / png_name).write_bytes(data)


def figures_of(notebook: nbformat.NotebookNode) -> list[tuple[str, bytes]]:
    """Every PNG the notebook displayed, named after its cell."""
    found = []
    for index, cell in enumerate(notebook.cells):
        for number, output in enumerate(cell.get("outputs", [])):
            png = output.get("data", {}).get("image/png")
            if png:
                found.append((f"cell{index:02d}-{number}.png", base64.b64decode(png)))
    return found


def text_of(notebook: nbformat.NotebookNode) -> str:
    """Everything the notebook printed or displayed as text."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


@pytest.fixture(scope="module", autouse=True)
def kernel(tmp_path_factory):
    """The notebooks' kernel, `KERNEL`, as this Python (the tree under test, on PYTHONPATH):
    a kernelspec in a folder that JUPYTER_PATH puts before any the machine has."""
    folder = tmp_path_factory.mktemp("jupyter")
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"})
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(folder))
        yield


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """One data root for the module, empty at first: the first notebook seeds it, as on a fresh
    clone, and the next ones build on what is there (as a person running them in turn would)."""
    return tmp_path_factory.mktemp("notebooks") / "data"


@pytest.mark.e2e
@pytest.mark.timeout(NOTEBOOK_SECONDS)
def test_catalogue_analysis_seeds_an_empty_catalogue_and_draws_its_figures(data_root):
    notebook, seconds = execute("02_catalogue_analysis.ipynb", data_root)
    text = text_of(notebook)
    assert "sweep" in text and "images stored" in text  # it seeded the empty catalogue
    # failure rate and latency over time, cost so far
    assert len(figures_of(notebook)) >= 2
    print(f"02_catalogue_analysis.ipynb executed in {seconds:.1f} s")


@pytest.mark.e2e
@pytest.mark.timeout(NOTEBOOK_SECONDS)
def test_templates_are_saved_exported_and_checked_for_drift(data_root):
    notebook, seconds = execute("03_templates.ipynb", data_root)
    text = text_of(notebook)
    library = json.loads((data_root / "templates.json").read_text())
    assert len(library["templates"]) >= 2
    exported = (data_root / "exports" / "templates.json").read_text()
    assert "request_keys" not in exported and "image_hashes" not in exported
    assert not [face.id for face in Panel(DataLayout(data_root)).faces() if face.id in exported]
    # the same simulator: nothing drifted; an updated model: the check caught it
    assert "drifted: none" in text
    assert "drifted: ['" in text
    print(f"03_templates.ipynb executed in {seconds:.1f} s")


@pytest.mark.e2e
@pytest.mark.timeout(NOTEBOOK_SECONDS)
def test_style_hunt_runs_its_sweep_from_the_widgets_defaults(data_root):
    notebook, seconds = execute("01_style_hunt.ipynb", data_root)
    text = text_of(notebook)
    # 2 prompts x seeds 1-2 x the 4 most varied faces, all new to this catalogue
    assert "images stored" in text and "0 requests already stored" in text
    state = notebook.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    bars = [w["state"] for w in state.values() if w["model_name"] == "IntProgressModel"]
    assert bars and bars[0]["max"] == 16 and bars[0]["value"] >= 12
    assert len(figures_of(notebook)) >= 2  # a grid page per prompt
    assert "scored" in text and "consistency" in text  # the top candidates' table
    print(f"01_style_hunt.ipynb executed in {seconds:.1f} s")


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_a_notebook_run_without_workbench_data_uses_the_repository_data(
    name, monkeypatch, tmp_path
):
    # Outside `make lab` nothing sets WORKBENCH_DATA and the kernel's folder is notebooks/:
    # `./data` there would leave an untracked notebooks/data/ in the checkout.
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert any("DataLayout.for_notebooks()" in source for source in sources)
    assert not any("DataLayout.resolve(" in source for source in sources)
    monkeypatch.delenv("WORKBENCH_DATA", raising=False)
    monkeypatch.chdir(NOTEBOOKS)
    assert DataLayout.for_notebooks().root == NOTEBOOKS.parent.resolve() / "data"
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path / "mine"))
    assert DataLayout.for_notebooks().root == tmp_path / "mine"
