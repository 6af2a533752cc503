"""`workbench templates …` as a user types it: one-line errors, the library changed only by
commands that succeed."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hostile_files import crafted_template_files, many_templates_json

from workbench.cli import main


def run(layout, *args: str):
    return CliRunner().invoke(main, ["--data", str(layout.root), "templates", *args])


def test_save_list_set_show_retire_export_import(layout, tmp_path):
    saved = run(layout, "save", "navy", "--prompt", "navy suit", "--seed", "42", "--by", "kim")
    assert saved.exit_code == 0, saved.output
    assert (
        "saved navy (candidate): 0 request(s), 0 image(s) as evidence; no stored runs"
        in saved.output
    )
    assert "navy" in run(layout, "list").output
    assert run(layout, "set", "navy", "status=approved", "category=Corporate").exit_code == 0
    shown = json.loads(run(layout, "show", "navy").output)
    assert shown["status"] == "approved" and shown["category"] == "corporate"
    assert shown["provenance"]["saved_by"] == "kim"
    assert json.loads(run(layout, "list", "--json", "--status", "approved").output)[0]["seed"] == 42

    out = tmp_path / "ship.json"
    assert (
        "exported 1 template(s)" in run(layout, "export", str(out), "--status", "approved").output
    )
    conflict = run(layout, "import", str(out))
    assert conflict.exit_code == 1
    assert "already in the library: navy; nothing imported" in conflict.output
    renamed = run(layout, "import", str(out), "--on-conflict", "rename")
    assert "renamed  navy -> navy-2" in renamed.output
    assert run(layout, "retire", "navy").output.strip() == "navy: retired"


def test_errors_are_one_line_and_leave_the_library_alone(layout, tmp_path):
    assert run(layout, "save", "navy", "--prompt", "navy suit", "--seed", "42").exit_code == 0
    before = layout.templates.read_bytes()
    cases = [
        (("save", "Bad Name", "--prompt", "p", "--seed", "1"), "name"),
        (("save", "neg", "--prompt", "p", "--seed", "-1"), "seed"),
        (("save", "big", "--prompt", "p", "--seed", "1", "--size", "4000x512"), "size"),
        (("save", "navy", "--prompt", "p", "--seed", "1"), "exists"),
        (("save", "x"), "--prompt and --seed"),
        (("set", "navy", "seed=3"), "cannot set seed"),
        (("show", "ghost"), "no template named 'ghost'"),
    ]
    for args, words in cases:
        result = run(layout, *args)
        assert result.exit_code != 0, args
        assert words in result.output, (args, result.output)
        assert "Traceback" not in result.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "templates": [{"name": "x", "prompt": "p", "seed": 0}]}')
    result = run(layout, "import", str(bad))
    assert result.exit_code == 1 and "templates[0].seed" in result.output
    assert result.output.count("\n") == 1
    assert layout.templates.read_bytes() == before


@pytest.mark.parametrize("name", [*sorted(crafted_template_files()), "flood.json"])
def test_a_crafted_file_gets_one_line_naming_it_never_a_traceback(layout, tmp_path, name):
    assert run(layout, "save", "navy", "--prompt", "navy suit", "--seed", "42").exit_code == 0
    before = layout.templates.read_bytes()
    path = tmp_path / name
    files = crafted_template_files()
    path.write_bytes(files[name] if name in files else many_templates_json(100_000))
    result = run(layout, "import", str(path), "--on-conflict", "rename")
    assert result.exit_code == 1, result.output
    # A clean exit with one line, not an exception escaping the command.
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    assert result.output.count("\n") == 1 and name in result.output
    assert len(result.output) < len(str(path)) + 220, result.output
    assert layout.templates.read_bytes() == before
