"""The chance helper against hand-computed values and a simulation of independent masks; the verdict rules
at their boundaries."""

import math

import pytest
import torch

from modularity import chance, judged, verdicts
from modularity.mask_algebra import Mask


def test_expected_overlap_by_hand():
    # one tensor of 100 weights, A keeps 50, B keeps 20: E|A∧B| = 10, E|A∨B| = 60
    out = chance.expected_overlap({"w": 50}, {"w": 20}, {"w": 100})
    assert out["iou"] == pytest.approx(10 / 60)
    assert out["iomin"] == pytest.approx(10 / 20)
    assert out["shared_frac"] == pytest.approx(10 / 50) and out["shared_frac_reverse"] == pytest.approx(10 / 20)
    # two tensors: sums of expectations, not a mean of per-tensor values
    out = chance.expected_overlap({"a": 10, "b": 0}, {"a": 10, "b": 40}, {"a": 10, "b": 100})
    assert out["iou"] == pytest.approx(10 / (10 + 40))
    assert out["shared_frac"] == pytest.approx(1.0)


def test_expected_overlap_matches_independent_masks():
    generator = torch.Generator().manual_seed(0)
    sizes = {"w1": (200, 50), "w2": (30, 40)}
    density_a, density_b = {"w1": 0.3, "w2": 0.8}, {"w1": 0.6, "w2": 0.1}
    observed = {"iou": [], "iomin": [], "shared_frac": []}
    for _ in range(200):
        a = Mask({n: torch.rand(s, generator=generator) < density_a[n] for n, s in sizes.items()})
        b = Mask({n: torch.rand(s, generator=generator) < density_b[n] for n, s in sizes.items()})
        out = chance.overlap_with_chance(a, b)
        for key in observed:
            observed[key].append(out[key] - out[f"{key}_chance"])
    for key, gaps in observed.items():
        assert abs(sum(gaps) / len(gaps)) < 0.01, key  # independent masks sit at their chance level


def test_excess_boundaries():
    assert chance.excess(0.5, 0.5) == 0
    assert chance.excess(1.0, 0.2) == 1
    assert chance.excess(0.1, 0.2) < 0
    assert math.isnan(chance.excess(1.0, 1.0))
    with pytest.raises(ValueError, match="'w'"):
        chance.expected_overlap({"w": 11}, {"w": 1}, {"w": 10})


@pytest.mark.parametrize("accuracy, reference, level", [
    (0.99, 0.99, "kept"), (0.8, 1.0, "kept"), (0.7999, 1.0, "partly kept"),
    (0.536, 0.99, "partly kept"),  # the double-addition FNN's other pair: not "lost"
    (0.2001, 1.0, "partly kept"), (0.2, 1.0, "lost"), (0.01, 0.99, "lost"), (0.0, 0.5, "lost"),
])
def test_retention_levels(accuracy, reference, level):
    assert verdicts.retention_level(accuracy, reference) == level


def test_retention_is_measured_above_chance():
    assert verdicts.retention(0.1, 1.0, chance=0.1) == 0
    assert verdicts.retention_level(0.55, 1.0, chance=0.1) == "partly kept"
    assert verdicts.retention_level(0.3, 0.1, chance=0.1) == "undefined"


@pytest.mark.parametrize("excess, level", [
    (1.0, "strong"), (0.5, "strong"), (0.4999, "partial"), (0.1, "partial"), (0.0999, "about chance"),
    (-0.3, "about chance"), (float("nan"), "undefined"),
])
def test_overlap_levels(excess, level):
    assert verdicts.overlap_level(excess) == level


def test_published_double_addition_iou_is_partial_not_weak():
    # hidden-layer IoU 0.34 against a chance level of 0.06: about a third of the way to full reuse
    assert verdicts.overlap_level(chance.excess(0.34, 0.06)) == "partial"
    assert verdicts.overlap_level(chance.excess(0.87, 0.14)) == "strong"


@pytest.mark.parametrize("parts, status", [
    ([True, True], "reproduced"), ([True, False], "partly reproduced"), ([False, False], "not reproduced"),
    ([True, None], "not measurable"), ([], "not measurable"),
    ([verdicts.PARTLY, verdicts.PARTLY], "partly reproduced"), ([True, verdicts.PARTLY], "partly reproduced"),
    ([1, 1], "reproduced"), ([0, False], "not reproduced"),
])
def test_claim_status(parts, status):
    assert verdicts.claim_status(parts) == status


def test_reference_near_chance_cannot_be_judged():
    assert verdicts.retention_level(0.011, 0.011, chance=0.01) == "undefined"
    assert verdicts.matches(["kept", "undefined"], ["kept", "lost"]) is None
    assert verdicts.matches(["lost", "kept"], ["lost", "kept"]) is True
    assert verdicts.matches(["lost", "partly kept"], ["lost", "kept"]) == verdicts.PARTLY
    assert verdicts.matches(["kept", "kept"], ["lost", "kept"]) is False
    assert verdicts.independence("about chance") is True and verdicts.independence("strong") is False
    assert verdicts.independence("partial") == verdicts.PARTLY and verdicts.independence("undefined") is None


@pytest.mark.parametrize("excess, status", [(0.5, "reproduced"), (0.3, "partly reproduced"), (0.05, "not reproduced"),
                                            (float("nan"), "not measurable")])
def test_claim_status_from_overlap(excess, status):
    assert verdicts.claim_status_from_overlap(verdicts.overlap_level(excess)) == status


def test_above_chance_against_a_hand_computed_binomial_tail():
    # P(X >= 3 | n = 10, p = 0.05) = 1 - P(X <= 2) = 0.0115: above chance; P(X >= 2) = 0.0861: not
    assert verdicts.above_chance(3, 10, 0.05) is True
    assert verdicts.above_chance(2, 10, 0.05) is False
    assert verdicts.above_chance(0, 0, 0.05) is None


@pytest.mark.parametrize("level, holds", [("lost", True), ("partly kept", verdicts.PARTLY), ("kept", False),
                                          ("undefined", None)])
def test_loss_as_predicted(level, holds):
    assert verdicts.loss_as_predicted(level) == holds


@pytest.mark.parametrize("z, below, authors_z, authors_below, expected", [
    (-2.0, 0.5, -9.7, 1.0, "agrees"),  # a share of one half counts as most networks
    (-2.0, 0.49, -9.7, 1.0, "partly"),
    (0.1, 0.0, -9.7, 1.0, "disagrees"),
    (0.0, 0.0, 18.0, 0.0, "agrees"),  # z = 0 is not below the shuffles
    (-1.0, 1.0, None, 0.4, "disagrees"),
    (-1.0, 1.0, -2.7, None, "agrees"),
    (-1.0, 1.0, None, None, "not comparable"),
])
def test_agreement_with_the_authors_at_its_boundaries(z, below, authors_z, authors_below, expected):
    assert verdicts.agreement_with_authors(z, below, authors_z, authors_below) == expected


@pytest.mark.parametrize("n_units, layer_units, drop, p, category", [
    (200, 200, 0.5, 1 / 101, "complete"),
    (12, 200, 0.5, 1 / 101, "small"),  # 12 units or fewer: small, whatever the lesion does
    (13, 200, 0.01, 1 / 101, "important"),  # exactly one point of accuracy is a large drop
    (13, 200, 0.0099, 1 / 101, "significant but small drop"),
    (13, 200, 0.0099, 1.0, "prunable"),
    (13, 200, 0.01, 1.0, "least important"),
    (13, 200, 0.02, 2 / 101, "large drop but not significant"),
    (13, 200, 0.0, 0.5, "other"),
])
def test_lesion_category_at_its_boundaries(n_units, layer_units, drop, p, category):
    assert verdicts.lesion_category(n_units, layer_units, drop, p, n_random=100) == category
    assert category in verdicts.LESION_CATEGORIES


def test_any_test_by_chance_by_hand():
    assert chance.any_test_by_chance(0.5, 2) == 0.75
    assert chance.any_test_by_chance(1 / 51, 1) == pytest.approx(1 / 51)
    assert chance.any_test_by_chance(0.3, 0) == 0
    with pytest.raises(ValueError, match="level"):
        chance.any_test_by_chance(1.5, 2)


def test_masks_are_binary_up_to_one_percent_undecided():
    assert verdicts.masks_binary(0.0) and verdicts.masks_binary(0.01)
    assert not verdicts.masks_binary(0.0101) and not verdicts.masks_binary(0.5)


def test_runs_beside_each_other_show_a_dash_where_a_run_lacks_a_metric():
    from modularity import comparison

    frame = comparison.beside({"long": {"a": 0.25, "b": 3}, "cpu": {"a": 0.5}}, {"share": "a", "count": "b"}).data
    assert frame.to_dict("list") == {"": ["share", "count"], "long": ["0.25", "3"], "cpu": ["0.5", "—"]}


def test_a_run_with_no_cpu_run_beside_it_says_which_case_it_is():
    from modularity import comparison

    assert comparison.nothing_beside(None, "with more mask steps") == (
        "This is the chapter's `cpu` run, or none is published; a run with more mask steps, where published, "
        "shows this one beside its own.")
    assert comparison.nothing_beside({"metrics": {}}, "with more mask steps") == (
        "The published `cpu` run stands only beside a run with more mask steps; this run is not one.")


def test_the_binary_claim_beside_a_shorter_run_compares_shared_models_by_one_rule():
    text = verdicts.masks_binary_beside({"fnn": 0.01, "lstm": 0.005}, {"fnn": 0.3, "cnn": 0.7}, 20000, 3000)
    assert text == ("From 3,000 to 20,000 mask steps the share of undecided logits went fnn 30% → 1%: the masks are "
                    "effectively binary at 20,000 steps and were not at 3,000.")
    text = verdicts.masks_binary_beside({"a": 0.0101}, {"a": 0.0}, 20000, 3000)
    assert "are not effectively binary at 20,000 steps and were at 3,000" in text


def test_batching_mask_stages_pays_from_one_and_a_half_times():
    from modularity import bench

    assert bench.batching_pays(1.5) == "batching pays" and bench.batching_pays(3.6) == "batching pays"
    assert bench.batching_pays(1.0) == bench.batching_pays(1.49) == "batching gains little"
    assert bench.batching_pays(0.99) == "batching costs time"


def test_keeping_freed_memory_pays_from_one_point_one_times_when_every_repeat_agrees():
    from modularity import bench

    pays, costs, unclear = "keeping freed memory pays", "keeping freed memory costs time", "no clear difference"
    assert bench.keeping_memory_pays(1.1, 1.001, 1.2) == bench.keeping_memory_pays(2.0, 1.9, 2.1) == pays
    assert bench.keeping_memory_pays(1.1, 1.0, 1.2) == unclear  # one repeat no faster
    assert bench.keeping_memory_pays(1.09, 1.05, 1.2) == bench.keeping_memory_pays(0.95, 0.9, 0.99) == unclear
    assert bench.keeping_memory_pays(0.949, 0.9, 0.999) == costs
    assert bench.keeping_memory_pays(0.89, 0.87, 1.05) == unclear  # one repeat faster


def test_a_large_graph_keeps_pace_from_the_mlp_graphs_speed_up_on():
    from modularity import bench_clustering

    assert bench_clustering.keeps_pace(5.9, 5.9) == bench_clustering.keeps_pace(7.0, 5.9) == (
        "as far ahead as on the MLP graphs")
    assert bench_clustering.keeps_pace(5.89, 5.9) == "less far ahead than on the MLP graphs"


@pytest.mark.parametrize("value, shown", [
    (0.4996, "0.4996"),   # would read 0.50 beside "partial"
    (0.5, "0.50"),        # on the threshold: strong, and reads so
    (0.50004, "0.50004"),  # a rounded number sits on a threshold only when the value does
    (0.0999, "0.0999"),   # would read 0.10 beside "about chance"
    (0.1, "0.10"),
    (0.31, "0.31"),       # far from every threshold: two decimals
    (-0.034, "-0.03"),
    (0.49999999, "0.49999999"),
])
def test_a_judged_number_never_reads_across_its_threshold(value, shown):
    text = judged.shown_excess(value)
    assert text == shown
    assert verdicts.overlap_level(float(text)) == verdicts.overlap_level(value)


def test_a_rule_with_an_inclusive_upper_side_is_shown_on_its_side_too():
    # beta_sensitivity: "falls" when Spearman's ρ <= -0.5, so -0.4996 (no consistent trend) must not read -0.50
    assert judged.shown_against(-0.4996, [-0.5, 0.5]) == "-0.4996"
    assert judged.shown_against(-0.5, [-0.5, 0.5]) == "-0.50"


def test_a_numpy_scalar_is_shown_like_a_float():
    import numpy as np

    assert judged.shown_against(np.float64(-0.4996), (-0.5, 0.5)) == "-0.4996"


def test_an_undefined_judged_number_reads_nan():
    assert judged.shown_against(float("nan"), [0.5]) == "nan"


def test_a_class_removal_is_specific_at_half_the_drop_and_a_quarter_for_the_others():
    assert verdicts.class_specific(0.5, 0.25) is True  # both limits included
    assert verdicts.class_specific(0.4999, 0.0) is False
    assert verdicts.class_specific(0.99, 0.2501) is False
    assert verdicts.class_specific(0.99, float("nan")) is False  # no other-class ratio: not shown specific
    assert verdicts.class_specific(float("nan"), 0.1) is None
