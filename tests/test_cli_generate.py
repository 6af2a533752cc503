"""`workbench generate` and `workbench simulate` as a user runs them: real processes, real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from workbench.cli import main
from workbench.contract import check_jpeg
from workbench.simulator import SimulatorConfig
from workbench.simulator.server import SimulatorProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def face_file(tmp_path, hopper_jpeg):
    path = tmp_path / "hopper.jpg"
    path.write_bytes(hopper_jpeg)
    return path


@pytest.fixture(scope="module")
def simulator_process():
    """`workbench simulate` in its own process, as a user would start it."""
    with SimulatorProcess(SimulatorConfig(api_key="proc-key-UNIQUE-44aa")) as process:
        yield process.url, process.api_key, process


def run(args, **kwargs):
    return CliRunner().invoke(main, args, catch_exceptions=False, **kwargs)


def test_generate_on_the_embedded_simulator(tmp_path, face_file, no_backend_env):
    out = tmp_path / "out"
    result = run(
        [
            "generate",
            "--face",
            str(face_file),
            "--prompt",
            "studio",
            "--seed",
            "7",
            "--samples",
            "2",
            "--size",
            "1:1",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    paths = [line for line in result.stdout.splitlines() if line.endswith(".jpg")]
    assert len(paths) == 2
    assert all(check_jpeg(Path(path).read_bytes(), (768, 768)) for path in paths)
    assert "simulator — not real portraits" in result.stderr


def test_generate_against_a_simulator_process(tmp_path, face_file, simulator_process, monkeypatch):
    url, key, _ = simulator_process
    monkeypatch.setenv("HEADSHOT_API_URL", url)
    monkeypatch.setenv("HEADSHOT_API_KEY", key)
    result = run(
        [
            "generate",
            "--out",
            str(tmp_path / "out"),
            "--face",
            str(face_file),
            "--prompt",
            "office, warm",
            "--seed",
            "11",
            "--width",
            "512",
            "--height",
            "640",
        ]
    )
    assert result.exit_code == 0, result.output
    written = list((tmp_path / "out").glob("*.jpg"))
    assert len(written) == 1 and check_jpeg(written[0].read_bytes(), (512, 640))
    # A simulator behind HEADSHOT_API_URL says so, and is announced as one.
    assert f"simulator — not real portraits ({url})" in result.stderr
    assert key not in result.output


def test_wrong_key_is_one_clear_line(tmp_path, face_file, simulator_process, monkeypatch):
    url, key, _ = simulator_process
    monkeypatch.setenv("HEADSHOT_API_URL", url)
    monkeypatch.setenv("HEADSHOT_API_KEY", "wrong-UNIQUE-key-0a0a")
    result = run(
        ["generate", "--out", str(tmp_path / "out"), "--face", str(face_file), "--prompt", "x"]
    )
    assert result.exit_code == 1
    assert "API key was refused" in result.stderr and "Traceback" not in result.output
    assert "wrong-UNIQUE-key-0a0a" not in result.output
    assert not (tmp_path / "out").exists(), "nothing is written when the request fails"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--samples", "9"], "sampleNumber"),
        (["--identity-scale", "1.5"], "identityScale"),
        (["--width", "4000"], "outputImageWidth"),
        (["--seed", "0"], "seed"),
        (["--prompt", "   "], "prompt"),
        (["--size", "1:1", "--width", "600"], "either --size"),
    ],
)
def test_bad_options_name_the_field_and_send_nothing(
    face_file, args, message, no_backend_env, tmp_path
):
    base = ["generate", "--out", str(tmp_path / "out"), "--face", str(face_file)]
    if "--prompt" not in args:
        base += ["--prompt", "studio"]
    result = run(base + args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "simulator" not in result.stderr, "failed before any backend was started"


def test_non_image_face_is_refused(tmp_path, no_backend_env):
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    result = run(["generate", "--out", str(tmp_path / "out"), "--face", str(text), "--prompt", "x"])
    assert result.exit_code == 1 and "inputImages: not an image" in result.stderr


def test_half_configured_backend_is_an_error(face_file, monkeypatch, tmp_path):
    monkeypatch.setenv("HEADSHOT_API_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("HEADSHOT_API_KEY", raising=False)
    result = run(
        ["generate", "--out", str(tmp_path / "out"), "--face", str(face_file), "--prompt", "x"]
    )
    assert result.exit_code == 1 and "HEADSHOT_API_KEY is not set" in result.stderr


def test_simulate_refuses_impossible_fault_rates():
    result = CliRunner().invoke(main, ["simulate", "--error-rate", "0.7", "--hang-rate", "0.6"])
    assert result.exit_code == 2 and "add up to at most 1" in result.output


def test_python_dash_m_shows_help():
    result = subprocess.run(
        [sys.executable, "-m", "workbench", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    )
    assert "simulate" in result.stdout and "generate" in result.stdout


def test_an_eps_face_is_refused_before_anything_is_sent(tmp_path, no_backend_env):
    eps = tmp_path / "face.eps"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 200 200\nshowpage\n")
    result = run(["generate", "--out", str(tmp_path / "out"), "--face", str(eps), "--prompt", "x"])
    assert result.exit_code == 1 and "not an image we accept" in result.stderr


def test_a_device_as_face_is_refused_unread(tmp_path, no_backend_env):
    result = run(["generate", "--out", str(tmp_path), "--face", "/dev/zero", "--prompt", "x"])
    assert result.exit_code == 1 and "not a regular file" in result.stderr


def test_images_paid_for_are_kept_when_out_cannot_be_written(tmp_path, face_file, no_backend_env):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    data = tmp_path / "data"
    args = ["--data", str(data), "generate", "--face", str(face_file), "--prompt", "studio"]
    args += ["--seed", "5", "--samples", "2", "--size", "1:1", "--out", str(blocker / "out")]
    result = run(args)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: cannot write to") and "Not a directory" in lines[-1]
    assert "the 2 image(s) paid for are kept in" in lines[-1]
    kept = sorted((data / "kept").glob("*/*.jpg"))
    assert [p.name for p in kept] == ["hopper-seed5-0.jpg", "hopper-seed5-1.jpg"]
    assert all(check_jpeg(p.read_bytes()) == (768, 768) for p in kept)
    assert str(kept[0].parent) in lines[-1]
    assert (kept[0].stat().st_mode & 0o777) == 0o600


def test_simulate_on_a_busy_port_or_a_foreign_host_is_one_line():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        taken = CliRunner().invoke(main, ["simulate", "--port", port])
    assert taken.exit_code == 1
    assert (
        taken.output.strip()
        .splitlines()[-1]
        .startswith(f"error: cannot listen on 127.0.0.1:{port}")
    )
    assert "Address already in use" in taken.output and "Traceback" not in taken.output
    foreign = CliRunner().invoke(main, ["simulate", "--host", "192.0.2.1", "--port", "0"])
    assert foreign.exit_code == 1 and "cannot listen on 192.0.2.1:0" in foreign.output
