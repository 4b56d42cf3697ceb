"""The clusterability chapter's comparisons, as tables and sentences: every row beside the authors' (P1b and
P1), the rows that depart and what was checked for each, the networks whose n-cut is degenerate, and the
pruned + L2 probe beside the chapter's pruning. Each agreement comes from ``verdicts.agreement_with_authors``;
functions here only arrange and judge numbers the run computed (render-only code: editing it re-renders the
chapter, never retrains it), and return the values the chapter glues.
"""

from __future__ import annotations

import pandas as pd

from modularity import authors, verdicts
from modularity.experiments import clusterability as cl

NO_AUTHORS_ROW = "no authors' row"
NO_P1_ROW = "no P1 row"
KEPT = "L2 kept while pruning (this chapter, as the original)"
LEFT_OUT = "L2 left out while pruning (probe)"

# What was checked for a row while it departs from the authors' (none of these changed the row)
CHECKED = {
    "l2": "the L2 factor follows the original `src/train_nn.py`: λ·Σw² with λ = 5e-5 on every kernel but the first, "
          "which keeps an L1 term (that code's quirk), added to the mean loss",
    "pruned_l2": "the L2 term stays in the loss while pruning, as in the original (Keras keeps a wrapped layer's "
                 "regulariser; the result file's training losses of these networks include it), pruning starts "
                 "from the trained network with a fresh Adam, the unpruned L2 row is compared above, and the same "
                 "networks pruned without the term are shown below (the probe)",
}


def beside_authors(dataset: str, setting: str, row, theirs: authors.P1bRow | None) -> dict:
    """One table row: our means, the authors' beside each (missing where they give none), the row's agreement."""
    below = row.n_significant / row.n_networks
    field = lambda name: getattr(theirs, name, None)  # noqa: E731
    return {"dataset": dataset, "setting": setting, "n-cut": row.ncut, "n-cut (authors)": field("ncut"),
            "shuffled": row.shuffle_mean, "shuffled (authors)": field("shuffle_mean"), "z": row.z,
            "z (authors)": field("z"), "below every shuffle": below,
            "below every shuffle (authors)": field("below_every_shuffle"), "degenerate n-cut": int(row.n_degenerate),
            "test acc": row.test_acc, "test acc (authors)": field("test_acc"),
            "agreement": verdicts.agreement_with_authors(row.z, below, theirs.z, theirs.below_every_shuffle)
            if theirs else NO_AUTHORS_ROW, "source": theirs.source.split(", ")[-1] if theirs else None}


def metric_row(kind: str, dataset: str, setting: str) -> str:
    """A row's metric prefix: ``mnist_pruned`` for an MLP, ``cnn_mnist_pruned`` for the small CNN."""
    return f"{cl.METRIC_PREFIX[dataset]}_{setting}" if kind == "mlp" else f"{kind}_{dataset}_{setting}"


def summary_metrics(table: pd.DataFrame, kind: str) -> dict:
    """The glued values of a summary table (one row per (dataset, setting), networks of ``kind``): every column
    under the row's metric name, counts as integers, and of test accuracy and test MSE only the one that applies."""
    metrics = {}
    for (dataset, setting), row in table.iterrows():
        for key, value in row.items():
            if not (key.startswith(("test_acc", "test_mse")) and pd.isna(value)):
                metrics[f"{metric_row(kind, dataset, setting)}_{key}"] = int(value) if key.startswith("n_") else value
    return metrics


def authors_comparison(table: pd.DataFrame, comparable: bool, kind: str = "mlp") -> tuple[list[dict], dict]:
    """Every (dataset, setting) row of ``table`` (networks of ``kind``) beside the authors' (none unless
    ``comparable``), and the values to glue: ``{row}_authors_ncut``, ``{row}_authors_z`` and ``{row}_agreement``
    where the authors give a row."""
    rows, metrics = [], {}
    for (dataset, setting), r in table.iterrows():
        theirs = authors.p1b_row(dataset, setting, kind=kind) if comparable else None
        rows.append(beside_authors(dataset, setting, r, theirs))
        if theirs is None:
            continue
        row_name = metric_row(kind, dataset, setting)
        for key, value in (("ncut", theirs.ncut), ("z", theirs.z)):
            if value is not None:
                metrics[f"{row_name}_authors_{key}"] = value
        metrics[f"{row_name}_agreement"] = rows[-1]["agreement"]
    return rows, metrics


def agreement_counts(levels: list[str]) -> str:
    """"3 agrees, 1 partly": how many rows reached each level of the agreement rule."""
    return ", ".join(f"{levels.count(level)} {level}" for level in ("agrees", "partly", "disagrees", "not comparable")
                     if levels.count(level))


def agreement_summary(rows: list[dict]) -> str:
    with_authors = [row["agreement"] for row in rows if row["agreement"] != NO_AUTHORS_ROW]
    return (f"of the {len(with_authors)} rows with an authors' number, {agreement_counts(with_authors)}"
            if with_authors else "no row has an authors' number at this k and null model")


def departure(row: dict, n_degenerate: int, trained_epochs: int) -> str:
    """One row that departs from the authors': both sides' numbers, the spread of theirs, what was checked."""
    theirs = authors.p1b_row(row["dataset"], row["setting"])
    spread = f", theirs ranging from z {theirs.z_range[0]:.1f} to {theirs.z_range[1]:.1f}" if theirs.z_range else ""
    z = f"mean z {row['z']:.1f} against {row['z (authors)']:.1f}" if row["z (authors)"] is not None else \
        f"mean z {row['z']:.1f}"
    below = (f", {row['below every shuffle']:.0%} of networks below every shuffle against "
             f"{row['below every shuffle (authors)']:.0%}" if row["below every shuffle (authors)"] is not None else "")
    keys = dict.fromkeys((cl.regulariser_of(row["setting"]), row["setting"]))  # the factor's checks, then the row's
    checked = "; ".join(CHECKED[key] for key in keys if key in CHECKED) or \
        "nothing beyond the checks every row shares (below)"
    checked += f"; {n_degenerate} of its networks have a degenerate n-cut (faint units, above)" if n_degenerate else ""
    theirs_trained = 10 if row["dataset"] == "mnist_7x7" else 20  # P1b's epochs before pruning
    known = (f"; known difference: these networks trained {trained_epochs} of P1b's {theirs_trained} epochs"
             if not row["setting"].startswith("pruned") and trained_epochs < theirs_trained else "")
    return f"{row['dataset']} {row['setting']}, {row['agreement']} ({z}{below}{spread}){known}; checked: {checked}"


def departures(rows: list[dict], table: pd.DataFrame, trained_epochs) -> str:
    """The rows that agree only partly or not at all, each with ``departure``; ``trained_epochs(dataset,
    setting)`` gives the epochs a row's networks trained before any pruning."""
    parts = [departure(row, int(table.loc[(row["dataset"], row["setting"])].n_degenerate),
                       trained_epochs(row["dataset"], row["setting"]))
             for row in rows if row["agreement"] in ("partly", "disagrees")]
    return "; ".join(parts) + "." if parts else "none."


def span(values) -> str:
    """"11" or "89–120": the range of some counts."""
    low, high = int(min(values)), int(max(values))
    return f"{low}" if low == high else f"{low}–{high}"


def degenerate_summary(primary: pd.DataFrame, table: pd.DataFrame, k: int) -> str:
    """The MLP rows with degenerate networks (how many, their faint units and n-cuts against the shuffles), then
    the rows whose faint units the clustering left in live clusters; ``primary`` has one row per network."""
    mlp = primary[primary.kind == "mlp"]
    parts = []
    for dataset, setting in table[table.n_degenerate > 0].index:
        mine = mlp[(mlp.dataset == dataset) & (mlp.setting == setting)]
        hit = mine[mine.degenerate]
        parts.append(f"{dataset} {setting}: {len(hit)} of {len(mine)} networks degenerate ({span(hit.faint_units)} "
                     f"faint units each, {span(hit.faint_clusters)} of {k} clusters faint, n-cut at most "
                     f"{max(hit.ncut.max(), 0):.3f} against shuffles at {hit.shuffle_mean.mean():.2f})")
    faint_where = primary[(primary.faint_units > 0) & ~primary.degenerate]
    live = [f"{dataset} {setting} ({len(r)} network{'s' if len(r) > 1 else ''}, {span(r.faint_units)} faint units)"
            for (dataset, setting), r in faint_where.groupby(["dataset", "setting"], sort=False)]
    text = ("; ".join(parts) + ". " if parts else "") + \
        ("Faint units in live clusters only (these n-cuts count): " + "; ".join(live) + "." if live else "")
    return text.strip() or "no network has a faint unit."


def probe_comparison(probe: pd.DataFrame, table: pd.DataFrame, comparable: bool) -> tuple[list[dict], dict, str]:
    """The pruned + L2 rows pruned with the L2 term (``table``, the chapter's) and without it (``probe``, one row
    per network at the primary k and null model), each beside the authors' with its agreement; the values to
    glue, and a sentence per dataset."""
    rows, metrics, texts = [], {}, []
    for dataset, mine in probe.groupby("dataset", sort=False):
        theirs, kept = authors.p1b_row(dataset, "pruned_l2") if comparable else None, table.loc[(dataset, "pruned_l2")]
        variants = {KEPT: (kept.ncut, kept.shuffle_mean, kept.z, kept.n_significant / kept.n_networks, kept.test_acc,
                           mine.with_l2_units_left.mean()),
                    LEFT_OUT: (mine.ncut.mean(), mine.shuffle_mean.mean(), mine.z.mean(),
                               mine.below_every_shuffle.mean(), mine.test_acc.mean(), mine.units_left.mean())}
        agreement = {}
        for variant, (ncut, shuffled, z, below, acc, units) in variants.items():
            agreement[variant] = (verdicts.agreement_with_authors(z, below, theirs.z, theirs.below_every_shuffle)
                                  if theirs else NO_AUTHORS_ROW)
            rows.append({"dataset": dataset, "pruned": variant, "n-cut": ncut, "shuffled": shuffled, "z": z,
                         "below every shuffle": below, "test acc": acc, "hidden units left": units,
                         "agreement": agreement[variant]})
        if theirs:
            rows.append({"dataset": dataset, "pruned": "authors (P1b)", "n-cut": theirs.ncut,
                         "shuffled": theirs.shuffle_mean, "z": theirs.z,
                         "below every shuffle": theirs.below_every_shuffle, "test acc": theirs.test_acc,
                         "hidden units left": None, "agreement": None})
        prefix = f"{cl.METRIC_PREFIX[dataset]}_pruned_l2_without_l2"
        for key, value in (("ncut", mine.ncut.mean()), ("z", mine.z.mean()),
                           ("n_significant", mine.below_every_shuffle.sum()), ("n_networks", len(mine))):
            metrics[f"{prefix}_{key}"] = float(value)
        texts.append(f"on {dataset}, pruned without the L2 term the row reads “{agreement[LEFT_OUT]}” beside the "
                     f"authors' (mean z {mine.z.mean():.1f}, {mine.below_every_shuffle.mean():.0%} of networks below "
                     f"every shuffle), with it “{agreement[KEPT]}” (mean z {variants[KEPT][2]:.1f})")
    return rows, metrics, "; ".join(texts)


def p1_comparison(rows: pd.DataFrame, primary: tuple[int, str], p1_comparable: bool) -> tuple[pd.DataFrame, dict]:
    """Every (dataset, setting, k, null model) of the MLP ``rows`` (one per network) as means and the share
    below every shuffle, P1's row beside each where ``p1_comparable`` (the run used P1's shuffles), and the values
    to glue: the share per non-``primary`` (k, method), P1's counts for pruned settings, P1's agreement."""
    others = rows[rows.kind == "mlp"].groupby(["dataset", "setting", "k", "method"], sort=False).agg(
        ncut=("ncut", "mean"), shuffle_mean=("shuffle_mean", "mean"), z=("z", "mean"),
        below_every_shuffle=("below_every_shuffle", "mean"), n_below=("below_every_shuffle", "sum"))
    metrics, agreement, columns = {}, [], []
    for (dataset, setting, k, method), r in others.iterrows():
        prefix = cl.METRIC_PREFIX[dataset]
        if (k, method) != primary:
            metrics[f"{prefix}_{setting}_k{k}_{method}_frac_significant"] = r.below_every_shuffle
        if method == "layer" and setting.startswith("pruned"):  # P1's settings: pruned networks at each of its k
            metrics[f"p1_{k}_{prefix}_{setting}_n_significant"] = int(r.n_below)
        theirs = authors.p1_row(k, dataset, setting, method) if p1_comparable else None
        agreement.append(verdicts.agreement_with_authors(r.z, r.below_every_shuffle, theirs.z,
                                                         theirs.below_every_shuffle) if theirs else NO_P1_ROW)
        columns.append({f"{key} (P1)": getattr(theirs, key, None)
                        for key in ("ncut", "shuffle_mean", "z", "below_every_shuffle")})
        if theirs:
            metrics[f"p1_{k}_{prefix}_{setting}_{method}_agreement"] = agreement[-1]
    others = others.join(pd.DataFrame(columns, index=others.index, dtype=float))
    others["agreement (P1)"] = agreement
    return others, metrics


def p1_agreement_summary(others: pd.DataFrame, n_shuffles: int) -> str:
    with_p1 = [a for a in others["agreement (P1)"] if a != NO_P1_ROW]
    return (f"of the {len(with_p1)} (k, null model, dataset, setting) rows P1 reports, {agreement_counts(with_p1)}"
            if with_p1 else
            f"not compared at this preset (P1's rows used {authors.P1_SHUFFLES} shuffles; this run {n_shuffles})")


def dataset_verdict(table: pd.DataFrame, dataset: str, settings: list[str]) -> str:
    """"mnist — pruned: 3/3 below every shuffle (n-cut … vs …); …": each setting of one dataset, in order."""
    t = table.loc[dataset]
    parts = [f"{s}: {int(t.loc[s].n_significant)}/{int(t.loc[s].n_networks)} below every shuffle "
             f"(n-cut {t.loc[s].ncut:.3f} vs {t.loc[s].shuffle_mean:.3f}"
             + (f"; {int(t.loc[s].n_degenerate)} degenerate, not counted" if t.loc[s].n_degenerate else "") + ")"
             for s in settings if s in t.index]
    return f"{dataset} — " + "; ".join(parts)


def headline(table: pd.DataFrame, dataset: str, name: str, comparable: bool) -> str | None:
    """The pruned + dropout row of one dataset: its mean z, P1b's beside it where comparable, test accuracy."""
    if (dataset, "pruned_dropout") not in table.index:
        return None
    r, theirs = table.loc[(dataset, "pruned_dropout")], authors.p1b_row(dataset, "pruned_dropout")
    return (f"{r.z:.1f} on {name}" + (f" (P1b: {theirs.z:.1f})" if comparable and theirs else "")
            + f" at test accuracy {r.test_acc:.1%}")
