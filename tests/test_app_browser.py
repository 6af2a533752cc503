"""The app in a real browser: Playwright driving Debian's Chromium (never a downloaded one).

One signed-in person works through the scenario; a second browser context must stay
responsive while a sweep runs; without credentials only the login page shows. Screenshots of
every tab land in test-output/screenshots/ for a person to look at.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

pytest_plugins = ["app_fixtures"]
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("chromium") is None, reason="needs Debian's chromium (.ci/run installs it)"
    ),
]

SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output" / "screenshots"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def browser_app(tmp_path_factory, simulator_as_api):
    from app_fixtures import seed_data, start_app, stop

    root = tmp_path_factory.mktemp("browser")
    seed_data(root / "data", faces=("grace-hopper",))
    app = start_app(root / "data", root / "app.log", simulator_as_api)
    yield app
    stop(app.process)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), headless=True, args=BROWSER_ARGS
        )
        yield chromium
        chromium.close()


def sign_in(browser, app):
    context = browser.new_context(viewport={"width": 1300, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(app.url)
    user, password = app.auth
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()
    page.get_by_role("tab", name="Panel").wait_for()
    return context, page


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    page.wait_for_timeout(500)


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def astronaut_photo(tmp_path: Path) -> Path:
    """Eileen Collins (NASA, public domain) from scikit-image, head and shoulders."""
    from skimage import data

    path = tmp_path / "eileen collins.png"
    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).crop((90, 0, 360, 300)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def run_sweep(page, prompt: str, seeds: str) -> None:
    open_tab(page, "Sweep")
    page.locator("#sweep-prompts textarea").fill(prompt)
    page.locator("#sweep-seeds textarea, #sweep-seeds input").first.fill(seeds)
    page.locator("#sweep-estimate").get_by_text("requests").wait_for()
    page.locator("#sweep-run").click()


def test_the_scenario_a_person_follows(browser, browser_app, tmp_path):
    context, page = sign_in(browser, browser_app)
    open_tab(page, "Panel")
    shoot(page, "01-panel")

    # Upload a face: the same pipeline and messages as the CLI.
    page.locator("#face-upload input[type=file]").set_input_files(str(astronaut_photo(tmp_path)))
    page.locator("#add-faces").click()
    expect(page.locator("#add-report textarea")).to_have_value(
        re.compile("added eileen collins.png: added as eileen-collins"), timeout=WAIT_MS
    )
    page.locator("#face-cards figcaption", has_text="eileen-collins").wait_for()
    shoot(page, "02-panel-after-upload")

    # A 2x2 sweep (two faces, two seeds): the results fill in as they arrive.
    run_sweep(page, "studio headshot, soft window light", "1-2")
    # Mid-run the note reads "x/y images scored"; the summary at the end, "... as they arrived".
    page.locator("#sweep-progress", has_text="images scored as they arrived").wait_for()
    assert page.locator("#sweep-results img").count() >= 4
    shoot(page, "03-sweep")

    open_tab(page, "Catalogue")
    expect(page.locator("#catalogue-count")).to_contain_text("4 rows", timeout=WAIT_MS)
    shoot(page, "04-catalogue")

    # Review: the faces x seeds grid; a click opens a cell, the arrow keys step through them.
    open_tab(page, "Review")
    expect(page.locator("#review-grid img")).to_have_count(4, timeout=WAIT_MS)
    page.locator("#review-grid img").first.click()
    page.locator("#review-cell", has_text="seed 1").wait_for()
    expect(page.locator("#review-image img")).to_have_count(1)
    page.keyboard.press("ArrowRight")
    page.locator("#review-cell", has_text="seed 2").wait_for()
    page.locator("#review-scores", has_text="candidate consistency").wait_for()

    # Rate it: saved at once, as the signed-in user.
    page.locator("#review-stars").get_by_text("4", exact=True).click()
    page.locator("#review-rated", has_text="saved: 4★ by ada").wait_for()
    shoot(page, "05-review-cell")

    # Save the opened candidate as a template, then export the library: a valid JSON download.
    page.locator("#review-template-name input, #review-template-name textarea").first.fill(
        "soft-window"
    )
    page.locator("#review-save-template").click()
    page.locator("#review-saved", has_text="saved soft-window").wait_for()
    open_tab(page, "Templates")
    page.locator("#templates-table", has_text="soft-window").wait_for()
    page.locator("#template-export").click()
    link = page.locator("#template-file a").first
    link.wait_for()
    with page.expect_download() as download:
        link.click()
    exported = json.loads(Path(download.value.path()).read_text())
    assert [t["name"] for t in exported["templates"]] == ["soft-window"]
    assert exported["templates"][0]["seed"] == 2
    assert "grace-hopper" not in json.dumps(exported)
    shoot(page, "06-templates")

    open_tab(page, "Leaderboard")
    page.locator("#leaderboard-table", has_text="studio headshot").wait_for()
    page.locator("#leaderboard-table").get_by_text("studio headshot").filter(
        visible=True
    ).first.click()
    page.locator("#leaderboard-explanation", has_text="seed").wait_for()
    shoot(page, "07-leaderboard")
    page.locator("#leaderboard-open").click()  # one click from the row to its grid
    expect(page.locator("#review-grid")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#review-prompt input")).to_have_value("studio headshot, soft window light")

    # A reload finds the rating and the template still there.
    page.reload()
    open_tab(page, "Review")
    expect(page.locator("#review-grid img")).to_have_count(4, timeout=WAIT_MS)
    page.locator("#review-grid img").nth(1).click()
    page.locator("#review-cell", has_text="seed 2").wait_for()
    expect(page.locator("#review-stars input[value='4']")).to_be_checked(timeout=WAIT_MS)
    open_tab(page, "Templates")
    page.locator("#templates-table", has_text="soft-window").wait_for()
    context.close()


def test_a_second_person_stays_served_while_a_sweep_runs(browser, browser_app):
    first_context, first = sign_in(browser, browser_app)
    second_context, second = sign_in(browser, browser_app)
    run_sweep(first, "long sweep, dramatic light", "1-40")
    first.locator("#sweep-progress", has_text="requests").wait_for()
    # While the first sweep runs, the second person browses the catalogue and the panel.
    open_tab(second, "Catalogue")
    second.locator("#catalogue-count", has_text="rows").wait_for()
    open_tab(second, "Panel")
    second.locator("#face-cards figcaption").first.wait_for()
    still_running = first.locator("#sweep-progress").inner_text()
    assert "done" not in still_running, "the sweep ended before the second person was served"
    first.locator("#sweep-progress", has_text="done").wait_for(timeout=120_000)
    first_context.close()
    second_context.close()


def test_without_credentials_only_the_login_page_shows(browser, browser_app):
    context = browser.new_context()
    page = context.new_page()
    page.goto(browser_app.url)
    page.get_by_role("button", name="Login").wait_for(timeout=WAIT_MS)
    shoot(page, "00-login")
    assert page.get_by_role("tab").count() == 0
    assert "grace-hopper" not in page.content()
    assert context.request.get(browser_app.url + "/config").status in (401, 403)
    context.close()
