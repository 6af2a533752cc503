"""How varied the panel is: who it covers, attribute by attribute, and where the gaps are.

A style that holds across a panel of look-alikes proves little. This report says how far the
panel can be trusted and which kinds of people to add next. It is pure: faces in, report out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from workbench.panel import AGE_BANDS, Face

# Fewer faces than this and one unusual photo decides whether a style "holds".
RECOMMENDED_FACES = 8
# One value on more than this share of the faces where it is known makes the panel lopsided.
DOMINANT_SHARE = 0.75
DOMINANCE_MIN_KNOWN = 4

# The Monk scale in three groups, so that a small panel can still cover the range.
MONK_GROUPS = (
    ("lighter (1-3)", range(1, 4)),
    ("medium (4-7)", range(4, 8)),
    ("deeper (8-10)", range(8, 11)),
)
ADULT_AGE_BANDS = tuple(band for band in AGE_BANDS if band != "under-18")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Coverage:
    """Faces per value of one attribute; `expected` values are listed even with 0 faces."""

    attribute: str
    counts: dict[str, int]
    unknown: int
    expected: tuple[str, ...] = ()

    @property
    def known(self) -> int:
        return sum(self.counts.values())

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(value for value in self.expected if not self.counts.get(value))


@dataclass(frozen=True)
class PanelBalance:
    faces: int
    coverage: tuple[Coverage, ...]
    without_consent: tuple[str, ...]  # face ids with no consent or licence recorded
    gaps: tuple[str, ...]  # what to fix, in plain words, most important first

    @property
    def balanced(self) -> bool:
        return not self.gaps


def panel_balance(faces: Sequence[Face]) -> PanelBalance:
    coverage = (
        _coverage(faces, "monk_skin_tone", _monk_group, tuple(name for name, _ in MONK_GROUPS)),
        _coverage(faces, "age_band", lambda value: value, ADULT_AGE_BANDS),
        _coverage(faces, "gender_presentation", lambda value: value),
        _coverage(faces, "glasses", lambda value: value, ("yes", "no")),
        _coverage(faces, "facial_hair", lambda value: value, ("yes", "no")),
    )
    without_consent = tuple(face.id for face in faces if not face.consent.strip())
    return PanelBalance(
        faces=len(faces),
        coverage=coverage,
        without_consent=without_consent,
        gaps=tuple(_gaps(len(faces), coverage, without_consent)),
    )


def _monk_group(value: str) -> str:
    # A hand-edited manifest may hold anything; show it as it is rather than fail the report.
    tone = int(value) if value.isdigit() else 0
    return next((name for name, tones in MONK_GROUPS if tone in tones), value)


def _coverage(faces: Sequence[Face], attribute: str, group, expected=()) -> Coverage:
    values = [getattr(face, attribute).strip() for face in faces]
    counts = Counter(group(value) for value in values if value)
    ordered = {value: counts.get(value, 0) for value in expected}
    ordered.update(sorted((value, n) for value, n in counts.items() if value not in ordered))
    return Coverage(
        attribute=attribute,
        counts=ordered,
        unknown=sum(1 for value in values if not value),
        expected=tuple(expected),
    )


def _gaps(faces: int, coverage: Sequence[Coverage], without_consent: Sequence[str]):
    if faces == 0:
        yield "the panel is empty: add faces with `workbench faces add PHOTO...`"
        return
    if faces < RECOMMENDED_FACES:
        yield (
            f"only {faces} face(s): judge consistency on at least {RECOMMENDED_FACES} "
            "varied people before trusting a style"
        )
    if without_consent:
        yield (
            f"no consent or licence recorded for {', '.join(without_consent)}: "
            "`workbench faces set ID consent=...`"
        )
    for item in coverage:
        if item.unknown == faces:
            yield (
                f"{item.attribute} is not set for any face: "
                f"`workbench faces set ID {item.attribute}=...`"
            )
            continue
        if item.unknown:
            yield f"{item.attribute} is unknown for {item.unknown} of {faces} faces"
        if item.missing:
            yield f"no face with {item.attribute} {', '.join(item.missing)}"
        if item.known >= DOMINANCE_MIN_KNOWN:
            value, count = max(item.counts.items(), key=lambda pair: pair[1])
            if count / item.known > DOMINANT_SHARE:
                yield f"{item.attribute} is {value!r} for {count} of {item.known} faces where known"


def format_balance(balance: PanelBalance) -> str:
    """The report as text for the terminal (the app and notebooks use the dataclasses)."""
    width = max(len(item.attribute) for item in balance.coverage)
    lines = [f"panel: {balance.faces} face(s)"]
    for item in balance.coverage:
        cells = [f"{value}: {count}" for value, count in item.counts.items()]
        cells.append(f"{UNKNOWN}: {item.unknown}")
        lines.append(f"  {item.attribute:<{width}}  " + "  ".join(cells))
    if balance.gaps:
        lines.append("gaps:")
        lines += [f"  - {gap}" for gap in balance.gaps]
    else:
        lines.append("no gaps found in the recorded attributes")
    return "\n".join(lines)
