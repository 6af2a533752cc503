"""The launched app over its API (gradio_client), signed in, on the simulator: a sweep with
progress and cancel; without credentials every call is refused; the key never shows."""

from __future__ import annotations

import time

import httpx
import pytest
from gradio_client import Client, handle_file

from workbench.catalogue import Catalogue
from workbench.store import ImageStore

pytest_plugins = ["app_fixtures"]
pytestmark = pytest.mark.e2e

FORM = [
    "studio headshot, soft window light\nfilm noir portrait",  # prompts
    "1-2",  # seeds
    "0.8",  # identity scales
    "1:1",  # size
    "",  # custom size
    1,  # images per request
    ["grace-hopper", "eileen-collins"],  # faces
    100,  # budget cap
    0.01,  # price per image
]


@pytest.fixture(scope="module")
def client(running_app) -> Client:
    return Client(running_app.url, auth=running_app.auth, verbose=False, download_files=False)


def signed_in(running_app) -> httpx.Client:
    session = httpx.Client(base_url=running_app.url, timeout=30)
    user, password = running_app.auth
    reply = session.post("/login", data={"username": user, "password": password})
    assert reply.status_code == 200, reply.text
    return session


def test_the_estimate_and_a_small_sweep_with_progress(running_app, client):
    estimate = client.predict(*FORM, api_name="/estimate")
    assert estimate.startswith("**8 requests · 8 images · cost 0.08")
    job = client.submit(*FORM, api_name="/run_sweep")
    updates = list(job)  # every yield: progress, then the results so far
    progress, results = job.outputs()[-1]
    assert "done: sweep" in progress and 'value="8" max="8"' in progress
    assert len(results) == 8
    assert len(updates) >= 2
    rows = Catalogue(running_app.layout.catalogue).runs()
    assert (rows.status == "ok").sum() == 8


def test_a_sweep_can_be_cancelled_and_keeps_what_arrived(running_app, client):
    form = ["cancel me, slow portrait", "1-60", *FORM[2:7], 1000, 0.0]
    job = client.submit(*form, api_name="/run_sweep")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        outputs = job.outputs()
        if outputs and "images" in outputs[-1][0] and "0 images" not in outputs[-1][0]:
            break
        time.sleep(0.2)
    job.cancel()
    catalogue = Catalogue(running_app.layout.catalogue)
    time.sleep(2)  # the engine flushes what arrived
    kept = catalogue.recent(0, prompt="cancel me, slow portrait")
    time.sleep(2)
    assert len(catalogue.recent(0, prompt="cancel me, slow portrait")) == len(kept)  # stopped
    assert 0 < len(kept) < 120  # 60 seeds x 2 faces were planned
    assert set(kept.status) == {"ok"}


def test_faces_upload_through_the_api(running_app, client, hopper_jpeg, tmp_path):
    photo = tmp_path / "someone.jpg"
    photo.write_bytes(hopper_jpeg)
    report = client.predict([handle_file(str(photo))], "test consent", False, api_name="/add_faces")
    # The demo panel already holds this photo: the same pipeline says so.
    assert "duplicate someone.jpg" in report


def test_without_credentials_every_call_is_refused(running_app, client):
    with pytest.raises(Exception):  # noqa: B017 - the client's own error type for a refused login
        Client(running_app.url, verbose=False)
    anonymous = httpx.Client(base_url=running_app.url, timeout=30)
    names = [
        name.lstrip("/")
        for name in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    ]
    assert {"run_sweep", "add_faces", "erase_face", "export_rows"} <= set(names)
    for name in names:
        reply = anonymous.post(f"/gradio_api/call/{name}", json={"data": []})
        assert reply.status_code in (401, 403), name
    assert anonymous.get("/config").status_code in (401, 403)
    image_hash = Catalogue(running_app.layout.catalogue).recent(1, status="ok").image_hash[0]
    image = ImageStore(running_app.layout).path(image_hash)
    assert anonymous.get(f"/gradio_api/file={image}").status_code in (401, 403)
    face = running_app.layout.faces / "grace-hopper.jpg"
    assert anonymous.get(f"/gradio_api/file={face}").status_code in (401, 403)


def test_files_come_only_from_the_image_and_thumbnail_stores(running_app):
    session = signed_in(running_app)
    image_hash = Catalogue(running_app.layout.catalogue).recent(1, status="ok").image_hash[0]
    store = ImageStore(running_app.layout)
    assert session.get(f"/gradio_api/file={store.path(image_hash)}").status_code == 200
    assert session.get(f"/gradio_api/file={store.thumbnail(image_hash)}").status_code == 200
    for private in (
        running_app.layout.faces / "grace-hopper.jpg",
        running_app.layout.faces / "manifest.csv",
        Catalogue(running_app.layout.catalogue).parts()[0],
    ):
        assert session.get(f"/gradio_api/file={private}").status_code == 403, private


def test_the_api_key_never_reaches_a_page_the_config_a_download_or_the_log(running_app, client):
    session = signed_in(running_app)
    seen = [session.get(path).text for path in ("/", "/config", "/gradio_api/info")]
    seen.append(client.predict(*FORM, api_name="/estimate"))
    exported = client.predict("csv", None, None, None, None, api_name="/export_rows")
    seen.append(session.get(f"/gradio_api/file={exported['path']}").text)
    seen.append(running_app.output())
    assert "API key: set" in seen[1]  # the banner: backend named, key only "set"
    assert '"run_history":false' in seen[1].replace(" ", "")  # no face uploads kept in browsers
    for text in seen:
        assert running_app.simulator.api_key not in text


def test_a_template_is_saved_through_the_api_as_the_signed_in_user(running_app, client):
    line = client.predict(
        "api-made",
        "studio headshot, soft window light",
        1,
        0.8,
        "768x768",
        "general",
        "",
        api_name="/save_template",
    )
    assert line.startswith("saved api-made (candidate;")
    table = client.predict("api-made", api_name="/template_approved")
    assert table == "api-made is now approved"
    from workbench.templates import TemplateLibrary

    saved = TemplateLibrary(running_app.layout).get("api-made")
    assert saved.provenance.saved_by == running_app.auth[0]
    assert saved.status == "approved"


def test_uploads_over_the_size_limit_are_refused(running_app):
    session = signed_in(running_app)
    big = b"\xff\xd8" + b"0" * (21 * 1024 * 1024)
    reply = session.post("/gradio_api/upload", files={"files": ("huge.jpg", big, "image/jpeg")})
    assert reply.status_code == 413


def test_errors_in_the_page_name_no_folder_of_the_server(running_app, client, tmp_path):
    from gradio_client.exceptions import AppError

    root = str(running_app.layout.root)
    crafted = tmp_path / "long-seed.json"
    crafted.write_text('{"schema_version": 1, "templates": [{"seed": ' + "9" * 5000 + "}]}")
    with pytest.raises(AppError) as caught:
        client.predict(handle_file(str(crafted)), "stop", api_name="/import_templates")
    message = str(caught.value)
    assert message.startswith("long-seed.json: a number of 5000 digits"), message
    assert "/" not in message.split(":", 1)[0] and root not in message
    with pytest.raises(AppError) as caught:
        client.predict("nobody", api_name="/erase_prompt")
    message = str(caught.value)
    assert "no face with id 'nobody' in faces" in message and root not in message
    assert "/tmp" not in message
