"""The clusterability chapter's comparisons: hand-built tables in, the agreement rule's verdicts, the glued
values and the sentences out."""

import pandas as pd
import pytest

from modularity import authors
from modularity import clusterability_report as report


def summary_table(rows: dict) -> pd.DataFrame:
    """A chapter table: one row per (dataset, setting) of the means the chapter computes."""
    fields = ["ncut", "shuffle_mean", "z", "n_significant", "n_networks", "n_degenerate", "test_acc"]
    return pd.DataFrame([dict(zip(fields, values)) for values in rows.values()],
                        index=pd.MultiIndex.from_tuples(rows, names=["dataset", "setting"]))


def test_agreement_counts_name_each_level_reached_in_the_rules_order():
    assert report.agreement_counts(["partly", "agrees", "agrees", "disagrees"]) == "2 agrees, 1 partly, 1 disagrees"
    assert report.agreement_counts([]) == ""


def test_rows_beside_the_authors_take_the_rules_verdict_and_glue_the_authors_numbers():
    theirs = authors.p1b_row("mnist", "pruned")  # z < 0, every network below every shuffle
    assert theirs.z < 0 and theirs.below_every_shuffle == 1
    table = summary_table({("mnist", "pruned"): (8.9, 9.2, -5.0, 3, 3, 0, 0.98),  # same side, all below: agrees
                           ("mnist", "l2"): (9.7, 9.4, -1.0, 1, 3, 0, 0.98),  # z < 0 (theirs > 0), 1/3 (theirs 0.2)
                           ("cifar10_gray", "pruned"): (9.0, 9.5, -3.0, 3, 3, 0, 0.5)})  # no authors' row
    rows, metrics = report.authors_comparison(table, comparable=True)
    assert [r["agreement"] for r in rows] == ["agrees", "partly", report.NO_AUTHORS_ROW]
    assert rows[0]["n-cut (authors)"] == theirs.ncut and rows[0]["below every shuffle"] == 1
    assert rows[0]["source"] == "results/clustering_factors_mlp.csv"
    assert metrics == {"mnist_pruned_authors_ncut": theirs.ncut, "mnist_pruned_authors_z": theirs.z,
                       "mnist_pruned_agreement": "agrees", "mnist_l2_authors_ncut": authors.p1b_row("mnist", "l2").ncut,
                       "mnist_l2_authors_z": authors.p1b_row("mnist", "l2").z, "mnist_l2_agreement": "partly"}
    assert report.agreement_summary(rows) == "of the 2 rows with an authors' number, 1 agrees, 1 partly"
    rows, metrics = report.authors_comparison(table, comparable=False)  # another k: nothing to compare
    assert metrics == {} and {r["agreement"] for r in rows} == {report.NO_AUTHORS_ROW}
    assert report.agreement_summary(rows) == "no row has an authors' number at this k and null model"


def test_channel_rows_glue_under_their_kind():
    assert report.metric_row("cnn", "mnist", "pruned") == "cnn_mnist_pruned"
    assert report.metric_row("mlp", "fashion_mnist", "pruned") == "fashion_pruned"


def test_summary_metrics_glue_every_column_and_only_the_test_score_that_applies():
    table = pd.DataFrame({"ncut": [2.5, 1.5], "n_significant": [3.0, 0.0], "test_acc": [0.98, float("nan")],
                          "test_mse": [float("nan"), 12.0]},
                         index=pd.MultiIndex.from_tuples([("mnist", "pruned"), ("poly", "plain")]))
    assert report.summary_metrics(table, "mlp") == {
        "mnist_pruned_ncut": 2.5, "mnist_pruned_n_significant": 3, "mnist_pruned_test_acc": 0.98,
        "poly_plain_ncut": 1.5, "poly_plain_n_significant": 0, "poly_plain_test_mse": 12.0}
    assert isinstance(report.summary_metrics(table, "mlp")["mnist_pruned_n_significant"], int)
    assert set(report.summary_metrics(table.iloc[:1], "cnn")) == {
        "cnn_mnist_pruned_ncut", "cnn_mnist_pruned_n_significant", "cnn_mnist_pruned_test_acc"}


def test_departures_name_the_numbers_the_checks_and_a_shorter_training():
    table = summary_table({("mnist", "l2"): (9.7, 9.4, 2.0, 0, 3, 1, 0.98),  # z > 0 like theirs, 0/3 like 0.2
                           ("mnist", "plain"): (9.0, 9.1, 3.0, 0, 3, 0, 0.98),  # theirs below: disagrees
                           ("mnist", "pruned"): (8.9, 9.2, -5.0, 3, 3, 0, 0.98)})  # agrees: not a departure
    rows, _ = report.authors_comparison(table, comparable=True)
    text = report.departures(rows, table, lambda dataset, setting: 10)
    assert text.startswith("mnist plain, disagrees (mean z 3.0 against") and text.endswith(".")
    assert "known difference: these networks trained 10 of P1b's 20 epochs" in text
    assert "mnist l2" not in text and "mnist pruned" not in text  # rows that agree are not departures
    table.loc[("mnist", "plain"), "z"] = -3.0
    table.loc[("mnist", "plain"), "n_significant"] = 3
    rows, _ = report.authors_comparison(table, comparable=True)
    assert report.departures(rows, table, lambda dataset, setting: 20) == "none."


def test_a_departing_l2_row_lists_the_l2_checks_and_its_degenerate_networks():
    table = summary_table({("mnist", "pruned_l2"): (9.9, 9.4, 5.0, 0, 5, 2, 0.98)})  # theirs: z < 0, 60% below
    rows, _ = report.authors_comparison(table, comparable=True)
    assert rows[0]["agreement"] == "disagrees"
    text = report.departures(rows, table, lambda dataset, setting: 20)
    assert report.CHECKED["l2"] in text and report.CHECKED["pruned_l2"] in text
    assert "2 of its networks have a degenerate n-cut" in text and "known difference" not in text
    low, high = authors.p1b_row("mnist", "pruned_l2").z_range
    assert f"theirs ranging from z {low:.1f} to {high:.1f}" in text


def test_the_probe_puts_both_prunings_beside_the_authors_with_the_rules_verdicts():
    table = summary_table({("mnist", "pruned_l2"): (9.9, 9.4, 5.0, 0, 2, 0, 0.98)})
    table["with_l2_units_left"] = 0.0
    probe = pd.DataFrame({"dataset": ["mnist", "mnist"], "seed": [0, 1], "ncut": [8.6, 8.8],
                          "shuffle_mean": [9.4, 9.3], "z": [-13.0, -9.0], "below_every_shuffle": [True, True],
                          "test_acc": [0.98, 0.97], "units_left": [700, 650], "with_l2_units_left": [500, 520]})
    rows, metrics, text = report.probe_comparison(probe, table, comparable=True)
    assert [r["pruned"] for r in rows] == [report.KEPT, report.LEFT_OUT, "authors (P1b)"]
    assert [r["agreement"] for r in rows] == ["disagrees", "agrees", None]
    assert rows[0]["hidden units left"] == 510 and rows[1]["hidden units left"] == 675
    assert metrics == {"mnist_pruned_l2_without_l2_ncut": pytest.approx(8.7), "mnist_pruned_l2_without_l2_z": -11.0,
                       "mnist_pruned_l2_without_l2_n_significant": 2.0, "mnist_pruned_l2_without_l2_n_networks": 2.0}
    assert text == ("on mnist, pruned without the L2 term the row reads “agrees” beside the authors' (mean z -11.0, "
                    "100% of networks below every shuffle), with it “disagrees” (mean z 5.0)")


def network_frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["kind", "dataset", "setting", "k", "method", "seed", "ncut", "shuffle_mean",
                                       "z", "below_every_shuffle"])


def test_p1s_rows_stand_beside_each_k_only_with_p1s_shuffles():
    rows = network_frame([("mlp", "mnist", "pruned", 10, "layer", 0, 7.0, 7.4, -8.0, True),
                          ("mlp", "mnist", "pruned", 10, "layer", 1, 7.1, 7.4, -6.0, False),
                          ("mlp", "mnist", "pruned", 12, "layer", 0, 8.0, 9.0, -8.0, True),
                          ("cnn", "mnist", "pruned", 10, "layer", 0, 1.0, 2.0, -8.0, True)])  # channel graphs: not P1
    others, metrics = report.p1_comparison(rows, primary=(12, "layer"), p1_comparable=True)
    assert len(others) == 2
    theirs = authors.p1_row(10, "mnist", "pruned", "layer")
    assert others.loc[("mnist", "pruned", 10, "layer"), "z (P1)"] == theirs.z
    assert others["agreement (P1)"].tolist() == ["agrees", report.NO_P1_ROW]  # 1/2 below, as P1's 100%: ≥ half
    assert metrics == {"mnist_pruned_k10_layer_frac_significant": 0.5, "p1_10_mnist_pruned_n_significant": 1,
                       "p1_12_mnist_pruned_n_significant": 1, "p1_10_mnist_pruned_layer_agreement": "agrees"}
    assert report.p1_agreement_summary(others, 320) == \
        "of the 1 (k, null model, dataset, setting) rows P1 reports, 1 agrees"
    others, metrics = report.p1_comparison(rows, primary=(12, "layer"), p1_comparable=False)
    assert "p1_10_mnist_pruned_layer_agreement" not in metrics
    assert report.p1_agreement_summary(others, 50) == \
        f"not compared at this preset (P1's rows used {authors.P1_SHUFFLES} shuffles; this run 50)"


def test_degenerate_networks_are_counted_and_faint_units_in_live_clusters_named_apart():
    primary = pd.DataFrame({"kind": "mlp", "dataset": "mnist", "setting": ["l2", "l2", "l2", "plain"],
                            "faint_units": [11, 14, 3, 0], "faint_clusters": [2, 3, 0, 0],
                            "degenerate": [True, True, False, False], "ncut": [0.5, -0.0, 9.0, 9.0],
                            "shuffle_mean": [9.0, 9.5, 9.2, 9.1]})
    table = summary_table({("mnist", "l2"): (3.0, 9.2, 1.0, 0, 3, 2, 0.98),
                           ("mnist", "plain"): (9.0, 9.1, 0.0, 0, 1, 0, 0.98)})
    assert report.degenerate_summary(primary, table, k=12) == (
        "mnist l2: 2 of 3 networks degenerate (11–14 faint units each, 2–3 of 12 clusters faint, n-cut at most 0.500 "
        "against shuffles at 9.25). Faint units in live clusters only (these n-cuts count): mnist l2 (1 network, 3 "
        "faint units).")
    quiet = primary.assign(faint_units=0, faint_clusters=0, degenerate=False)
    assert report.degenerate_summary(quiet, table.assign(n_degenerate=0), k=12) == "no network has a faint unit."


def test_the_verdict_and_headline_read_the_table():
    table = summary_table({("mnist", "pruned"): (8.9, 9.2, -5.0, 3, 3, 1, 0.98),
                           ("mnist", "pruned_dropout"): (8.5, 9.1, -7.25, 2, 3, 0, 0.975)})
    assert report.dataset_verdict(table, "mnist", ["pruned", "pruned_dropout", "plain"]) == (
        "mnist — pruned: 3/3 below every shuffle (n-cut 8.900 vs 9.200; 1 degenerate, not counted); "
        "pruned_dropout: 2/3 below every shuffle (n-cut 8.500 vs 9.100)")
    theirs = authors.p1b_row("mnist", "pruned_dropout")
    assert report.headline(table, "mnist", "MNIST", comparable=True) == \
        f"-7.2 on MNIST (P1b: {theirs.z:.1f}) at test accuracy 97.5%"
    assert report.headline(table, "mnist", "MNIST", comparable=False) == "-7.2 on MNIST at test accuracy 97.5%"
    assert report.headline(table, "fashion_mnist", "Fashion-MNIST", comparable=True) is None
