"""The mask-step breakdown of the performance chapter: what it times, how shares are formed, and its verdict."""

import pytest

from modularity import bench_mask_step


def test_what_a_faster_step_needs_turns_on_which_part_is_larger():
    assert bench_mask_step.where_time_goes(0.51, 0.49).startswith("fewer passes over the sampled elements")
    assert bench_mask_step.where_time_goes(0.4, 0.4).startswith("faster matrix products")  # a tie: not fewer passes
    assert bench_mask_step.where_time_goes(0.2, 0.7).startswith("faster matrix products")


def test_the_summary_states_the_shares_it_is_given():
    share = {"uniform draws": 0.25, "sampling kernel": 0.15, "matrix products": 0.3, "logit-gradient kernel": 0.15,
             "optimizer": 0.02}
    text = bench_mask_step.summary({"case": "fnn_2000x4", "step_s": 0.6, "share": share, "elementwise_share": 0.55})
    assert text.startswith("A mask step of the 2000x4 FNN took 600.0 ms here.")
    assert "Drawing the uniforms took 25% of it and the sampling and logit-gradient kernels 30%" in text
    assert "so 55% went into passes over the K×N sampled elements, against 30% for the network's" in text
    assert "the parts add up to 87% of the step" in text
    assert text.endswith("needs fewer passes over the sampled elements (not faster matrix products).")


def test_the_overhead_only_speedup_is_the_step_over_its_parts():
    parts = {"uniform draws": 0.1, "sampling kernel": 0.1, "matrix products": 0.2, "logit-gradient kernel": 0.05,
             "optimizer": 0.05}  # 0.5 s of a 1 s step
    assert bench_mask_step.overhead_only_speedup({"step_s": 1.0, "part_s": parts}) == pytest.approx(2.0)
    assert bench_mask_step.overhead_only_speedup({"step_s": 0.5, "part_s": parts}) == pytest.approx(1.0)  # no rest
    assert bench_mask_step.overhead_only_speedup({"step_s": 0.45, "part_s": parts}) == 1.0  # parts add up to more


def test_a_measured_batching_speedup_is_judged_against_the_overhead_only_one():
    assert bench_mask_step.against_overhead_only(1.55, 1.55) == "no more than removing the rest explains"
    assert bench_mask_step.against_overhead_only(1.0, 1.55) == "no more than removing the rest explains"
    assert bench_mask_step.against_overhead_only(0.99, 1.55).startswith("slower together")
    assert bench_mask_step.against_overhead_only(1.56, 1.55).startswith("more than removing the rest explains")


def test_the_batching_sentence_judges_every_model_with_both_measurements():
    parts = {"uniform draws": 0.1, "sampling kernel": 0.1, "matrix products": 0.2, "logit-gradient kernel": 0.05,
             "optimizer": 0.05}
    breakdowns = {"fnn_32x2": {"step_s": 0.6, "part_s": parts}, "fnn_400_400_200": {"step_s": 0.8, "part_s": parts},
                  "fnn_2000x4": {"step_s": 1.0, "part_s": parts}}
    text = bench_mask_step.batching_explained(breakdowns, {"fnn_32x2": 1.1, "fnn_400_400_200": 1.7})
    assert text == ("Removing the rest alone would make stages trained together 1.20× as fast for the 32x2 FNN, "
                    "against 1.10× measured (no more than removing the rest explains); 1.60× as fast for the "
                    "400-400-200 FNN, against 1.70× measured (more than removing the rest explains: together, the "
                    "parts themselves ran faster).")
    assert bench_mask_step.batching_explained(breakdowns, {}).startswith("No network here has both")


def test_a_breakdown_times_every_part_beside_the_whole_step():
    result = bench_mask_step.breakdown("fnn_32x2", threads=1, scale=0.05, fused_kernels=False)
    assert set(result["part_s"]) == set(bench_mask_step.PARTS)
    assert result["step_s"] > 0 and all(seconds > 0 for seconds in result["part_s"].values())
    for part, seconds in result["part_s"].items():
        assert result["share"][part] == pytest.approx(seconds / result["step_s"])
    assert result["elementwise_share"] == pytest.approx(sum(result["share"][p] for p in bench_mask_step.ELEMENTWISE))
    assert result["rest_s"] == pytest.approx(result["step_s"] - sum(result["part_s"].values()))


def test_an_unknown_model_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown benchmark model 'fnn_9x9'; known: .*fnn_2000x4"):
        bench_mask_step.breakdown("fnn_9x9")


def test_the_breakdown_suite_prints_each_model_and_writes_its_report(monkeypatch, tmp_path, capsys):
    import json

    from modularity import bench

    monkeypatch.setattr(bench, "MODELS", {"fnn_32x2": (32, 32)})  # the largest model alone takes half a minute
    assert bench_mask_step.main(1, True, str(tmp_path / "breakdown.json")) == 0
    out = capsys.readouterr().out
    assert out.startswith("fnn_32x2") and "ms per mask step: uniform draws" in out
    assert "A mask step of the 32x2 FNN took" in out
    report = json.loads((tmp_path / "breakdown.json").read_text())
    assert [r["case"] for r in report["results"]] == ["fnn_32x2"] and report["environment"]["threads"] == 1
