"""The panel balance report: coverage per attribute and the gaps a user should fill."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from workbench.balance import RECOMMENDED_FACES, format_balance, panel_balance
from workbench.cli import main
from workbench.panel import Face


def face(n: int, **attributes: str) -> Face:
    attributes.setdefault("consent", "signed release")
    return Face(
        id=f"f{n}", source_name=f"{n}.jpg", hash=f"{n:064x}", width=512, height=512, **attributes
    )


def coverage(balance, attribute):
    return next(item for item in balance.coverage if item.attribute == attribute)


def varied_panel() -> list[Face]:
    tones = ["1", "3", "5", "6", "8", "10", "2", "9"]
    ages = ["18-29", "30-44", "45-59", "60-74", "75+", "18-29", "30-44", "45-59"]
    genders = [
        "feminine",
        "masculine",
        "androgynous",
        "feminine",
        "masculine",
        "feminine",
        "masculine",
        "feminine",
    ]
    return [
        face(
            n,
            monk_skin_tone=tones[n],
            age_band=ages[n],
            gender_presentation=genders[n],
            glasses="yes" if n % 2 else "no",
            facial_hair="yes" if n % 3 == 0 else "no",
        )
        for n in range(8)
    ]


def test_a_varied_panel_has_no_gaps():
    balance = panel_balance(varied_panel())
    assert balance.faces == RECOMMENDED_FACES and balance.balanced, balance.gaps
    tones = coverage(balance, "monk_skin_tone")
    assert tones.counts == {"lighter (1-3)": 3, "medium (4-7)": 2, "deeper (8-10)": 3}
    assert tones.unknown == 0 and tones.missing == ()


def test_gaps_name_what_is_missing_and_what_to_do():
    panel = [
        face(0, monk_skin_tone="2", age_band="30-44", gender_presentation="feminine", glasses="no"),
        face(
            1,
            monk_skin_tone="3",
            age_band="75+",
            gender_presentation="feminine",
            glasses="yes",
            consent="",
        ),
    ]
    gaps = panel_balance(panel).gaps
    assert gaps[0].startswith("only 2 face(s)")
    assert any("no consent or licence recorded for f1" in gap for gap in gaps)
    assert "no face with monk_skin_tone medium (4-7), deeper (8-10)" in gaps
    assert "no face with age_band 18-29, 45-59, 60-74" in gaps
    assert any(gap.startswith("facial_hair is not set for any face") for gap in gaps)


def test_one_dominant_value_is_flagged():
    panel = varied_panel()
    panel = [
        Face(**{**vars(f), "gender_presentation": "masculine" if i else "feminine"})
        for i, f in enumerate(panel)
    ]
    assert (
        "gender_presentation is 'masculine' for 7 of 8 faces where known"
        in panel_balance(panel).gaps
    )


def test_partly_unknown_and_hand_edited_values_are_reported_not_fatal():
    panel = varied_panel()
    panel[0] = Face(**{**vars(panel[0]), "monk_skin_tone": ""})
    panel[1] = Face(**{**vars(panel[1]), "monk_skin_tone": "pale"})
    balance = panel_balance(panel)
    tones = coverage(balance, "monk_skin_tone")
    assert tones.unknown == 1 and tones.counts["pale"] == 1
    assert "monk_skin_tone is unknown for 1 of 8 faces" in balance.gaps


def test_an_empty_panel_says_how_to_start():
    balance = panel_balance([])
    assert balance.gaps == ("the panel is empty: add faces with `workbench faces add PHOTO...`",)
    assert "panel: 0 face(s)" in format_balance(balance)


def test_cli_prints_the_demo_panels_coverage_and_gaps():
    repo_data = Path(__file__).resolve().parents[1] / "data"
    result = CliRunner().invoke(main, ["--data", str(repo_data), "faces", "balance"])
    assert result.exit_code == 0, result.output
    assert "panel: 11 face(s)" in result.output
    assert "age_band" in result.output and "30-44: 8" in result.output and "75+: 1" in result.output
    assert "no face with age_band 45-59" in result.output
