"""The notebooks' sweep form: its values build the sweep; running it (the cell, or a click on
Run) goes through the engine to the embedded simulator, with the progress bar and status."""

from __future__ import annotations

import pytest

from workbench.catalogue import Catalogue
from workbench.demo import ensure_demo_panel
from workbench.errors import InputError
from workbench.panel import Panel
from workbench.widgets import DEFAULT_FACES, SweepForm, describe


@pytest.fixture
def demo_layout(layout):
    ensure_demo_panel(layout)
    return layout


@pytest.fixture(autouse=True)
def simulator_backend(monkeypatch):
    monkeypatch.delenv("HEADSHOT_API_URL", raising=False)
    monkeypatch.delenv("HEADSHOT_API_KEY", raising=False)


def test_the_controls_build_the_sweep(demo_layout):
    form = SweepForm(demo_layout, prompts=["studio headshot", "outdoor portrait"], seeds=(5, 7))
    form.identity_scale.value = 0.65
    form.size.value = "1:1"
    sweep = form.sweep()
    assert sweep.prompts == ["studio headshot", "outdoor portrait"]
    assert sweep.seed_values() == [5, 6, 7]
    assert sweep.identity_scales == [0.65]
    assert sweep.size_values() == [(768, 768)]
    assert len(sweep.faces) == DEFAULT_FACES
    assert set(sweep.faces) <= {face.id for face in Panel(demo_layout).faces()}
    assert sweep.max_images == form.budget.value


async def test_a_bad_value_names_the_field_and_sends_nothing(demo_layout):
    form = SweepForm(demo_layout, prompts=["   "])
    with pytest.raises(InputError, match="prompt"):
        await form.run()
    assert "cannot run" in form.status.value and "prompt" in form.status.value
    assert Catalogue(demo_layout.catalogue).runs().empty


@pytest.mark.e2e
async def test_the_run_button_runs_the_sweep_and_redraws_the_results(demo_layout):
    form = SweepForm(demo_layout, prompts=["studio headshot"], seeds=(1, 1))
    form.faces.value = form.faces.options[:2]
    shown = []
    form.on_finished(shown.append)
    form.button.click()  # what a click in JupyterLab does
    await form._task
    (summary,) = shown
    assert summary.images_stored + summary.requests_failed == 2
    assert form.progress.max == 2 and form.progress.value == summary.images_stored
    assert form.status.value == describe(summary)
    assert not form.button.disabled
    # Running again skips every stored cell (one image per request).
    again = await form.run()
    assert again.skipped_stored == summary.images_stored
