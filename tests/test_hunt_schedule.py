"""The hunt's pure decisions: the spec, the schedule that fits a budget, face order, promotion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.errors import InputError
from workbench.hunt import (
    BudgetTooSmall,
    HuntSpec,
    face_levels,
    face_order,
    minimum_budget,
    plan_schedule,
    promote,
    rank,
    safe_promotions,
)
from workbench.panel import Face

# --- Spec ------------------------------------------------------------------------------------


def test_spec_reads_the_sweep_syntax_and_the_hunt_fields():
    spec = HuntSpec.from_toml(
        'prompts = ["studio", "office"]\nseeds = "1-10 (+3), 99"\nsizes = ["1:1", "3:4"]\n'
        'top = 3\nmetric = "consistency"\nmin_identity = 0.5\n',
        source="hunt.toml",
    )
    assert spec.seed_values() == [1, 4, 7, 10, 99]
    assert spec.pool_size() == 2 * 5 * 2 == len(spec.candidates())
    assert list(spec.candidates().iloc[0]) == ["studio", 1, 0.8, 768, 768]
    assert (spec.top, spec.metric, spec.min_identity) == (3, "consistency", 0.5)


def test_random_seeds_repeat_when_the_same_hunt_file_is_loaded_again():
    text = 'prompts = ["studio"]\nseeds = "random:20"\n'
    first, again = HuntSpec.from_toml(text), HuntSpec.from_toml(text)
    assert first.seed_values() == again.seed_values()
    other = HuntSpec.from_toml('prompts = ["office"]\nseeds = "random:20"\n')
    assert other.seed_values() != first.seed_values()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("seeds = [-1]", "seeds (line 2): -1 asks for a new random style"),
        ('metric = "best"', "metric (line 3): 'best' is not a metric; use one of worst"),
        ("max_cost = 5.0", "max_cost (line 3): needs price_per_image > 0"),
        ("top = 0", "top (line 3)"),
        ("first_faces = 1", "first_faces (line 3)"),
        ("rounds = 3", "rounds (line 3): unknown field; known fields: name,"),
    ],
)
def test_a_bad_hunt_file_is_one_line_naming_field_and_line(text, message):
    body = 'prompts = ["studio"]\n' + (
        text + "\n" if text.startswith("seeds") else 'seeds = "1-3"\n' + text + "\n"
    )
    with pytest.raises(InputError) as caught:
        HuntSpec.from_toml(body, source="hunt.toml")
    assert str(caught.value).startswith("hunt.toml: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_budget_comes_from_the_cli_then_the_file_then_money_then_the_default_fraction():
    base = {"prompts": ["studio"], "seeds": "1-40"}
    assert HuntSpec.build(**base).budget_images(10) == 100  # 25% of 40 x 10
    assert HuntSpec.build(**base, budget_fraction=0.5).budget_images(10) == 200
    assert HuntSpec.build(**base, max_images=300).budget_images(10) == 300
    assert HuntSpec.build(**base, max_images=300).budget_images(10, max_images=120) == 120
    priced = HuntSpec.build(**base, max_images=300, max_cost=2.0, price_per_image=0.02)
    assert priced.budget_images(10) == 100  # 2.00 / 0.02: the lower limit wins
    # The default never refuses a hunt; a budget the user gave may.
    assert HuntSpec.build(**base).budget_images(10, least=130) == 130
    assert HuntSpec.build(**base, max_images=50).budget_images(10, least=130) == 50


def test_the_example_hunt_file_fits_a_quarter_of_the_exhaustive_sweep():
    spec = HuntSpec.load(Path(__file__).resolve().parents[1] / "data/sweeps/hunt.toml")
    assert spec.pool_size() == 4 * 48
    for panel in (11, 12, 14):
        budget = spec.budget_images(panel)
        schedule = plan_schedule(spec.pool_size(), panel, budget, top=spec.top)
        assert schedule.fraction <= 0.25
        assert schedule.rounds[-1].faces == panel


# --- Schedule --------------------------------------------------------------------------------


def test_face_levels_start_on_two_faces_double_and_end_on_the_whole_panel():
    assert face_levels(12) == [2, 4, 8, 12]
    assert face_levels(8) == [2, 4, 8]
    assert face_levels(2) == [2]
    assert face_levels(3) == [2, 3]
    assert face_levels(12, first_faces=3) == [3, 6, 12]


def test_schedule_fits_the_budget_and_keeps_at_least_top_to_the_end():
    schedule = plan_schedule(192, 12, 576, top=5)
    assert schedule.images <= 576
    assert [r.faces for r in schedule.rounds] == [2, 4, 8, 12]
    counts = [r.candidates for r in schedule.rounds]
    assert counts[0] == 192 and counts[-1] >= 5
    assert counts == sorted(counts, reverse=True)
    # Round cost = survivors x faces new to them; the first round pays 2/12 of exhaustive.
    assert schedule.rounds[0].images == 192 * 2
    assert schedule.exhaustive_images == 192 * 12
    assert schedule.fraction <= 0.25


def test_a_larger_budget_keeps_more_candidates_in_every_round():
    tight = plan_schedule(192, 12, 500, top=5)
    loose = plan_schedule(192, 12, 900, top=5)
    tight_counts = [r.candidates for r in tight.rounds]
    loose_counts = [r.candidates for r in loose.rounds]
    assert all(a <= b for a, b in zip(tight_counts, loose_counts, strict=True))
    assert sum(loose_counts) > sum(tight_counts)


def test_the_last_round_keeps_up_to_twice_top_when_the_budget_allows():
    assert plan_schedule(192, 12, 576, top=5).rounds[-1].candidates == 10
    # At the bare minimum there is room for the top only.
    tight = plan_schedule(192, 12, minimum_budget(192, 12, top=5), top=5)
    assert [r.candidates for r in tight.rounds] == [192, 5, 5, 5]


def test_sample_number_multiplies_every_round():
    one = plan_schedule(100, 8, 10_000, top=5, sample_number=1)
    two = plan_schedule(100, 8, 10_000, top=5, sample_number=2)
    assert two.exhaustive_images == 2 * one.exhaustive_images


def test_a_budget_too_small_for_one_round_is_refused_naming_the_least_it_needs():
    needed = minimum_budget(192, 12, top=5)
    assert needed == 192 * 2 + 5 * 10
    plan_schedule(192, 12, needed, top=5)  # exactly enough is fine
    with pytest.raises(BudgetTooSmall) as caught:
        plan_schedule(192, 12, needed - 1, top=5)
    message = str(caught.value)
    assert message.startswith("budget: 433 images cannot pay for one round")
    assert f"raise max_images to {needed}" in message


def test_a_budget_that_covers_everything_is_the_exhaustive_sweep():
    schedule = plan_schedule(20, 6, 10_000, top=5)
    assert [(r.candidates, r.faces) for r in schedule.rounds] == [(20, 6)]
    assert schedule.fraction == 1.0


def test_one_candidate_runs_once_on_the_whole_panel():
    schedule = plan_schedule(1, 12, 12, top=5)
    assert [(r.candidates, r.faces, r.images) for r in schedule.rounds] == [(1, 12, 12)]
    assert schedule.top == 1


def test_a_panel_of_one_face_is_refused_because_consistency_needs_two():
    with pytest.raises(InputError, match="needs at least 2 faces; the panel has 1"):
        plan_schedule(10, 1, 1000)


# --- Face order ------------------------------------------------------------------------------


def _face(face_id: str, **attributes: str) -> Face:
    return Face(face_id, f"{face_id}.jpg", face_id * 4, 512, 512, **attributes)


def test_face_order_puts_the_two_most_different_faces_first_then_the_farthest():
    faces = [_face(name) for name in ("a", "b", "c", "d")]
    descriptors = {
        "a": np.array([0.0, 0.0]),
        "b": np.array([0.1, 0.0]),  # a look-alike of a
        "c": np.array([1.0, 0.0]),
        "d": np.array([0.5, 0.9]),
    }
    order = [face.id for face in face_order(faces, descriptors)]
    # a-d and c-d tie as the most different pair (the lower ids win); then c, far from both;
    # b, a look-alike of a, comes last.
    assert order == ["a", "d", "c", "b"]


def test_face_order_spreads_panel_groups_when_descriptors_are_unknown():
    faces = [
        _face("a1", monk_skin_tone="2", age_band="30-44"),
        _face("a2", monk_skin_tone="3", age_band="30-44"),  # same groups as a1
        _face("b1", monk_skin_tone="9", age_band="75+"),
        _face("c1", monk_skin_tone="5", age_band="18-29", glasses="yes"),
    ]
    order = [face.id for face in face_order(faces)]
    assert set(order[:3]) == {"a1", "b1", "c1"}
    assert order[-1] == "a2"


def test_face_order_is_deterministic_and_keeps_every_face():
    faces = [_face(f"f{i}") for i in range(6)]
    descriptors = {f"f{i}": np.random.default_rng(i).normal(size=128) for i in range(6)}
    first = face_order(faces, descriptors)
    assert first == face_order(list(reversed(faces)), descriptors)
    assert sorted(face.id for face in first) == [face.id for face in faces]


# --- Promotion -------------------------------------------------------------------------------


def _scores(rows: list[tuple[int, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "prompt": "studio",
                "seed": seed,
                "identity_scale": 0.8,
                "width": 768,
                "height": 1024,
                "consistency": consistency,
                "worst_face_consistency": worst,
                "identity": identity,
            }
            for seed, consistency, worst, identity in rows
        ]
    )


def test_promotion_keeps_the_best_by_the_worst_face_by_default():
    scores = _scores([(1, 0.9, 0.5, 0.8), (2, 0.8, 0.7, 0.8), (3, 0.7, 0.6, 0.8)])
    assert list(promote(rank(scores), 2)["seed"]) == [2, 3]
    assert list(promote(rank(scores, metric="consistency"), 2)["seed"]) == [1, 2]


def test_promotion_drops_low_identity_and_unscored_candidates_with_a_reason():
    scores = _scores([(1, 0.9, 0.9, 0.3), (2, 0.8, 0.8, 0.8), (3, float("nan"), float("nan"), 0.8)])
    ranking = rank(scores, min_identity=0.5)
    assert list(ranking.ranked["seed"]) == [2]
    reasons = dict(zip(ranking.dropped["seed"], ranking.dropped["reason"], strict=True))
    assert reasons == {1: "identity 0.30 < 0.50", 3: "no score: too few images on these faces"}
    # Without the option identity does not matter.
    assert list(rank(scores).ranked["seed"]) == [1, 2]


def test_ties_are_broken_the_same_way_every_time():
    scores = _scores([(5, 0.8, 0.7, 0.8), (3, 0.9, 0.7, 0.8), (4, 0.8, 0.7, 0.8)])
    assert list(rank(scores).ranked["seed"]) == [3, 4, 5]
    assert list(rank(scores.iloc[::-1]).ranked["seed"]) == [3, 4, 5]


# --- Asynchronous promotion ------------------------------------------------------------------


def test_nobody_is_promoted_while_the_undecided_could_still_fill_the_cut():
    # Quota 3 and 3 candidates still without evidence: any of them could beat every one in.
    assert safe_promotions(["a", "b", "c"], set(), undecided=3, quota=3) == []
    assert safe_promotions(["a", "b", "c"], set(), undecided=5, quota=3) == []


def test_a_candidate_is_promoted_once_the_undecided_cannot_push_it_out():
    # Quota 3, one undecided: the best two are in the cut whatever it scores; the third is not.
    assert safe_promotions(["a", "b", "c"], set(), undecided=1, quota=3) == ["a", "b"]
    # Later evidence: "b" already promoted is not promoted again, "x" now ranks first.
    assert safe_promotions(["x", "a", "b"], {"a", "b"}, undecided=1, quota=3) == ["x"]


def test_the_cut_never_exceeds_the_quota():
    # A promoted candidate that slipped below the cut still counts against the quota.
    assert safe_promotions(["x", "y", "a"], {"a", "b"}, undecided=0, quota=3) == ["x"]
    assert safe_promotions(["x", "y"], {"a", "b", "c"}, undecided=0, quota=3) == []


def test_when_the_round_is_over_the_best_fill_the_rest_of_the_quota():
    # undecided == 0 is the synchronous cut: the best not yet promoted, up to the quota.
    assert safe_promotions(["a", "b", "c", "d"], {"b"}, undecided=0, quota=3) == ["a", "c"]
    # Fewer candidates than the quota (the rest dropped): every one goes through.
    assert safe_promotions(["a"], set(), undecided=0, quota=3) == ["a"]


def test_safe_promotions_equal_the_synchronous_cut_whatever_the_arrival_order():
    rng = np.random.default_rng(7)
    scores = {f"c{i}": float(s) for i, s in enumerate(rng.random(30))}
    quota = 8
    best = set(sorted(scores, key=scores.get, reverse=True)[:quota])
    for _ in range(20):
        arrival = list(rng.permutation(list(scores)))
        promoted: list[str] = []
        for count in range(1, len(arrival) + 1):
            done = arrival[:count]
            ranked = sorted(done, key=scores.get, reverse=True)
            undecided = len(arrival) - count
            promoted += safe_promotions(ranked, set(promoted), undecided=undecided, quota=quota)
        assert set(promoted) == best
        assert len(promoted) == quota
