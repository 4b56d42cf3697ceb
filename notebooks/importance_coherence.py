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
# # Importance and coherence of neuron clusters
#
# **Claim under test** (Hod, Casper, Filan et al., *Detecting Modularity in Deep Neural Networks* /
# *Quantifying Local Specialization*; original code `thestephencasper/local_specialization`): the groups of neurons that
# spectral clustering finds — from the weights alone or from correlations of activations, over the whole
# network or layer by layer — are **important** (lesioning them hurts accuracy more, and more
# class-specifically, than lesioning random groups of the same size from the same layer) and **coherent**
# (their units respond to common input features) more often than chance.
#
# The unit of analysis is a *sub-cluster*: the units of one cluster within one hidden layer, kept when it
# has at least 2 units and at most 99% of the layer. Each is compared with random same-size sets from the
# same layer (19 by default, so the smallest attainable percentile is 1/20 = 5%); a sub-cluster counts as
# significant on a statistic when it is more extreme than **every** random set. With no structure, that
# happens to at most 1/(n+1) of sub-clusters — the chance level drawn on every plot.
#
# The statistics, and where each number comes from:
# - **important**: mean per-class test accuracy after the lesion is lower than for every random set;
# - **class-specific**: the range of the per-class accuracy changes, normalised by their mean, is larger
#   (P2's statistic); and, an extension of ours, the largest drop of any single class is larger
#   (`frac_specific_max_drop`);
# - **coherent (feature visualisation)**: an input optimised for 65 Adam steps to maximise
#   Σ|pre-activation| of the set reaches a higher objective (`frac_coherent`), and the network's prediction
#   on it has lower entropy (`frac_coherent_entropy`);
# - **coherent (dataset examples)**, an input-based proxy with no optimisation: the 10 training images
#   that drive the set most have a lower-entropy label histogram (`frac_coherent_examples`).

# %% tags=["parameters"]
preset: str = ""  # in Jupyter, "smoke" takes every value below from that preset (seconds, not minutes)
datasets: list[str] = ["mnist", "fashion_mnist"]  # mnist, fashion_mnist; the first is the primary one [non-empty; one of: mnist, fashion_mnist]
settings: list[str] = ["pruned_dropout", "plain"]  # network settings; the first is the primary one [non-empty; one of: plain, dropout, l1, pruned, pruned_dropout, pruned_l1]
networks: int = 3  # networks (seeds 0..networks-1) per dataset and setting (P2: 5) [at least 1]
hidden: list[int] = [256, 256, 256, 256]  # MLP hidden layers (papers: 4 × 256) [non-empty; at least 1]
epochs: int = 10  # training epochs (papers: 20) [at least 1]
prune_epochs: int = 10  # pruning epochs for the pruned settings (papers: 20) [at least 1]
batch_size: int = 128  # batch size (papers: 128) [at least 1]
dropout: float = 0.5  # dropout after each hidden layer in the dropout settings (papers: 0.5) [at least 0; below 1]
train_subset: int = 0  # use only the first n training images (0: all) [at least 0]
k: int = 12  # clusters per partition (P2 small networks: 16; early P2: 12) [at least 2]
partitions: list[str] = ["weight_global", "weight_local", "activation_global", "activation_local"]  # partitions to test [non-empty; one of: weight_global, weight_local, activation_global, activation_local]
n_random: int = 19  # random same-size sets per sub-cluster (P2: 19) [at least 1]
test_subset: int = 2000  # test images for the lesions (0: all 10,000) [at least 0]
activation_examples: int = 5000  # training images for activation correlations and dataset examples (P2: 5000) [at least 1]
vis_steps: int = 65  # feature-visualisation Adam steps (P2: 65) [at least 1]
vis_lr: float = 0.05  # feature-visualisation learning rate (P2: 0.05) [above 0]
cnn_networks: int = 0  # small MNIST CNNs analysed at channel level (P2: 5); 0 skips them [at least 0]
cnn_epochs: int = 10  # small-CNN training epochs, as in the clusterability chapter (P1b, P2: 10) [at least 1]
cnn_prune_epochs: int = 10  # not used here (Hod et al. analyse unpruned CNNs): the clusterability chapter's small-CNN pruning epochs at the same preset, so that its trained CNNs are reused, not trained again [at least 1]
vgg_networks: int = 0  # CIFAR-10 VGGs (dropout + L2, P2's main VGG) analysed at channel level (P2: 5); 0 skips them [at least 0]
vgg_width: float = 1.0  # channel multiplier of the VGG (P2: 1; a CPU trains a narrower copy) [above 0]
vgg_epochs: int = 200  # VGG training epochs (P2: 200) [at least 1]
vgg_prune_epochs: int = 50  # not used here (Hod et al. analyse unpruned VGGs): the clusterability chapter's VGG pruning epochs at the same preset, so that its trained VGGs are reused, not trained again [at least 1]
device: str = "auto"  # "auto", "cpu" or "cuda" [one of: auto, cpu, cuda]

# %%
from modularity.parameters import check_notebook_parameters

check_notebook_parameters("importance_coherence", globals())  # papermill and Jupyter get the runner's checks

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from modularity import cache, lesions, provenance, verdicts, plots
from dataclasses import replace

from modularity.experiments import channel_faint
from modularity.experiments import channel_importance as ci
from modularity.experiments import clusterability as cl
from modularity.experiments import importance as imp
from modularity.glue import glue
from modularity.train import choose_device

torch_device = choose_device(device)
provenance.record("run", "device", str(torch_device))
unknown = (set(partitions) - set(imp.PARTITIONS)) | (set(settings) - set(cl.SETTINGS))
assert not unknown, f"unknown partition or setting {sorted(unknown)}; partitions: {imp.PARTITIONS}"
assert set(datasets) <= {"mnist", "fashion_mnist"}, "the MLP chapters use mnist and fashion_mnist"
mlp_settings = cl.Settings(hidden=hidden, epochs=epochs, prune_epochs=prune_epochs, batch_size=batch_size,
                           dropout=dropout, train_subset=train_subset)
print(f"device {torch_device}, torch threads {torch.get_num_threads()}")

# %% [markdown]
# ## Networks, partitions and the tests of every sub-cluster
# Networks are trained as in the clusterability chapter (and share its cache). For each network and
# partition, every sub-cluster is lesioned together with its random sets in one batched pass, visualised,
# and ranked on dataset examples; results are cached per network in the data root.

# %%
units = {}
for dataset in datasets:
    data = cl.load_dataset(dataset, train_subset, 0, torch_device)
    for setting, seed in itertools.product(settings, range(networks)):
        params = {"dataset": dataset, "setting": setting, "training": vars(mlp_settings), "k": k,
                  "partitions": partitions, "n_random": n_random, "test_subset": test_subset,
                  "activation_examples": activation_examples, "vis_steps": vis_steps, "vis_lr": vis_lr}
        units[dataset, setting, seed] = cache.Unit(
            "importance_coherence", params, seed, imp.run_network,
            (dataset, setting, seed, mlp_settings, data, torch_device, partitions, k, n_random, test_subset,
             activation_examples, vis_steps, vis_lr), scope=imp.__name__)
results = dict(zip(units, cache.cached_many(units.values())))  # in order, or on Ray with --executor ray
for (dataset, setting, seed), r in results.items():
    print(f"{dataset} {setting} seed {seed}: base accuracy {r['base_acc'].mean():.3f}, {len(r['records'])} sub-clusters")

rows = pd.DataFrame([{"dataset": d, "setting": s, "seed": seed, **r}
                     for (d, s, seed), out in results.items() for r in out["records"]])
chance = 1 / (n_random + 1)
for column, p in [("important", "p_mean"), ("specific", "p_range"), ("specific_max_drop", "p_max_class_drop"),
                  ("coherent", "p_score"),
                  ("coherent_entropy", "p_entropy"), ("coherent_examples", "p_examples")]:
    rows[column] = np.isclose(rows[p], chance)
glue("chance_level", chance)

# %% [markdown]
# ## Proportion of sub-clusters significant, against chance
# Pooled over the networks of each dataset and setting. The dashed line is the chance level 1/(n+1): the
# most a sub-cluster with no special role could reach.

# %%
STATS = ["important", "specific", "specific_max_drop", "coherent", "coherent_entropy", "coherent_examples"]
fractions = rows.groupby(["dataset", "setting", "partition"], sort=False)[STATS].mean()
fractions["n_clusters"] = rows.groupby(["dataset", "setting", "partition"], sort=False).size()
primary = (datasets[0], settings[0])
for (dataset, setting, kind), r in fractions.iterrows():
    prefix = kind if (dataset, setting) == primary else f"{dataset}_{setting}_{kind}"
    for column in STATS:
        glue(f"{prefix}_frac_{column}", float(r[column]))
    glue(f"{prefix}_n_clusters", int(r["n_clusters"]))

long = fractions[STATS].reset_index().melt(id_vars=["dataset", "setting", "partition"], var_name="statistic",
                                           value_name="fraction significant")
long["statistic"] = long["statistic"].str.replace("_", "\n")  # two-line tick labels: they do not collide
grid = sns.catplot(data=long, x="statistic", y="fraction significant", hue="partition", col="setting",
                   row="dataset", kind="bar", height=2.8, aspect=1.7, hue_order=partitions,
                   row_order=datasets, col_order=settings)
grid.set_titles(row_template="{row_name}", col_template="{col_name}")
for ax in grid.axes.flat:
    ax.axhline(chance, ls="--", color="black", lw=1)
    ax.tick_params(axis="x", labelsize=8)
grid.figure.suptitle(f"Sub-clusters more extreme than all {n_random} random sets (dashed: chance {chance:.0%})",
                     y=1.02)
plt.show()
fractions.round(3)

# %% [markdown]
# ## Combining the evidence per network and across networks
# For every network, the mid-rank percentiles of its sub-clusters are combined with Fisher's method; the
# Fisher p-values of the networks are combined with the Bates (Irwin–Hall mean) distribution; then
# Benjamini–Hochberg at FDR 5% runs over the whole table. `*` marks the entries it rejects.

# %%
P_COLUMNS = {"important": "p_mean", "specific": "p_range", "specific_max_drop": "p_max_class_drop",
             "coherent": "p_score",
             "coherent_entropy": "p_entropy", "coherent_examples": "p_examples"}
combined = []
for (dataset, setting, kind), group in rows.groupby(["dataset", "setting", "partition"], sort=False):
    entry = {"dataset": dataset, "setting": setting, "partition": kind}
    for name, column in P_COLUMNS.items():
        per_network = [lesions.fisher([lesions.midrank(p, n_random) for p in g[column]])
                       for _, g in group.groupby("seed")]
        entry[name] = lesions.bates_cdf(float(np.mean(per_network)), len(per_network))
    combined.append(entry)
combined = pd.DataFrame(combined).set_index(["dataset", "setting", "partition"])
reject, critical = lesions.benjamini_hochberg(combined.to_numpy().ravel(), 0.05)
marks = np.where(reject.reshape(combined.shape), "*", "")
display(combined.map(lambda p: f"{p:.2g}") + marks)
print(f"Benjamini–Hochberg critical p: {critical:.3g}")
glue("bh_critical_p", critical)
glue("bh_n_rejected", int(reject.sum()))
glue("bh_n_tests", int(reject.size))

# %% [markdown]
# ## Per sub-cluster: the lesion against its random sets
# For the primary networks and the weight-based global partition: each column is a sub-cluster (layer ·
# label), the dots are the accuracy drops of its random same-size sets, the red mark its own drop.

# %%
first = rows[(rows.dataset == primary[0]) & (rows.setting == primary[1]) & (rows.seed == 0)
             & (rows.partition == partitions[0])].sort_values(["layer", "label"])
fig, ax = plt.subplots(figsize=(min(9.5, max(6, 0.25 * len(first))), 3.6), constrained_layout=True)
for i, r in enumerate(first.itertuples()):
    ax.scatter(np.full(len(r.random_acc_drops), i), r.random_acc_drops, s=8, color="grey", alpha=0.6)
    ax.scatter([i], [r.acc_drop], s=40, color="red" if r.important else "darkred", marker="_" if not r.important
               else "*")
ax.set_xticks(range(len(first)), [f"{r.layer}·{r.label}" for r in first.itertuples()], rotation=90, fontsize=7)
ax.set_ylabel("mean accuracy drop")
ax.set_title(f"{primary[0]} {primary[1]}, network 0, {partitions[0]}: red = the sub-cluster (star: below all random sets)")
plt.show()

# %% [markdown]
# ## Class-specific drop profiles and visualised inputs of the most important sub-clusters
# The six sub-clusters of the primary networks (all partitions) whose lesion costs the most accuracy: how
# much each class loses, and the input optimised to drive each of them.

# %%
top = rows[(rows.dataset == primary[0]) & (rows.setting == primary[1])].nlargest(6, "acc_drop")
profile = np.stack(top.class_drops.to_numpy())
fig, axes = plt.subplots(2, len(top), figsize=(1.55 * len(top), 4.4), constrained_layout=True,
                         gridspec_kw={"height_ratios": [1.3, 1]}, squeeze=False)
for j, r in enumerate(top.itertuples()):
    axes[0, j].bar(range(10), profile[j], color=["red" if v == profile[j].max() else "grey" for v in profile[j]])
    axes[0, j].set_title(f"{r.partition.replace('_', ' ')}\nseed {r.seed} layer {r.layer} · {r.size} units", fontsize=7)
    axes[0, j].set_xticks(range(10))
    axes[0, j].tick_params(labelsize=6)
    axes[1, j].imshow(np.asarray(r.image).reshape(28, 28), cmap="gray", vmin=0, vmax=1)
    axes[1, j].axis("off")
axes[0, 0].set_ylabel("accuracy drop per class")
fig.suptitle("Top: per-class accuracy drop when lesioned. Bottom: input optimised to drive the sub-cluster")
plt.show()

# %% [markdown]
# ## Channel clusters: the small CNN and the CIFAR-10 VGG
# Hod et al. run the same tests on CNNs with channels for units: the partition is spectral clustering of the
# channel graph (the clusterability chapter's: every conv layer's channels, weighted by the kernels), a
# sub-cluster is one cluster's channels in one conv layer, a lesion sets those channels' conv outputs to 0,
# feature visualisation drives the absolute spatial mean of their outputs, and dataset examples rank training
# images by each channel's largest column sum of its |output| map. The networks are the clusterability
# chapter's (same training, same per-seed store), unpruned as in the paper: the small CNN trained plainly on
# MNIST, the VGG with dropout and L2 on CIFAR-10. Only the weight-based global partition is tested here.
# L2 under Adam decays a dead channel's kernels towards zero without reaching it (the clusterability chapter's
# faint units); such *faint* channels stay in the graph and can form sub-clusters of their own, whose lesion
# costs nothing. Each network's faint channels and the sub-clusters made only of them are counted beside the
# shares (`faint_sub_clusters`).

# %%
# both as the clusterability chapter trains them, so that their cache keys are the same
cnn_training = replace(mlp_settings, epochs=cnn_epochs, prune_epochs=cnn_prune_epochs, batch_size=64)
vgg_training = cl.VGGSettings(width=vgg_width, epochs=vgg_epochs, prune_epochs=vgg_prune_epochs,
                               train_subset=train_subset)
channel_networks = [("cnn", "mnist", "none", cnn_networks, cnn_training),
                    ("vgg", "cifar10", "dropout_l2", vgg_networks, vgg_training)]
channel_units, faint_channel_units = {}, {}
for kind, dataset, regulariser, count, training in channel_networks:
    data = cl.load_dataset(dataset, train_subset, 0, torch_device) if count else None
    if count:
        imp.evaluation_set(data[2], data[3], test_subset)  # warns, before any training, of a subset missing a class
    for seed in range(count):
        params = {"kind": kind, "dataset": dataset, "regulariser": regulariser, "training": vars(training), "k": k,
                  "n_random": n_random, "test_subset": test_subset, "activation_examples": activation_examples,
                  "vis_steps": vis_steps, "vis_lr": vis_lr}
        channel_units[kind, dataset, seed] = cache.Unit(
            "importance_coherence/channels", params, seed, ci.run_network,
            (kind, dataset, regulariser, seed, training, data, torch_device, k, n_random, test_subset,
             activation_examples, vis_steps, vis_lr), scope=ci.__name__)
        faint_channel_units[kind, dataset, seed] = cache.Unit(
            "importance_coherence/channel_faint", {key: params[key] for key in ("kind", "dataset", "regulariser",
                                                                                "training", "k")},
            seed, channel_faint.run_network, (kind, dataset, regulariser, seed, training, torch_device, k),
            scope=channel_faint.__name__)
channel_results = dict(zip(channel_units, cache.cached_many(channel_units.values())))
channel_verdicts = []
faint_channel_results = dict(zip(faint_channel_units, cache.cached_many(faint_channel_units.values())))
if channel_results:
    channel_rows = pd.DataFrame([{"network": kind, "dataset": d, "seed": seed, **r,
                                  "faint": faint_channel_results[kind, d, seed]["faint_by_sub_cluster"][
                                      r["layer"], r["label"]]}
                                 for (kind, d, seed), out in channel_results.items() for r in out["records"]])
    for column, p in [("important", "p_mean"), ("specific", "p_range"), ("coherent", "p_score"),
                      ("coherent_entropy", "p_entropy"), ("coherent_examples", "p_examples")]:
        channel_rows[column] = np.isclose(channel_rows[p], chance)
    by_partition = channel_rows.groupby(["network", "dataset", "partition"], sort=False)[
        ["important", "specific", "coherent", "coherent_entropy", "coherent_examples"]]
    channel_fractions, channel_counts = by_partition.mean(), by_partition.sum()
    channel_fractions["n_clusters"] = by_partition.size()
    channel_fractions["faint_sub_clusters"] = (channel_rows.faint == channel_rows["size"]).groupby(
        [channel_rows.network, channel_rows.dataset, channel_rows.partition], sort=False).sum()
    faint_channels = pd.Series([out["faint_channels"] for out in faint_channel_results.values()],
                               index=pd.MultiIndex.from_tuples([key[:2] for key in faint_channel_results]))
    for (kind, dataset, partition), r in channel_fractions.iterrows():
        for column in ("important", "coherent", "coherent_examples"):
            glue(f"{kind}_{dataset}_{partition}_frac_{column}", float(r[column]))
        glue(f"{kind}_{dataset}_{partition}_n_clusters", int(r["n_clusters"]))
        n_faint = int(faint_channels[kind, dataset].sum())
        glue(f"{kind}_{dataset}_faint_channels", n_faint)
        n = int(r.n_clusters)
        above = {column: verdicts.above_chance(int(channel_counts.loc[(kind, dataset, partition), column]), n, chance)
                 for column in ("important", "coherent")}
        channel_verdicts.append(
            f"{kind.upper()} on {dataset}: {r.important:.0%} of {n} channel sub-clusters important (above chance: "
            f"{above['important']}), {r.coherent:.0%} coherent by feature visualisation (above chance: "
            f"{above['coherent']}), {r.coherent_examples:.0%} by dataset examples (chance {chance:.0%}); {n_faint} "
            f"faint channels in its networks, {int(r.faint_sub_clusters)} sub-clusters made only of them")
        glue(f"{kind}_{dataset}_verdict", channel_verdicts[-1])
    display(channel_fractions.round(3).rename_axis(columns=f"share more extreme than all {n_random} random sets"))
channel_summary = ("; ".join(channel_verdicts) if channel_verdicts
                   else "not run at this preset (no small CNN or VGG: cnn_networks and vgg_networks are 0)")
glue("channel_summary", channel_summary)
print("channel clusters:", channel_summary)

# %% [markdown]
# ## Verdict
# Per partition of the primary set, the share of sub-clusters that beat all their random sets is *above chance*
# when a one-sided binomial test against the chance level 1/(n+1) rejects at 5% (`modularity.verdicts`).
# Importance (or coherence by feature visualisation) is *reproduced* when it is above chance for every
# partition, *partly reproduced* when for some.

# %%
def verdict(kind):
    r = fractions.loc[(primary[0], primary[1], kind)]
    return (f"{kind.replace('_', ' ')}: {r.important:.0%} of {int(r.n_clusters)} sub-clusters important, "
            f"{r.specific:.0%} class-specific by P2's range statistic ({r.specific_max_drop:.0%} by the largest "
            f"single-class drop), {r.coherent:.0%} coherent by feature visualisation "
            f"({r.coherent_entropy:.0%} by prediction entropy), {r.coherent_examples:.0%} by dataset examples")


for kind in partitions:
    glue(f"{kind}_verdict", verdict(kind))
    print(verdict(kind))
primary_rows = rows[(rows.dataset == primary[0]) & (rows.setting == primary[1])]
importance_parts, coherence_parts = [], []
for kind in partitions:
    sub = primary_rows[primary_rows.partition == kind]
    importance_parts.append(verdicts.above_chance(sub.important.sum(), len(sub), chance))
    coherence_parts.append(verdicts.above_chance(sub.coherent.sum(), len(sub), chance))
glue("importance_status", verdicts.claim_status(importance_parts))
glue("coherence_status", verdicts.claim_status(coherence_parts))
glue("claim_status", verdicts.claim_status(importance_parts + coherence_parts))
glue("primary_set", f"{primary[0]} MLPs, {primary[1].replace('_', ' + ')}, {networks} networks")
glue("run_size", f"{networks} networks per dataset and setting, {epochs} + {prune_epochs} epochs, k = {k}, "
     f"{n_random} random sets, lesions on {test_subset or 10000} test images")

# %% [markdown]
# ## What this run shows
# **Importance: {glue:text}`importance_status`; coherence (feature visualisation):
# {glue:text}`coherence_status` — at this preset.**
#
# For the primary set ({glue:text}`primary_set`), against a chance level of {glue:text}`chance_level:.0%`:
#
# - {glue:text}`weight_global_verdict`;
# - {glue:text}`weight_local_verdict`;
# - {glue:text}`activation_global_verdict`;
# - {glue:text}`activation_local_verdict`.
#
# Channel clusters (weight-based global partition, same chance level and test): {glue:text}`channel_summary`.
#
# **Why P2's class-specificity statistic rarely fires.** The range statistic divides the spread of the
# per-class accuracy changes by their mean, so it does not depend on how large the changes are: a lesion that
# wipes out one class entirely (changes −1, 0, …, 0: range 1 / 0.1 = 10) scores exactly as high as a random
# set that flips a single test image of one class (−0.005, 0, …, 0: also 10), and a random set whose few
# flips cancel out on average scores ∞. The profiles above show sub-clusters that remove one class almost
# completely, yet the range statistic cannot rank them above their random sets. The largest single-class
# drop keeps the scale; the `specific_max_drop` bars show how often it ranks a sub-cluster above all of its
# random sets.
#
# Combined per network (Fisher) and across networks (Bates), Benjamini–Hochberg at 5% rejects
# {glue:text}`bh_n_rejected` of {glue:text}`bh_n_tests` null hypotheses in the table above. This run used
# {glue:text}`run_size`. Activation-based partitions group units whose pre-activations are correlated on
# training images, so some coherence on real inputs is expected of them by construction; the weight-based
# partitions see no data at all.
