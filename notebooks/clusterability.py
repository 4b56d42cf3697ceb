# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Clusterability: are trained networks more clusterable than shuffled ones?
#
# **Claim under test** (Filan et al., *Pruned Neural Networks are Surprisingly Modular* and *Clusterability
# in Neural Networks*; original code `dfilan/clusterability_in_neural_networks`): MLPs trained on image classification —
# and especially pruned and dropout-trained ones — are more *clusterable* than random networks with the
# same weights: the n-cut of a spectral clustering of their weight graph lies below the n-cut of **every**
# network obtained by shuffling each layer's weight matrix.
#
# The method: the graph has one node per unit (784 pixels, the hidden units, the 10 logits) and an edge of
# weight |w| between units of consecutive layers; isolated nodes are dropped. Spectral clustering into k
# groups uses the k smallest eigenvectors of the normalised Laplacian (trivial one included), scaled by
# D^-1/2, then k-means with 25 restarts. The n-cut is Σᵢ cut(Aᵢ)/vol(Aᵢ), between 0 and k, lower meaning
# more clusterable. The null model (`layer`) permutes every entry of each layer matrix, zeros included, and
# reclusters; p = (1 + #{shuffles below})/(n + 1), and a network is *below every shuffle* when p = 1/(n+1)
# (a test at level 1/(n+1), which is below 0.05 from 19 shuffles on). Pruning is magnitude pruning per layer
# from 50% to 90% sparsity on tfmot's cubic schedule, started from the trained network.

# %% tags=["parameters"]
preset: str = ""  # in Jupyter, "smoke" takes every value below from that preset (seconds, not minutes)
datasets: list[str] = ["mnist", "fashion_mnist", "cifar10_gray"]  # MLP datasets; lines, random (generated images), poly (regression), mnist_7x7 (the cluster-gradient experiment's) [non-empty; one of: mnist, fashion_mnist, cifar10_gray, lines, random, poly, mnist_7x7]
settings: list[str] = ["plain", "dropout", "pruned", "pruned_dropout"]  # P1b's factors, each also pruned_…; a dataset runs those that apply to it [non-empty; one of: plain, pruned, dropout, l1, l2, clusterable_init, halves_same, halves_diff, cluster_grad, pruned_dropout, pruned_l1, pruned_l2, pruned_clusterable_init, pruned_halves_same, pruned_halves_diff, pruned_cluster_grad]
networks: int = 3  # networks (seeds 0..networks-1) per dataset and setting (P1b: 5) [at least 1]
hidden: list[int] = [256, 256, 256, 256]  # MLP hidden layers (papers: 4 × 256) [non-empty; at least 1]
small_hidden: list[int] = [64, 64, 64]  # hidden layers of the mnist_7x7 MLP (P1b's cluster-gradient experiment: 3 × 64) [non-empty; at least 1]
small_epochs: int = 0  # training epochs of the mnist_7x7 MLP (0: `epochs`; P1b: 10) [at least 0]
small_prune_epochs: int = 0  # pruning epochs of the mnist_7x7 MLP (0: `prune_epochs`; P1b: 10) [at least 0]
epochs: int = 10  # training epochs (papers: 20) [at least 1]
prune_epochs: int = 10  # pruning epochs after training (papers: 20; CIFAR 40) [at least 1]
batch_size: int = 128  # batch size (papers: 128) [at least 1]
dropout: float = 0.5  # dropout after each hidden layer in the dropout settings (papers: 0.5) [at least 0; below 1]
cifar_dropout: float = 0.2  # the same for greyscale CIFAR-10 (P1: 0.2) [at least 0; below 1]
cifar_epochs: int = 0  # greyscale CIFAR-10 training epochs without dropout (0: `epochs`; P1: 20) [at least 0]
cifar_dropout_epochs: int = 0  # greyscale CIFAR-10 training epochs with dropout (0: `epochs`; P1: 100) [at least 0]
cifar_prune_epochs: int = 0  # greyscale CIFAR-10 pruning epochs (0: `prune_epochs`; P1: 40) [at least 0]
l1: float = 0.00005  # L1 rate on all kernels in the l1 settings (papers: 5e-5) [at least 0]
train_subset: int = 0  # use only the first n training images (0: all) [at least 0]
test_subset: int = 0  # evaluate on only the first n test images (0: all) [at least 0]
ks: list[int] = [12]  # numbers of clusters; the first is the primary one (P1b: 12; P1: 2, 7, 10) [non-empty; at least 2]
n_shuffles: int = 50  # shuffles per network and k (P1b: 50; P1: 320) [at least 1]
shuffle_methods: list[str] = ["layer"]  # null models: layer (primary), layer_nonzero [non-empty; one of: layer, layer_nonzero]
random_init_networks: int = 20  # untrained Glorot MLPs for the random-initialisation baseline (P1b: 100) [at least 1]
cnn_networks: int = 0  # small CNNs (channel graph) per dataset and setting; 0 skips them [at least 0]
cnn_datasets: list[str] = ["mnist", "fashion_mnist", "cifar10"]  # small-CNN datasets (CIFAR-10 in colour) [non-empty; one of: mnist, fashion_mnist, cifar10]
cnn_settings: list[str] = ["plain", "dropout", "pruned", "pruned_dropout"]  # small-CNN settings (P1b also: l1, l2, clusterable_init and their pruned forms) [non-empty; one of: plain, pruned, dropout, l1, l2, clusterable_init, pruned_dropout, pruned_l1, pruned_l2, pruned_clusterable_init]
cnn_epochs: int = 10  # small-CNN training epochs (P1b: 10) [at least 1]
cnn_prune_epochs: int = 10  # small-CNN pruning epochs (P1b: 10) [at least 1]
vgg_networks: int = 0  # CIFAR-10 VGGs (channel graph) per setting; 0 skips them [at least 0]
vgg_settings: list[str] = ["plain", "dropout", "dropout_l2", "pruned", "pruned_dropout", "pruned_dropout_l2"]  # VGG settings (P1b also: l1, l2, clusterable_init and their pruned forms) [non-empty; one of: plain, pruned, dropout, l1, l2, clusterable_init, dropout_l2, pruned_dropout, pruned_l1, pruned_l2, pruned_clusterable_init, pruned_dropout_l2]
vgg_width: float = 1.0  # channel multiplier of the VGG (P1b: 1; a CPU trains a narrower copy) [above 0]
vgg_epochs: int = 200  # VGG training epochs (P1b: 200) [at least 1]
vgg_prune_epochs: int = 50  # VGG pruning epochs (P1b: 50) [at least 1]
lesion_networks: int = 1  # pruned MNIST / Fashion-MNIST MLPs given P1's lesion analysis (0 skips it) [at least 0]
lesion_k: int = 10  # clusters of the lesion analysis (P1: 10) [at least 2]
lesion_random: int = 100  # random same-size sets per single lesion (P1: 100) [at least 1]
double_lesion_random: int = 50  # random sets (or pairs) per double lesion (P1: 50) [at least 1]
lesion_test_subset: int = 2000  # test images each lesion is scored on (0: all 10,000) [at least 0]
device: str = "auto"  # "auto", "cpu" or "cuda" [one of: auto, cpu, cuda]

# %%
from modularity.parameters import check_notebook_parameters

check_notebook_parameters("clusterability", globals())  # papermill and Jupyter get the runner's checks

import itertools
from dataclasses import asdict, replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from modularity import authors, cache, chance, faint_units, plots, provenance, stats, verdicts
from modularity import clusterability_report as report
from modularity.experiments import clusterability as cl
from modularity.experiments import clusterability_faint as faint
from modularity.experiments import mlp_schedules
from modularity.experiments import p1_lesions
from modularity.experiments import pruning_without_l2 as no_l2
from modularity.glue import glue
from modularity.train import choose_device

torch_device = choose_device(device)
provenance.record("run", "device", str(torch_device))
unknown = (set(settings) - set(cl.SETTINGS)) | (set(datasets) - set(cl.METRIC_PREFIX))
assert not unknown, f"unknown dataset or setting {sorted(unknown)}; settings: {cl.SETTINGS}, datasets: {list(cl.METRIC_PREFIX)}"
print(f"device {torch_device}, torch threads {torch.get_num_threads()}")

# %% [markdown]
# ## Training and measuring every network
# Each (dataset, regulariser, seed) is trained once, measured, pruned and measured again; trained weights
# and scores are cached in the data root, so an interrupted run resumes where it stopped.

# %%
mlp_settings = cl.Settings(hidden=hidden, epochs=epochs, prune_epochs=prune_epochs, batch_size=batch_size,
                           dropout=dropout, cifar_dropout=cifar_dropout, l1=l1, train_subset=train_subset,
                           test_subset=test_subset, ks=ks,
                           n_shuffles=n_shuffles, shuffle_methods=shuffle_methods)
regularisers = sorted({cl.regulariser_of(s) for s in settings})
cnn_training = replace(mlp_settings, epochs=cnn_epochs, prune_epochs=cnn_prune_epochs, batch_size=64)
cnn_regularisers = sorted({cl.regulariser_of(s) for s in cnn_settings})
vgg_training = cl.VGGSettings(width=vgg_width, epochs=vgg_epochs, prune_epochs=vgg_prune_epochs, ks=ks,
                               n_shuffles=n_shuffles, shuffle_methods=shuffle_methods, train_subset=train_subset,
                               test_subset=test_subset)
vgg_regularisers = sorted({cl.regulariser_of(s) for s in vgg_settings})


schedule = {name: globals()[name] for name in mlp_schedules.SCHEDULE_PARAMETERS}


def mlp_training(dataset, regulariser):
    """The MLP settings of one dataset: the 7 × 7 MNIST's smaller network, and its and greyscale CIFAR-10's own
    schedules where the preset gives them."""
    return mlp_schedules.training(mlp_settings, schedule, dataset, regulariser)


networks_to_train = {}  # (kind, dataset, regulariser) → training settings
for dataset in datasets:
    for regulariser in [r for r in regularisers if cl.applies(dataset, r)]:
        networks_to_train["mlp", dataset, regulariser] = mlp_training(dataset, regulariser)
for dataset in cnn_datasets if cnn_networks else []:
    for regulariser in [r for r in cnn_regularisers if cl.applies(dataset, r, kind="cnn")]:
        networks_to_train["cnn", dataset, regulariser] = cnn_training
for regulariser in [r for r in vgg_regularisers if cl.applies("cifar10", r, kind="vgg")] if vgg_networks else []:
    networks_to_train["vgg", "cifar10", regulariser] = vgg_training
seeds_of = {"mlp": networks, "cnn": cnn_networks, "vgg": vgg_networks}
settings_of = {"mlp": settings, "cnn": cnn_settings, "vgg": vgg_settings}


def network_unit(kind, dataset, regulariser, seed, s):
    """One network: trained, measured, pruned and measured, or only the stage its settings show."""
    stages = cl.stages_for(regulariser, settings_of[kind])
    params = {"kind": kind, "dataset": dataset, "regulariser": regulariser, **asdict(s)}
    params |= {} if stages == cl.STAGES else {"stages": list(stages)}  # both stages: the names earlier runs used
    return cache.Unit("clusterability/network", params, seed, cl.run_network_loading,
                      (kind, dataset, regulariser, seed, s, torch_device, stages), scope=cl.__name__)


def faint_unit(kind, dataset, regulariser, seed, s):
    """The same network's faint units (the section on them below), read from the weights the network stored."""
    stages = cl.stages_for(regulariser, settings_of[kind])
    params = {"kind": kind, "dataset": dataset, "regulariser": regulariser, **asdict(s), "stages": list(stages)}
    return cache.Unit("clusterability/faint_units", params, seed, faint.run_network,
                      (kind, dataset, regulariser, seed, s, torch_device, stages), scope=faint.__name__)


units = {(kind, dataset, regulariser, seed): network_unit(kind, dataset, regulariser, seed, s)
         for (kind, dataset, regulariser), s in networks_to_train.items() for seed in range(seeds_of[kind])}
results = dict(zip(units, cache.cached_many(units.values())))  # in order, or on Ray with --executor ray
faint_results = dict(zip(units, cache.cached_many([faint_unit(*key, networks_to_train[key[:3]]) for key in units])))
for (kind, dataset, regulariser, seed), r in results.items():
    print(f"{kind} {dataset} {regulariser} seed {seed}: test accuracy "
          + ", ".join(f"{r[stage]['test_acc']:.3f} {stage}" for stage in r))

rows = pd.DataFrame(cl.network_rows(results, mlp_settings))
rows = rows.merge(pd.DataFrame(faint.rows(faint_results)), on=["kind", "dataset", "setting", "seed", "k"],
                  how="left", validate="many_to_one")
rows["degenerate"] = rows.faint_clusters.map(verdicts.ncut_degenerate)
# the rule: a degenerate n-cut is not counted as below every shuffle (it says nothing about modules)
rows["below_every_shuffle"] = rows.below_every_shuffle & ~rows.degenerate
reproduced = np.isclose(rows.faint_check_ncut, rows.ncut, rtol=0, atol=1e-9)
print(f"the faint-unit check reclustered {int(reproduced.sum())} of {len(rows)} network stages × k to the measured "
      "n-cut")
rows = rows[((rows.kind == "cnn") & rows.setting.isin(cnn_settings))
            | ((rows.kind == "vgg") & rows.setting.isin(vgg_settings))
            | ((rows.kind == "mlp") & rows.setting.isin(settings))]

# %% [markdown]
# ## The table: n-cut against the shuffle distribution
# One row per dataset and setting at the primary k and null model: mean over networks (± sample std) of
# the test accuracy, the n-cut, the shuffled n-cuts' mean and std, the z-score and the percentile p, how
# many networks are below every shuffle, and how many have a *degenerate* n-cut (next section), which is
# not counted as below every shuffle.

# %%
primary = rows[(rows.k == ks[0]) & (rows.method == shuffle_methods[0])]


def summary(frame):
    out = {}
    for key in ["test_acc", "test_mse", "ncut", "shuffle_mean", "shuffle_std", "z", "p"]:  # MSE: regression only
        out[key], out[f"{key}_std"] = stats.mean_std(frame[key])
    # the metric keeps its published name (`n_significant`): it counts networks below every shuffle
    out["n_significant"], out["n_networks"] = int(frame.below_every_shuffle.sum()), len(frame)
    out["n_degenerate"], out["faint_units"] = int(frame.degenerate.sum()), float(frame.faint_units.mean())
    return pd.Series(out)


table = primary[primary.kind == "mlp"].groupby(["dataset", "setting"], sort=False).apply(summary, include_groups=False)
for key, value in report.summary_metrics(table, "mlp").items():
    glue(key, value)
shown = pd.DataFrame({
    "test acc (MSE for poly)": [stats.format_mean_std(r.test_acc, r.test_acc_std) if pd.notna(r.test_acc) else
                                stats.format_mean_std(r.test_mse, r.test_mse_std, 1, 3) for r in table.itertuples()],
    "n-cut": [stats.format_mean_std(r.ncut, r.ncut_std, 1, 3) for r in table.itertuples()],
    "shuffled mean ± std": [f"{r.shuffle_mean:.3f} ± {r.shuffle_std:.3f}" for r in table.itertuples()],
    "z": [stats.format_mean_std(r.z, r.z_std, 1, 1) for r in table.itertuples()],
    "p": [f"{r.p:.3f}" for r in table.itertuples()],
    "below every shuffle": [f"{int(r.n_significant)}/{int(r.n_networks)}" for r in table.itertuples()],
    "degenerate n-cut": [f"{int(r.n_degenerate)}/{int(r.n_networks)}" for r in table.itertuples()],
}, index=table.index)
shown

# %% [markdown]
# ## n-cut that counts dead units
# n-cut adds cut(A)/(vol(A) + ε) per cluster, with ε = 1e-8 as in the original code's `compute_ncut`
# (`src/spectral_cluster_model.py`). A unit whose connections sum below ε — a *faint* unit — is not dropped as
# isolated (its weights are tiny, not zero), and the spectral embedding divides each node's coordinates by the
# square root of its degree (as scikit-learn's `spectral_embedding` does), which throws faint units far from
# the rest: k-means gives them clusters of their own, and each such *faint cluster* adds ≈ 0 to the n-cut,
# where a cluster of live units adds up to 1. With k − 1 faint clusters the n-cut is ≈ 0 in a network without
# any modules (a test builds one). Faint units arise where a weight penalty decays a dead ReLU unit for a whole
# run: it gets no gradient from the loss, only from the penalty, and L2 under Adam shrinks its in- and outgoing
# weights geometrically. Pruning sets such weights to exactly 0, and the graph then drops the unit.
#
# The rule (`verdicts.ncut_degenerate`): a network's n-cut is *degenerate* when one of its clusters is faint
# (each network is reclustered as it was measured, same function and seed, to find them); it is shown but
# not counted as below every shuffle. In this run: {glue:text}`degenerate_rows`

# %%
glue("degenerate_rows", report.degenerate_summary(primary, table, ks[0]))
print(primary[primary.faint_units > 0].groupby(["kind", "dataset", "setting"]).agg(
    networks=("seed", "count"), faint_units=("faint_units", "mean"), faint_clusters=("faint_clusters", "sum"),
    degenerate=("degenerate", "sum")) if (primary.faint_units > 0).any() else "no faint units in any network")

# %% [markdown]
# Where the faint units are: per dataset, how many units of its networks (summed over networks) have a degree
# (the sum of their |w|) in each decade, for the plain setting and every setting with a faint unit; the dashed
# line is n-cut's ε, and the units left of it are faint. A dead unit under L2 sits tens of decades below the
# rest.

# %%
mlp_primary = primary[primary.kind == "mlp"]
n_cols = min(len(datasets), 4)
fig, axes = plt.subplots(-(-len(datasets) // n_cols), n_cols, figsize=(3.4 * n_cols, 2.7 * -(-len(datasets) // n_cols)),
                         squeeze=False, sharey=True, constrained_layout=True)
for ax in axes.flat[len(datasets):]:
    ax.set_visible(False)
for ax, dataset in zip(axes.flat, datasets):
    mine = mlp_primary[mlp_primary.dataset == dataset]
    with_faint = [s for s in settings if (mine[mine.setting == s].faint_units > 0).any()]
    for setting in dict.fromkeys([s for s in ("plain", "pruned") if s in set(mine.setting)][:1] + with_faint):
        counts = np.sum(np.stack(mine[mine.setting == setting].degree_histogram.to_list()), axis=0)
        ax.step(faint_units.DEGREE_BINS[:-1], counts, where="post", label=setting)
    ax.axvline(np.log10(faint_units.NCUT_EPSILON), ls="--", color="grey", lw=1)
    ax.set_yscale("symlog", linthresh=1)
    ax.set_title(dataset)
    ax.set_xlabel("log10 of a unit's degree")
    ax.legend(fontsize=7)
for row in axes:
    row[0].set_ylabel("units (all networks)")
fig.suptitle(f"Unit degrees of every network; the units left of the dashed line (ε = {faint_units.NCUT_EPSILON:g}) are "
             "faint")
plt.show()

# %% [markdown]
# ## Next to the published P1b results
# The authors' numbers are means over the 5 networks (10 for the cluster-gradient rows) of each row of the
# result files committed with the original code, trained 20 + 20 epochs (10 + 10 for the cluster-gradient
# rows), k = 12, 50 `layer` shuffles; the source column names each file (the paper PDFs could not be read
# offline). One table per dataset, every row of this run; a missing number (—) is one those files do not give. P1b has no greyscale-CIFAR MLP at k = 12 (P1
# studied it at k ∈ {2, 7, 10} with 320 shuffles: the `paper_p1` preset).
#
# Each row's agreement is computed by one rule (`verdicts.agreement_with_authors`): the two runs are compared
# on the side of the shuffles the networks fall (the sign of the mean z) and on whether most networks are
# below every shuffle; *agrees* when both match, *partly* when one does, *disagrees* when neither does, and
# *not comparable* where the authors give neither number.

# %%
comparable = ks[0] == 12 and shuffle_methods[0] == "layer"


def show(rows):
    display(pd.DataFrame(rows).style.format(precision=2, na_rep="—").hide(axis="index"))


comparison_rows, authors_metrics = report.authors_comparison(table, comparable)
for key, value in authors_metrics.items():
    glue(key, value)
for dataset in datasets:  # one table per dataset, in P1b's layout
    print(dataset)
    show([row for row in comparison_rows if row["dataset"] == dataset])
glue("agreement_summary", report.agreement_summary(comparison_rows))
glue("departures", report.departures(comparison_rows, table, lambda d, s: mlp_training(d, cl.regulariser_of(s)).epochs))


# %% [markdown]
# ### Pruned + L2: what the pruning phase does
# Where this run has pruned L2 networks on MNIST or Fashion-MNIST, each is pruned a second time from the same
# trained weights, with the same batches, schedule and fresh Adam, but with the L2 term (and the first layer's
# L1 term) left out of the loss while pruning (`modularity.experiments.pruning_without_l2`), and measured like
# every network. The original code keeps the term while pruning, as this chapter does: the second pruning is a
# probe of whether the rows turn on the networks as trained or on what L2 does while they are pruned, not a
# claim about how the authors pruned (their result files' training losses while pruning include an L2 term).
# Both are shown beside the authors' means, each with its agreement by the rule above; *hidden units left*
# counts the hidden units that keep an edge after pruning (mean per network). The authors' own networks of
# these rows fall on both sides of their shuffles (the z range in the departures above).

# %%
probe_keys = [(d, seed) for d in datasets if d in ("mnist", "fashion_mnist") and "pruned_l2" in settings
              for seed in range(networks)]
probe_units = [cache.Unit("clusterability/pruning_without_l2", {"dataset": d, **asdict(mlp_training(d, "l2"))},
                          seed, no_l2.run_network, (d, seed, mlp_training(d, "l2"), torch_device),
                          scope=no_l2.__name__) for d, seed in probe_keys]
probe = pd.DataFrame(no_l2.rows(dict(zip(probe_keys, cache.cached_many(probe_units)))))
if len(probe):
    probe_rows, probe_metrics, probe_text = report.probe_comparison(
        probe[(probe.k == ks[0]) & (probe.method == shuffle_methods[0])], table, comparable)
    for key, value in probe_metrics.items():
        glue(key, value)
    show(probe_rows)
    glue("pruned_l2_probe", probe_text)
else:
    glue("pruned_l2_probe", "not run at this preset (it has no pruned L2 MLPs on MNIST or Fashion-MNIST)")


# %% [markdown]
# ## Shuffled n-cuts and the true n-cut
# For every dataset and setting, the histogram pools the shuffled n-cuts of all its networks (one colour
# per network) and each network's own n-cut is a vertical line of the same colour. A line left of its whole
# histogram is a network below every shuffle.

# %%
mlp_rows = primary[primary.kind == "mlp"]
pairs = list(mlp_rows.groupby(["dataset", "setting"], sort=False).groups)
n_cols = min(len(pairs), 6)
fig, axes = plt.subplots(-(-len(pairs) // n_cols), n_cols, figsize=(2.4 * n_cols, 2.3 * -(-len(pairs) // n_cols)),
                         squeeze=False, constrained_layout=True)
palette = sns.color_palette("colorblind", networks)
for ax, (dataset, setting) in itertools.zip_longest(axes.flat, pairs, fillvalue=(None, None)):
    if dataset is None:
        ax.set_visible(False)
        continue
    for _, r in mlp_rows[(mlp_rows.dataset == dataset) & (mlp_rows.setting == setting)].iterrows():
        ax.hist(r.shuffle_ncuts, bins=15, color=palette[r.seed], alpha=0.45)
        ax.axvline(r.ncut, color=palette[r.seed], lw=2)
    ax.set_title(f"{dataset} · {setting}", fontsize=9)
    ax.set_xlabel(f"n-cut (k = {ks[0]})")
fig.suptitle(f"True n-cut (lines) vs {n_shuffles} '{shuffle_methods[0]}' shuffles per network (histograms)")
plt.show()

# %% [markdown]
# ## n-cut against z-score, one point per network
# Left and low is more clusterable; below the dashed line a network is below its shuffles' mean by more than
# two shuffle standard deviations. Where a dataset's |z| passes 10 its axis is linear within ±10 and
# logarithmic beyond (some settings reach |z| in the hundreds).

# %%
n_cols = min(len(datasets), 4)
fig, axes = plt.subplots(-(-len(datasets) // n_cols), n_cols, figsize=(3.4 * n_cols, 3.0 * -(-len(datasets) // n_cols)),
                         squeeze=False, constrained_layout=True)
legend = {}
for ax, dataset in itertools.zip_longest(axes.flat, datasets):
    if dataset is None:
        ax.set_visible(False)
        continue
    points = mlp_rows[mlp_rows.dataset == dataset]
    sns.scatterplot(data=points, x="ncut", y="z", hue="setting", style="setting", hue_order=settings,
                    style_order=settings, s=60, ax=ax)
    legend.update(zip(*reversed(ax.get_legend_handles_labels())))  # label → handle, every setting once
    ax.get_legend().remove()
    ax.axhline(-2, ls="--", color="grey", lw=1)
    if points.z.abs().max() > 10:
        ax.set_yscale("symlog", linthresh=10)
    ax.set_title(dataset)
    ax.set_xlabel(f"n-cut (k = {ks[0]})")
    ax.set_ylabel("z-score vs shuffles")
shown_settings = [s for s in settings if s in legend]
fig.legend([legend[s] for s in shown_settings], shown_settings, loc="outside right upper", title="setting")
plt.show()

# %% [markdown]
# ## The random-initialisation baseline
# Untrained 784-256×4-10 MLPs with Glorot-uniform weights, against the authors' 100 networks at k = 12
# (`notebooks/random_init_ncuts.ipynb` of the original code).

# %%
random_ncuts = cl.random_init_ncuts("mlp", random_init_networks, ks[0], mlp_settings)
random_mean, random_sd = stats.mean_std(random_ncuts)
glue("random_init_ncut", random_mean)
glue("random_init_ncut_std", random_sd)
glue("random_init_networks", random_init_networks)
theirs_random = authors.RANDOM_INIT["mlp"]
if ks[0] == 12:  # the authors' baseline is at k = 12
    glue("random_init_authors_ncut", theirs_random[0])
    glue("random_init_authors_ncut_std", theirs_random[1])
glue("random_init_summary", f"{random_mean:.3f} (sd {random_sd:.3f}, "
     f"{random_init_networks} networks, k = {ks[0]}; P1b: " + (f"{theirs_random[0]:.3f}, sd {theirs_random[1]:.3f})"
                                                             if ks[0] == 12 else "at k = 12 only)"))
print(f"random init n-cut (k = {ks[0]}): {random_ncuts.mean():.3f} ± {random_ncuts.std(ddof=1):.3f} "
      f"over {random_init_networks} networks")

# %% [markdown]
# ## Other k and null models
# Every (k, null model) the preset asks for, as the share of networks below every shuffle (the `cpu` preset
# has only the primary one; `paper_p1` adds P1's k ∈ {2, 7, 10} and the `layer_nonzero` null model, which
# keeps each layer's sparsity pattern). Where the run has P1's 320 shuffles, P1's own means for its pruned
# MLPs stand beside each row (10 networks each; the per-network tables saved in the original code's
# `notebooks/mlp-clustering-stability-different-n_clusters-K=*.ipynb`), judged by the same agreement rule as
# the P1b table. P1 trained its greyscale CIFAR-10 MLPs 20 + 40 epochs (100 + 40 with dropout); this run
# trains them {glue:text}`cifar_epochs_note`.

# %%
others, p1_metrics = report.p1_comparison(rows, (ks[0], shuffle_methods[0]), n_shuffles == authors.P1_SHUFFLES)
for key, value in p1_metrics.items():
    glue(key, value)
glue("p1_agreement_summary", report.p1_agreement_summary(others, n_shuffles))
glue("cifar_epochs_note", ", ".join(f"{s.epochs} + {s.prune_epochs} epochs {'with' if r == 'dropout' else 'without'} "
                                    "dropout" for (kind, d, r), s in networks_to_train.items()
                                    if kind == "mlp" and d == "cifar10_gray") or "not at all at this preset")
others.style.format(precision=3, na_rep="—")

# %% [markdown]
# ## P1's lesions: which clusters matter, and which depend on each other
# Filan et al.'s first paper (*Pruned Neural Networks are Surprisingly Modular*) lesions the clusters of
# pruned MLPs (original code: `notebooks/mlp-double-lesion-test.ipynb`). The whole network is clustered into
# k = {glue:text}`lesion_k` clusters; a *sub-cluster* is one cluster's units in one hidden layer. Each is
# lesioned (its units' outputs set to 0) and its test accuracy compared with {glue:text}`lesion_random`
# lesions of random same-size sets of its layer's used units. P1's taxonomy follows from the accuracy drop
# (large: at least one percentage point) and where the sub-cluster falls among the random sets: *important*
# when it costs more than every one and the drop is large, *prunable* when every random set costs more and
# the drop is small (*least important* when large), *small* at 12 units or fewer, *complete* when it is the
# whole layer. By chance alone a sub-cluster costs more than every random set with probability 1/(n + 1).
#
# Then every ordered pair of sub-clusters that are neither small nor a whole layer is lesioned twice, against
# {glue:text}`double_lesion_random` random sets each: *jointly* (both at once, against random same-size
# pairs) and *conditionally* (the first with the second already lesioned, against random sets of the first's
# layer that avoid the second). A pair *depends* when either lesion costs more than every random one (P1's
# threshold, 1/n); the map shows which. A joint lesion that includes an important sub-cluster costs more than
# random pairs whatever its partner does, so pairs with an important member depend "jointly" almost by
# construction; P1 reads the joint test against the single-lesion taxonomy for that reason, and the
# conditional test (the partner already removed) is the one that separates real dependence from one member's
# importance; the table splits the pairs by how many of the two are important alone. Accuracy here is the mean
# per-class accuracy on
# {glue:text}`lesion_test_images` test images; the networks are this chapter's pruned MLPs (plain training).

# %%
lesion_settings = p1_lesions.LesionSettings(k=lesion_k, n_single=lesion_random, n_double=double_lesion_random,
                                            test_subset=lesion_test_subset)
lesion_datasets = [d for d in datasets if d in ("mnist", "fashion_mnist")] if "pruned" in settings else []
lesion_units = {}
for dataset in lesion_datasets:
    data = cl.load_dataset(dataset, train_subset, test_subset, torch_device)
    for seed in range(min(lesion_networks, networks)):
        key = {"dataset": dataset, **asdict(mlp_settings), **asdict(lesion_settings)}
        lesion_units[dataset, seed] = cache.Unit(
            "clusterability/p1_lesions", key, seed, p1_lesions.run_network,
            (dataset, seed, mlp_settings, lesion_settings, data, torch_device), scope=p1_lesions.__name__)
p1_results = dict(zip(lesion_units, cache.cached_many(lesion_units.values())))  # on Ray: one task per network
glue("lesion_k", lesion_k)
glue("lesion_random", lesion_random)
glue("double_lesion_random", double_lesion_random)
glue("lesion_test_images", f"{lesion_test_subset:,}" if lesion_test_subset else "all 10,000")
if p1_results:
    singles = pd.DataFrame([{"dataset": d, "seed": s, **r,
                             "category": verdicts.lesion_category(r["size"], r["layer_units"], r["drop"], r["p"],
                                                                  r["n_random"])}
                            for (d, s), result in p1_results.items() for r in result["singles"]])
    taxonomy = (singles.groupby("dataset").category.value_counts().unstack(fill_value=0)
                .reindex(columns=list(verdicts.LESION_CATEGORIES), fill_value=0))
    display(taxonomy.rename_axis(columns="sub-clusters per category (all lesioned networks)"))
    judged = singles[~singles.category.isin(["complete", "small"])]
    important_by_chance = 1 / (lesion_random + 1)
    dependent_by_chance = chance.any_test_by_chance(1 / (double_lesion_random + 1), 2)
    glue("lesion_important_by_chance", important_by_chance)
    glue("double_lesion_dependent_by_chance", dependent_by_chance)
    by_importance = {key: p1_lesions.dependence_by_importance(result, {
        (r.layer, r.label) for r in singles[(singles.dataset == key[0]) & (singles.seed == key[1])
                                            & (singles.category == "important")].itertuples()})
        for key, result in p1_results.items()}
    display(pd.DataFrame(by_importance).T.rename_axis(["dataset", "seed"]).round(3))
    lesion_summary = {}  # dataset → (share important, pairs dependent, of them with no important member)
    for dataset in lesion_datasets:
        prefix = cl.METRIC_PREFIX[dataset]
        mine = judged[judged.dataset == dataset]
        lesion_summary[dataset] = (
            float((mine.category == "important").mean()) if len(mine) else float("nan"),
            float(pd.Series([r["frac_dependent"] for (d, _), r in p1_results.items() if d == dataset]).mean()),
            float(pd.Series([b["frac_dependent_0_important"] for (d, _), b in by_importance.items()
                             if d == dataset]).mean()))
        glue(f"{prefix}_lesion_frac_important", lesion_summary[dataset][0])
        glue(f"{prefix}_double_lesion_frac_dependent", lesion_summary[dataset][1])
        glue(f"{prefix}_double_lesion_frac_dependent_neither_important", lesion_summary[dataset][2])
    glue("double_lesion_frac_dependent", float(pd.Series([r["frac_dependent"] for r in p1_results.values()]).mean()))
    print(f"important by chance: {important_by_chance:.1%} of sub-clusters; a pair dependent by chance: "
          f"{dependent_by_chance:.1%} of pairs (either of two tests below every random set)")
    for (dataset, seed), result in p1_results.items():
        if not result["paired"]:
            print(f"{dataset} seed {seed}: no pair of mid-sized sub-clusters")
            continue
        names = [f"L{layer}·c{label}" for layer, label in result["paired"]]
        joint, conditional = result["joint_p"] <= 1 / double_lesion_random, result["conditional_p"] <= 1 / double_lesion_random
        notes = np.where(joint & conditional, "J C", np.where(joint, "J", np.where(conditional, "C", "")))
        plots.annotated_heatmaps({f"{dataset} seed {seed}": result["departs"].astype(float)},
                                 {f"{dataset} seed {seed}": notes}, rows={f"{dataset} seed {seed}": names},
                                 cols=names, vmin=-1, vmax=1,
                                 title=f"Sub-cluster pairs that depend on each other: row lesioned with column "
                                       f"(J joint, C conditional; {result['frac_dependent']:.0%} of pairs, "
                                       f"{dependent_by_chance:.0%} by chance)")
        plt.show()
else:
    print("no lesion analysis at this preset")

# %% [markdown]
# ## Channel graphs: the small CNN and the CIFAR-10 VGG
# One node per channel of every conv layer but the first's inputs, edges the induced 1-norm of |kernel slice|
# (what the original code computes; see the deviations page), batch norm not folded in (the original's VGG
# graph leaves it out too). The small CNN runs when `cnn_networks` > 0, the VGG when `vgg_networks` > 0 (the
# `paper` preset runs both at P1b's scale, which needs a GPU for the VGG's 200 + 50 epochs). Beside each row,
# the authors' numbers where their result files give them (`results/clustering_factors_cnn.csv`,
# `results/clustering_factors_cnn_vgg.csv`), with the same agreement rule as the MLP table. The untrained
# VGG baseline is computed at this run's width; the authors' is at full width.

# %%
channel_schedules = {
    "cnn": f"{cnn_networks} network(s) per setting, {cnn_epochs} + {cnn_prune_epochs} epochs; P1b: 5, 10 + 10",
    "vgg": f"{vgg_networks} network(s) per setting at width {vgg_width:g}, {vgg_epochs} + {vgg_prune_epochs} "
           "epochs; P1b: 5 at full width, 200 + 50"}
channel_parts = []
for kind, name in (("cnn", "small CNN"), ("vgg", "CIFAR-10 VGG")):
    kind_rows = primary[primary.kind == kind]
    if not len(kind_rows):
        print(f"no {name} at this preset")
        continue
    kind_table = kind_rows.groupby(["dataset", "setting"], sort=False).apply(summary, include_groups=False)
    shown_rows, kind_metrics = report.authors_comparison(kind_table, comparable, kind=kind)
    for key, value in (report.summary_metrics(kind_table, kind) | kind_metrics).items():
        glue(key, value)
    print(name)
    show(shown_rows)
    below = ", ".join(f"{dataset} {setting} {int(r.n_significant)}/{int(r.n_networks)}"
                      for (dataset, setting), r in kind_table.iterrows())
    channel_parts.append(f"{name} ({channel_schedules[kind]}): beside P1b's rows, {report.agreement_summary(shown_rows)}; "
                         f"networks below every shuffle: {below}")
glue("channel_summary", "; ".join(channel_parts) if channel_parts else
     "not run at this preset (cnn_networks and vgg_networks are 0; the `cpu_small_cnn`, `cpu_narrow_vgg` and `paper` "
     "presets run them)")
if vgg_networks:
    vgg_random = cl.random_init_ncuts("vgg", random_init_networks, ks[0], vgg_training)
    glue("vgg_random_init_ncut", stats.mean_std(vgg_random)[0])
    glue("vgg_random_init_authors_ncut", authors.RANDOM_INIT["vgg"][0])
    print(f"untrained VGG (width {vgg_width:g}) n-cut (k = {ks[0]}): {vgg_random.mean():.3f} ± "
          f"{vgg_random.std(ddof=1):.3f} over {random_init_networks} networks (authors, full width: "
          f"{authors.RANDOM_INIT['vgg'][0]:.3f} ± {authors.RANDOM_INIT['vgg'][1]:.3f})")

# %% [markdown]
# ## Verdict
# The claim (pruned networks, with or without dropout, are more clusterable than their shuffles) is
# *reproduced* when every pruned network of every dataset lies below every one of its shuffles, *partly
# reproduced* when that holds for some (dataset, setting) pairs, *not reproduced* when for none.

# %%
def verdict(dataset):
    return report.dataset_verdict(table, dataset, settings)


for dataset in datasets:
    glue(f"{cl.METRIC_PREFIX[dataset]}_verdict", verdict(dataset))
    print(verdict(dataset))
for dataset in set(("mnist", "fashion_mnist", "cifar10_gray")) - set(datasets):  # the datasets the text names
    glue(f"{cl.METRIC_PREFIX[dataset]}_verdict", f"{dataset} — not run at this preset")
pruned_rows = [table.loc[d].loc[s] for d in datasets for s in ("pruned", "pruned_dropout") if s in table.loc[d].index]
glue("claim_status", verdicts.claim_status([int(r.n_significant) == int(r.n_networks) for r in pruned_rows]))
other_datasets = [d for d in datasets if d not in ("mnist", "fashion_mnist", "cifar10_gray")]
glue("other_datasets_verdict", "; ".join(verdict(d) for d in other_datasets) if other_datasets else
     "not run at this preset (LINES, RANDOM, POLY and the 7 × 7 MNIST are in the `cpu_all_rows`, `paper_mlp` and "
     "`paper` presets)")
random_networks = mlp_rows[mlp_rows.dataset == "random"]
# the control's claim: networks trained on unlearnable data do *not* fall below every shuffle
glue("random_control", (f"{verdicts.claim_status(~random_networks.below_every_shuffle.astype(bool))} "
                        f"({int(random_networks.below_every_shuffle.sum())} of {len(random_networks)} RANDOM networks, "
                        "every setting, below every shuffle)") if len(random_networks) else "not run at this preset")
unpruned_authors = [authors.p1b_row(d, s) for d in ("mnist", "fashion_mnist") for s in ("plain", "dropout")]
glue("authors_unpruned", f"{sum(r.below_every_shuffle == 1 for r in unpruned_authors)} of {len(unpruned_authors)} "
     f"(plain and dropout on both datasets) with every network below every shuffle, mean z between "
     f"{max(r.z for r in unpruned_authors):.1f} and {min(r.z for r in unpruned_authors):.1f}")
if p1_results:
    lesion_parts = [f"{dataset}: {important:.0%} of the sub-clusters that are neither small nor a whole layer are "
                    f"important (chance {important_by_chance:.0%}), {dependent:.0%} of the pairs of mid-sized "
                    f"sub-clusters depend on each other (chance {dependent_by_chance:.0%}), {neither:.0%} of the "
                    "pairs in which neither sub-cluster is important alone"
                    for dataset, (important, dependent, neither) in lesion_summary.items()]
    glue("p1_lesion_verdict", "; ".join(lesion_parts) + f" — {min(lesion_networks, networks)} pruned network(s) each")
else:
    glue("p1_lesion_verdict", "not run at this preset")
glue("n_networks", networks)
glue("unpruned_epochs_note", f"its unpruned networks were trained for {epochs} of P1b's 20 epochs, and an unpruned "
     "network stays close to its random initialisation, whose n-cut (above) is near the shuffles'" if epochs < 20
     else f"its unpruned networks were trained for {epochs} epochs, as P1b's were, so training length does not "
     "explain a difference")
own_schedules = sorted({f"{d} {'with dropout ' if r == 'dropout' else ''}{s.epochs} + {s.prune_epochs}"
                        for (kind, d, r), s in networks_to_train.items()
                        if kind == "mlp" and (s.epochs, s.prune_epochs) != (epochs, prune_epochs)})
headlines = [h for h in (report.headline(table, "mnist", "MNIST", comparable),
                         report.headline(table, "fashion_mnist", "Fashion-MNIST", comparable)) if h]
glue("headline", "; ".join(headlines) if headlines else "not run at this preset")
glue("run_size", f"{networks} networks per setting, {epochs} + {prune_epochs} epochs"
     f"{' (' + ', '.join(own_schedules) + ')' if own_schedules else ''}, k = {ks[0]}, "
     f"{n_shuffles} '{shuffle_methods[0]}' shuffles per network")

# %% [markdown]
# ## What this run shows
#
# **Clusterability of pruned MLPs: {glue:text}`claim_status` at this preset.**
#
# {glue:text}`mnist_verdict`.
#
# {glue:text}`fashion_verdict`.
#
# {glue:text}`cifar10_gray_verdict`.
#
# The other datasets: {glue:text}`other_datasets_verdict`. The unlearnable-data control (the claim that
# networks trained on RANDOM images and labels do *not* become clusterable, by the same rule): {glue:text}`random_control`.
#
# Beside P1b's published rows: {glue:text}`agreement_summary`. Beside P1's rows (pruned MLPs at k = 10, 7 and 2,
# both null models): {glue:text}`p1_agreement_summary`.
#
# **Rows that depart from P1b's**, with what was checked for each: {glue:text}`departures` Every row shares
# these checks: the networks are initialised and trained with Keras's defaults (Glorot-uniform kernels, zero
# biases, Adam's ε = 1e-7), pruned on tfmot's schedule, turned into the original code's weight graph and
# compared with its `layer` shuffles; and the clustering itself gives the same n-cuts as scikit-learn's on the
# same graphs (the performance chapter). The pruned + L2 rows, pruned again without the L2 term (the probe
# above): {glue:text}`pruned_l2_probe`.
#
# For the pruned + dropout MLPs, the headline setting of the papers, the mean z-score against the shuffles:
# {glue:text}`headline`. Untrained Glorot MLPs have n-cut {glue:text}`random_init_summary`. This run used
# {glue:text}`run_size`; the P1b papers' runs used 5 networks and 20 + 20 epochs (the `paper` preset).
#
# **P1's lesions** (pruned MLPs, k = {glue:text}`lesion_k`): {glue:text}`p1_lesion_verdict`.
#
# **Channel graphs** (the small CNN and the VGG, the table above, same agreement rule): {glue:text}`channel_summary`.
#
# Where this run and P1b differ (the table above): P1b found its *unpruned* MLPs below every shuffle too (rows
# {glue:text}`authors_unpruned`). Whatever this run finds for the
# unpruned settings is in the verdicts above; {glue:text}`unpruned_epochs_note`. The pruned settings, the papers'
# headline, need no such caveat.
