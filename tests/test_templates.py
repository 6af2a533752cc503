"""The template library: save with evidence, statuses, export for product teams, import with
conflicts, and every kind of bad import file refused with the library left untouched."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from datetime import UTC, datetime

import pytest
from hostile_files import crafted_template_files, many_templates_json

from workbench.catalogue import STATUS_OK, Catalogue, CatalogueRow
from workbench.erase import erase_face
from workbench.templates import (
    SCHEMA_VERSION,
    Template,
    TemplateError,
    TemplateFile,
    TemplateLibrary,
    TemplateScores,
    json_schema,
    template_from_catalogue,
    template_from_request_key,
)
from workbench.templates.library import MAX_FILE_BYTES, MAX_TEMPLATES, SCHEMA_DOC

PROMPT = "corporate portrait, navy suit"


def template(name: str = "navy-corporate", **fields) -> Template:
    values = {"name": name, "category": "corporate", "prompt": PROMPT, "seed": 42}
    return Template(**{**values, **fields})


def logged_rows(layout, *, faces=("ann", "bob"), seed=42, sweep_id="s1", key_prefix="k"):
    rows = [
        CatalogueRow(
            sweep_id=sweep_id,
            request_key=f"{key_prefix}-{face}",
            created_at=datetime.now(UTC),
            backend="simulator",
            prompt=PROMPT,
            seed=seed,
            seed_used=seed,
            sample_number=1,
            sample_index=0,
            identity_scale=0.8,
            width=768,
            height=1024,
            face_id=face,
            face_hash=face[0] * 64,
            status=STATUS_OK,
            image_hash=hashlib.sha256(f"{face}-{key_prefix}".encode()).hexdigest(),
            image_path="images/x.jpg",
            attempts=1,
            latency_ms=1.0,
        )
        for face in faces
    ]
    Catalogue(layout.catalogue).append(rows)


def write_json(path, document) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def library_bytes(layout) -> bytes | None:
    return layout.templates.read_bytes() if layout.templates.exists() else None


# --- Saving and statuses -------------------------------------------------------------------


def test_save_records_the_evidence_from_the_catalogue(layout):
    logged_rows(layout, key_prefix="old")
    logged_rows(layout, faces=("ann",), key_prefix="new", sweep_id="s2")
    saved = template_from_catalogue(layout, name="navy", prompt=PROMPT, seed=42, saved_by="kim")
    TemplateLibrary(layout).save(saved)
    got = TemplateLibrary(layout).get("navy")
    assert got.status == "candidate" and got.seed == 42 and (got.width, got.height) == (768, 1024)
    # The newest request per face is the evidence: ann's re-run, bob's only run.
    assert got.provenance.request_keys == ["old-bob", "new-ann"]
    assert len(got.provenance.image_hashes) == 2
    assert got.provenance.saved_by == "kim" and got.provenance.backend == "simulator"
    on_disk = json.loads(layout.templates.read_text())
    assert on_disk["schema_version"] == SCHEMA_VERSION
    assert on_disk["templates"][0]["identityScale"] == 0.8  # the API's own field names
    assert "outputImageWidth" in on_disk["templates"][0]


def test_save_from_a_request_key(layout):
    logged_rows(layout)
    saved = template_from_request_key(layout, "k-ann", name="from-key")
    assert (saved.prompt, saved.seed) == (PROMPT, 42)
    assert "request key k-ann" in saved.provenance.source
    with pytest.raises(TemplateError, match="not in the catalogue"):
        template_from_request_key(layout, "nope", name="x")


def test_names_are_unique_slugs(layout):
    library = TemplateLibrary(layout)
    library.save(template())
    with pytest.raises(TemplateError, match="exists"):
        library.save(template(seed=7))
    library.save(template(seed=7), replace=True)
    assert library.get("navy-corporate").seed == 7
    with pytest.raises(ValueError, match="name"):
        template(name="Not A Slug")


def test_status_moves_forward_and_retired_can_only_come_back_as_candidate(layout):
    library = TemplateLibrary(layout)
    library.save(template())
    assert library.set_status("navy-corporate", "approved").status == "approved"
    assert library.retire("navy-corporate").status == "retired"
    with pytest.raises(TemplateError, match="retired; it can become candidate"):
        library.set_status("navy-corporate", "approved")
    with pytest.raises(TemplateError, match="status: 'bogus'"):
        library.set_status("navy-corporate", "bogus")
    with pytest.raises(TemplateError, match="cannot set seed"):
        library.set_fields("navy-corporate", seed="9")
    assert library.set_fields("navy-corporate", notes="for LinkedIn").notes == "for LinkedIn"
    assert [t.name for t in library.list(status="retired")] == ["navy-corporate"]
    with pytest.raises(TemplateError, match="no template named 'ghost'"):
        library.get("ghost")


def test_seed_must_be_fixed():
    for seed in (-1, 0):
        with pytest.raises(ValueError, match="seed"):
            template(seed=seed)


# --- Export --------------------------------------------------------------------------------


def test_export_ships_only_api_fields_and_scores(layout, tmp_path):
    logged_rows(layout)
    library = TemplateLibrary(layout)
    scores = TemplateScores(consistency=0.91, worst_face="ann", worst_face_consistency=0.8)
    library.save(
        template_from_catalogue(
            layout, name="navy", prompt=PROMPT, seed=42, scores=scores, saved_by="kim"
        )
    )
    library.set_status("navy", "approved")
    library.save(template(name="draft"))
    library.save(template_from_request_key(layout, "k-bob", name="from-key"))
    library.set_status("from-key", "approved")
    out = tmp_path / "ship.json"
    exported = library.export(out, status="approved")
    assert [t.name for t in exported] == ["navy", "from-key"]
    text = out.read_text()
    document = json.loads(text)
    item = document["templates"][0]
    assert {"prompt", "seed", "identityScale", "outputImageWidth", "outputImageHeight"} <= set(item)
    assert item["scores"]["consistency"] == 0.91 and "worst_face" not in item["scores"]
    for secret in ("ann", "bob", "k-ann", "k-bob", "images/", "kim", "a" * 64, "apiKey"):
        assert secret not in text, secret
    # An export is itself a valid template file: another workbench imports it.
    other = TemplateLibrary(type(layout)(tmp_path / "other"))
    assert other.import_(out).added == ["navy", "from-key"]


# --- Import --------------------------------------------------------------------------------


def test_import_reports_conflicts_and_never_overwrites_silently(layout, tmp_path):
    library = TemplateLibrary(layout)
    library.save(template(notes="ours"))
    incoming = {
        "schema_version": 1,
        "templates": [
            {"name": "navy-corporate", "prompt": PROMPT, "seed": 9, "notes": "theirs"},
            {"name": "fresh", "prompt": "studio", "seed": 3},
        ],
    }
    path = write_json(tmp_path / "in.json", incoming)
    before = library_bytes(layout)
    with pytest.raises(TemplateError, match="already in the library: navy-corporate; nothing"):
        library.import_(path)
    assert library_bytes(layout) == before

    skipped = library.import_(path, on_conflict="skip")
    assert skipped.added == ["fresh"] and skipped.skipped == ["navy-corporate"]
    assert library.get("navy-corporate").notes == "ours"

    renamed = library.import_(path, on_conflict="rename")
    assert renamed.renamed == {"navy-corporate": "navy-corporate-2", "fresh": "fresh-2"}
    assert library.get("navy-corporate-2").notes == "theirs"
    assert "imported from in.json" in library.get("fresh").provenance.source

    replaced = library.import_(path, on_conflict="replace")
    assert set(replaced.replaced) == {"navy-corporate", "fresh"}
    assert library.get("navy-corporate").notes == "theirs"


GOOD = {"name": "ok", "prompt": "studio", "seed": 5}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"schema_version": 1, "templates": [{"name": "x", "seed": 5}]},
            r"templates\[0\].prompt .*missing",
        ),
        (
            {"schema_version": 1, "templates": [{**GOOD, "seed": -1}]},
            r"templates\[0\].seed .*greater than or equal to 1",
        ),
        ({"schema_version": 1, "templates": [{**GOOD, "seed": 0}]}, r"templates\[0\].seed"),
        (
            {"schema_version": 1, "templates": [{**GOOD, "outputImageWidth": 4096}]},
            r"templates\[0\].outputImageWidth .*less than or equal to 2024",
        ),
        (
            {"schema_version": 1, "templates": [{**GOOD, "outputImageHeight": 100}]},
            r"templates\[0\].outputImageHeight",
        ),
        (
            {"schema_version": 1, "templates": [GOOD, GOOD]},
            r"name 'ok' appears twice \(items 0 and 1\)",
        ),
        ({"schema_version": 99, "templates": [GOOD]}, r"schema_version 99 is newer .* \(1\)"),
        ({"templates": [GOOD]}, r"schema_version: missing"),
        (
            {"schema_version": 1, "templates": [{**GOOD, "apiKey": "k"}]},
            r"apiKey \(template .ok.\): unknown field",
        ),
        ([GOOD], r"expected a JSON object"),
    ],
)
def test_bad_import_files_name_the_field_and_change_nothing(layout, tmp_path, document, message):
    library = TemplateLibrary(layout)
    library.save(template())
    before = library_bytes(layout)
    path = write_json(tmp_path / "bad.json", document)
    with pytest.raises(TemplateError, match=message):
        library.import_(path, on_conflict="replace")
    assert library_bytes(layout) == before


def test_non_json_and_huge_files_are_refused_before_parsing(layout, tmp_path):
    library = TemplateLibrary(layout)
    library.save(template())
    before = library_bytes(layout)
    garbage = tmp_path / "notes.json"
    garbage.write_text("name: navy\nseed: 42\n")
    with pytest.raises(TemplateError, match=r"notes.json: not JSON \(.* line 1, column 1\)"):
        library.import_(garbage)
    binary = tmp_path / "photo.json"
    binary.write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    with pytest.raises(TemplateError, match="not JSON"):
        library.import_(binary)
    huge = tmp_path / "huge.json"
    with huge.open("wb") as handle:  # 50 MB, sparse: nothing is read to refuse it
        handle.truncate(50 * 2**20)
    with pytest.raises(TemplateError, match=r"50.0 MB is too big .*limit 10 MB"):
        library.import_(huge)
    assert MAX_FILE_BYTES < 50 * 2**20
    with pytest.raises(TemplateError, match="no such file"):
        library.import_(tmp_path / "missing.json")
    assert library_bytes(layout) == before


def test_a_damaged_library_file_is_reported_not_overwritten(layout):
    layout.templates.parent.mkdir(parents=True, exist_ok=True)
    layout.templates.write_text("{broken")
    library = TemplateLibrary(layout)
    with pytest.raises(TemplateError, match="templates.json: not JSON"):
        library.save(template())
    assert layout.templates.read_text() == "{broken"


def test_the_json_schema_in_docs_matches_the_model():
    written = json.loads(SCHEMA_DOC.read_text())
    assert written == json_schema(), (
        "docs/templates.schema.json is stale: regenerate it with "
        "`python -c 'from workbench.templates import write_schema; write_schema()'`"
    )
    properties = written["$defs"]["Template"]["properties"]
    assert properties["seed"]["minimum"] == 1
    assert {"identityScale", "outputImageWidth", "outputImageHeight"} <= set(properties)


def test_erasing_a_person_drops_them_from_template_evidence(layout):
    logged_rows(layout)
    scores = TemplateScores(consistency=0.9, worst_face="ann", worst_face_consistency=0.7)
    library = TemplateLibrary(layout)
    library.save(
        template_from_catalogue(layout, name="navy", prompt=PROMPT, seed=42, scores=scores)
    )
    library.save(template(name="unrelated"))
    report = erase_face(layout, "ann")
    assert report.templates == 1 and "1 template(s) rewritten" in report.summary()
    navy = library.get("navy")
    assert navy.provenance.request_keys == ["k-bob"]
    assert len(navy.provenance.image_hashes) == 1 and navy.scores.worst_face is None
    assert navy.scores.consistency == 0.9
    text = layout.templates.read_text()
    assert "ann" not in text and "a" * 64 not in text


# --- Hostile files (issue 21) --------------------------------------------------------------


def test_a_file_of_100000_templates_is_refused_without_parsing_it_whole_or_writing(
    layout, tmp_path
):
    library = TemplateLibrary(layout)
    library.save(template())
    before = library_bytes(layout)
    flood = tmp_path / "flood.json"
    flood.write_bytes(many_templates_json(100_000))
    assert 3 * 2**20 < flood.stat().st_size < 5 * 2**20  # the 4 MB file
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError, match=f"flood.json: .*{MAX_TEMPLATES} templates"):
            library.import_(flood, on_conflict="rename")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The file is read (4 MB) and parsed only up to the cap: nowhere near the ~1.2 GB it took.
    assert peak < 48 * 2**20, f"{peak / 2**20:.0f} MB"
    assert library_bytes(layout) == before
    assert [t.name for t in library.list()] == ["navy-corporate"]


def _write_library(layout, templates: list[Template]) -> None:
    document = TemplateFile(templates=templates).model_dump(mode="json", by_alias=True)
    layout.templates.parent.mkdir(parents=True, exist_ok=True)
    layout.templates.write_text(json.dumps(document))


def test_an_import_that_would_take_the_library_past_its_caps_changes_nothing(layout, tmp_path):
    library = TemplateLibrary(layout)
    _write_library(layout, [template(f"t{i}") for i in range(MAX_TEMPLATES - 1)])
    before = library_bytes(layout)
    two = {"schema_version": 1, "templates": [{**GOOD, "name": "new-1"}, {**GOOD, "name": "new-2"}]}
    with pytest.raises(TemplateError, match=f"would hold {MAX_TEMPLATES + 1} templates"):
        library.import_(write_json(tmp_path / "two.json", two))
    assert library_bytes(layout) == before
    assert len(library.list()) == MAX_TEMPLATES - 1  # still readable by everyone

    # Size: each file alone is within the limit, the library after the import would not be.
    saved_at = datetime.now(UTC).isoformat()
    bulky = [
        template(f"b{i}", provenance={"saved_at": saved_at, "source": "s" * 3 * 2**20})
        for i in range(2)
    ]
    _write_library(layout, bulky)
    before = library_bytes(layout)
    big = {
        "schema_version": 1,
        "templates": [
            {**GOOD, "provenance": {"saved_at": saved_at, "source": "t" * (9 * 2**20 // 2)}}
        ],
    }
    with pytest.raises(TemplateError, match=r"templates.json: would be 10\.\d MB, more than"):
        library.import_(write_json(tmp_path / "big.json", big))
    assert library_bytes(layout) == before


@pytest.mark.parametrize("name", sorted(crafted_template_files()))
def test_a_crafted_template_file_is_refused_in_one_short_line(layout, tmp_path, name):
    library = TemplateLibrary(layout)
    library.save(template())
    before = library_bytes(layout)
    path = tmp_path / name
    path.write_bytes(crafted_template_files()[name])
    with pytest.raises(TemplateError) as caught:
        library.import_(path, on_conflict="replace")
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert len(message) < len(str(path)) + 200, message  # nothing from the file echoed whole
    assert library_bytes(layout) == before
