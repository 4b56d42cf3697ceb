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
# # Masks against clusters: are functional modules the structural ones?
#
# **This chapter asks a question none of the three papers asks.** Csordás et al. {cite}`csordas2021modular`
# find *functional* modules: the weights a sub-task needs, learned as a binary mask over a frozen network.
# Filan et al. {cite}`filan2021clusterability` and Hod et al. {cite}`hod2022detecting` find *structural*
# modules: groups of neurons that spectral clustering of the weight graph separates, and ask whether they are
# more important or coherent than random groups. Nobody has put both on the same trained networks. Here both
# run on the same weights, and three questions are asked, each against its own null:
#
# 1. **Do clusters carry functions?** A unit is *used* by a mask when the mask keeps any of its incoming or
#    outgoing weights, so every hidden unit gets a usage pattern (used by no mask, by one task's, by the other's,
#    by both). The adjusted mutual information (AMI) between cluster membership and usage pattern is 0 for
#    unrelated groupings and 1 for identical ones; its null permutes the patterns within each layer. Beside it,
#    for every cluster, the share of its internal weights (those joining two of its units in adjacent layers)
#    each mask keeps, against the share a mask of the same per-layer densities would keep by chance.
# 2. **Do masks look like clusters?** The *subgraph cut* of a mask is the share of the |w| mass at the units it
#    uses that lies on weights it does not keep: 0 for a self-contained module. Its null is random weight sets
#    with the mask's per-layer counts.
# 3. **Does lesioning agree with masking?** For every (cluster, task), the score the task loses when the
#    cluster's hidden units are zeroed (Hod et al.'s lesion) against the share of the cluster the task's mask
#    keeps: Spearman's ρ over the pairs, against the same ρ for random unit sets of the clusters' per-layer
#    sizes.
#
# The **positive control** comes first: networks built by hand with known circuits — two disjoint circuits of
# unequal size, and the same with a third circuit that both tasks use — on which both methods must find the
# planted modules. Then the networks of the weight-mask chapters: the +/* FNN (add and mul masks) and the +/+
# FNN (pair 1 and pair 2 masks) with its copy-weight control, trained by those chapters' own code at their own
# settings. Then networks with one mask per class: the clusterability chapter's MNIST MLPs (plain, and pruned
# after dropout training) and the CIFAR-10 chapter's simple CNN. A class's mask is what the network needs for
# that class and not for the others: the weights a control mask (trained on every class) keeps and the mask
# trained without that class drops, as in the CIFAR-10 class-removal chapter. The CNN is compared at channel
# level: a channel is a unit, the weight between two channels is the summed magnitude of their kernel, and a
# mask keeps a channel pair when it keeps any weight of its kernel. Unlike the clusterability chapter's channel
# graph, which leaves out the image and the dense layers, the chain here runs from the image's three colour
# channels through every conv layer to the logits (global average pooling leaves one value per channel), so
# that every conv channel is a hidden unit that masks can use and lesions can remove.

# %% tags=["parameters"]
preset: str = ""  # in Jupyter, "smoke" takes every value below from that preset (seconds, not minutes)
seeds: int = 3  # number of seeds 0..seeds-1 per network [at least 2]
networks: list[str] = ["planted", "planted_shared", "addmul_fnn", "doubleadd_fnn", "doubleadd_fnn_copyweight", "mnist_mlp", "mnist_mlp_pruned_dropout", "cifar_cnn"]  # which networks [non-empty; one of: planted, planted_shared, addmul_fnn, doubleadd_fnn, doubleadd_fnn_copyweight, mnist_mlp, mnist_mlp_pruned_dropout, cifar_cnn]
planted_groups: list[int] = [3, 6]  # inputs of each task's own planted circuit [non-empty; at least 1]
planted_shared_inputs: int = 2  # inputs of the circuit both tasks use in `planted_shared` [at least 1]
planted_mask_steps: int = 600  # mask training steps on the planted networks [at least 1]
fnn_hidden: list[int] = [400, 400, 200]  # FNN hidden sizes, as in the add/mul and double-addition chapters [non-empty; at least 1]
addmul_base_steps: int = 8000  # +/* FNN base training steps (its chapter's cpu value) [at least 1]
addmul_mask_steps: int = 8000  # +/* mask steps per stage (its chapter's cpu value) [at least 1]
doubleadd_base_steps: int = 8000  # +/+ FNN base training steps (its chapter's cpu value) [at least 1]
doubleadd_mask_steps: int = 3000  # +/+ mask steps per stage (its chapter's cpu value) [at least 1]
mnist_hidden: list[int] = [256, 256, 256, 256]  # MNIST MLP hidden sizes, as in the clusterability chapter [non-empty; at least 1]
mnist_epochs: int = 10  # MNIST MLP training epochs (the clusterability chapter's cpu value) [at least 1]
mnist_prune_epochs: int = 10  # pruning epochs of mnist_mlp_pruned_dropout (the clusterability chapter's cpu value) [at least 1]
mnist_train_subset: int = 0  # train the MNIST MLPs and masks on the first n training images (0: all) [at least 0]
mnist_test_subset: int = 0  # score the MNIST MLPs on the first n test images (0: all) [at least 0]
class_mask_steps: int = 2000  # steps of each MNIST class mask (control and one without each class) [at least 1]
class_beta: float = 0.0001  # logit penalty of the MNIST class masks [at least 0]
cifar_width: float = 0.5  # channel multiplier of the CIFAR-10 CNN (its chapter's cpu value) [above 0]
cifar_base_steps: int = 4000  # CIFAR-10 CNN base training steps (its chapter's cpu value) [at least 1]
cifar_mask_steps: int = 2000  # CIFAR-10 mask steps per stage (its chapter's cpu value) [at least 1]
cifar_batch_size: int = 64  # CIFAR-10 base and mask batch size (its chapter's cpu value) [at least 1]
cifar_mask_lr: float = 0.01  # CIFAR-10 mask learning rate (its chapter's cpu value) [above 0]
cifar_beta: float = 0.00015  # CIFAR-10 logit penalty (its chapter's cpu value) [at least 0]
cifar_score_images: int = 2000  # CIFAR-10 class accuracies (and every lesion of the null) on the first n evaluation images (0: all 10,000) [at least 0]
k: int = 4  # spectral clusters of the trained FNNs (the planted ones use one per planted module) [at least 2]
class_k: int = 12  # spectral clusters of the networks with one mask per class (the clusterability chapter's k) [at least 2]
n_permutations: int = 1000  # permutations of the AMI null [at least 1]
n_random_sets: int = 100  # random weight sets of the subgraph-cut null [at least 1]
n_lesion_null: int = 50  # random unit sets of the lesion-against-mask null [at least 1]
device: str = "auto"  # "auto", "cpu" or "cuda" [one of: auto, cpu, cuda]

# %%
from modularity.parameters import check_notebook_parameters

check_notebook_parameters("masks_vs_clusters", globals())  # papermill and Jupyter get the runner's checks

from dataclasses import asdict

import numpy as np
import pandas as pd
import torch

from modularity import cache, chance, plots, provenance, stats, tables, verdicts
from modularity.data import arithmetic, pair_arithmetic
from modularity.experiments import addmul, cifar, doubleadd
from modularity.experiments import clusterability as cl
from modularity.experiments import masks_vs_clusters as mc
from modularity.glue import glue
from modularity.train import choose_device

torch_device = choose_device(device)
provenance.record("run", "device", str(torch_device))
if "addmul_fnn" in networks:
    arithmetic.load()  # record the generated data's checksums in the run's manifest
if {"doubleadd_fnn", "doubleadd_fnn_copyweight"} & set(networks):
    pair_arithmetic.load()
print(f"device {torch_device}, torch threads {torch.get_num_threads()}")

# %% [markdown]
# ## Every network, every seed
# Each (network, seed) is computed once and cached in the data root: the trained network and its masks (the
# +/* and +/+ networks go through the add/mul and double-addition stores), the spectral clusters, and every
# statistic with its null.

# %%
compare_settings = mc.CompareSettings(k=k, n_permutations=n_permutations, n_random_sets=n_random_sets,
                                      n_lesion_null=n_lesion_null)
mnist_settings = cl.Settings(hidden=mnist_hidden, epochs=mnist_epochs, prune_epochs=mnist_prune_epochs,
                             train_subset=mnist_train_subset, test_subset=mnist_test_subset)
class_mask_settings = mc.ClassMaskSettings(mask_steps=class_mask_steps, beta=class_beta)
planted_settings = {
    "planted": mc.PlantedSettings(groups=tuple(planted_groups), mask_steps=planted_mask_steps),
    "planted_shared": mc.PlantedSettings(groups=tuple(planted_groups), shared=planted_shared_inputs,
                                         mask_steps=planted_mask_steps)}
trained_settings = {
    "addmul_fnn": addmul.Settings("fnn", fnn_hidden, addmul_base_steps, addmul_mask_steps),
    "doubleadd_fnn": doubleadd.Settings("fnn", fnn_hidden, doubleadd_base_steps, doubleadd_mask_steps),
    "doubleadd_fnn_copyweight": doubleadd.Settings("fnn_copyweight", fnn_hidden, doubleadd_base_steps,
                                                   doubleadd_mask_steps),
    "mnist_mlp": (mnist_settings, class_mask_settings),
    "mnist_mlp_pruned_dropout": (mnist_settings, class_mask_settings),
    "cifar_cnn": (cifar.Settings("cnn", cifar_base_steps, cifar_mask_steps, width=cifar_width,
                                 batch_size=cifar_batch_size, mask_batch_size=cifar_batch_size,
                                 mask_lr=cifar_mask_lr, beta=cifar_beta), cifar_score_images)}


units = {}
for name in networks:
    settings = planted_settings.get(name) or trained_settings[name]
    if name == "cifar_cnn":
        shaped_by = asdict(settings[0]) | {"score_images": settings[1]}
    elif isinstance(settings, tuple):
        shaped_by = {"network_settings": asdict(settings[0]), "mask_settings": asdict(settings[1])}
    else:
        shaped_by = asdict(settings)
    per_class = {"class_k": class_k} if name in mc.CLASS_NETWORKS else {}
    params = {"network": name, **shaped_by, **asdict(compare_settings), **per_class, "device": torch_device.type}
    for seed in range(seeds):
        units[name, seed] = cache.Unit(f"masks_vs_clusters/{name}", params, seed, mc.run,
                                       (name, settings, compare_settings, seed, torch_device, class_k),
                                       scope=mc.__name__)
computed = dict(zip(units, cache.cached_many(units.values())))  # in order, or on Ray with --executor ray
results = {name: [computed[name, seed] for seed in range(seeds)] for name in networks}
for (name, seed), r in computed.items():
    print(f"{name} seed {seed}: scores {', '.join(f'{t} {v:.3f}' for t, v in r['task_scores'].items())}; "
          f"AMI {r['usage']['ami']:.3f} (null {r['usage']['null_mean']:.3f}, p {r['usage']['p']:.3f})")

# %% [markdown]
# ## The positive control: planted circuits
# Each planted network computes, for each task, the sum of its own group of inputs (plus the shared group's in
# `planted_shared`): every input feeds a "+" and a "−" unit, all of which feed every second-layer unit of
# their circuit, and the output adds the circuit's "+" units and subtracts its "−" ones, so every circuit
# weight is needed and no other weight matters. One mask per task is trained on that task's output alone
# (mean squared error; the score is R²). A planted module counts as *recovered* by a method when one of its
# groups — units used by the same masks, or one spectral cluster — covers the module's hidden units with a
# Jaccard index of at least 0.9.

# %%
planted_names = [n for n in networks if n in planted_settings]
recovery = pd.DataFrame([{"network": n, "seed": s, "method": method, "module": module, "recovered": found}
                         for n in planted_names for s, r in enumerate(results[n])
                         for method, flags in r["recovered"].items() for module, found in enumerate(flags)])
if len(recovery):
    display(recovery.pivot_table(index=["network", "module"], columns="method", values="recovered", aggfunc="mean")
            .rename_axis(columns="share of seeds that recover the module"))
    for method in ("masks", "clusters"):
        glue(f"planted_recovered_{method}", float(recovery[recovery.method == method].recovered.mean()))
    both = recovery.pivot_table(index=["network", "seed", "module"], columns="method", values="recovered")
    glue("planted_recovered", float((both["masks"].astype(bool) & both["clusters"].astype(bool)).mean()))
else:
    print("no planted network at this preset")

# %% [markdown]
# ## Question 1: cluster membership against mask usage
# Per network, mean over seeds of the AMI between spectral clusters and usage patterns over the hidden units,
# the mean of its permutation null, and in how many seeds the AMI beats every permutation but a 5% share
# (p < 0.05). The verdict rule, stated once (`verdicts.alignment_over_seeds`): **aligned** when every seed beats
# its null and the mean AMI is at least 0.5, **partly aligned** when at least one seed beats its null,
# **independent** when none does.

# %%
def per_seed_metrics(r):
    cut_z = [c["z"] for c in r["mask_cut"].values()]
    return {"cluster_mask_ami": r["usage"]["ami"], "cluster_mask_ami_null": r["usage"]["null_mean"],
            "cluster_mask_ami_p": r["usage"]["p"], "mask_ncut": float(np.mean([c["cut"] for c in r["mask_cut"].values()])),
            "mask_ncut_null": float(np.mean([c["null_mean"] for c in r["mask_cut"].values()])),
            "mask_ncut_z": float(np.mean(cut_z)),
            "lesion_mask_spearman": r["lesion"]["rho"], "lesion_mask_spearman_null": r["lesion"]["null_mean"],
            "lesion_mask_spearman_p": r["lesion"]["p"], "spectral_ncut": r["ncut"]}


metrics = {"n_seeds": seeds}
verdict_of = {}
for name in networks:
    per_seed = [per_seed_metrics(r) for r in results[name]]
    metrics.update({f"{name}_{key}": value for key, value in stats.summarise(per_seed).items()})
    verdict_of[name] = verdicts.alignment_over_seeds([m["cluster_mask_ami"] for m in per_seed],
                                                     [m["cluster_mask_ami_p"] for m in per_seed])
    metrics[f"{name}_seeds_beating_ami_null"] = sum(m["cluster_mask_ami_p"] < verdicts.SIGNIFICANT_AT for m in per_seed)
overview = pd.DataFrame([{
    "network": n,
    "AMI": stats.format_mean_std(metrics[f"{n}_cluster_mask_ami"], metrics[f"{n}_cluster_mask_ami_std"], 1, 3),
    "AMI null": f"{metrics[f'{n}_cluster_mask_ami_null']:.3f}",
    "seeds beating the null": f"{metrics[f'{n}_seeds_beating_ami_null']}/{seeds}",
    "verdict": verdict_of[n]} for n in networks]).set_index("network")
overview

# %% [markdown]
# ### Each cluster's internal weights in each mask, beside chance
# For every network and seed, one map: rows are the spectral clusters (largest first, with their number of
# hidden units), columns the tasks; each cell is the excess of the kept share over chance,
# (kept − chance)/(1 − chance): 0 where the mask keeps the cluster's internal weights as often as a mask of
# its densities placed at random would, 1 where it keeps all of them, negative where it avoids them. The
# annotation gives the kept share and, in brackets, its chance level.

# %%
def kept_matrix(r):
    hidden = r["labels"][1:-1]
    sizes = {c: int(sum((layer == c).sum() for layer in hidden)) for c in r["kept"][r["tasks"][0]]}
    order = sorted(sizes, key=lambda c: -sizes[c])
    excess = np.array([[chance.excess(r["kept"][t][c]["kept"], r["kept"][t][c]["chance"]) for t in r["tasks"]]
                       for c in order])
    notes = np.array([[f"{r['kept'][t][c]['kept']:.2f}\n({r['kept'][t][c]['chance']:.2f})" for t in r["tasks"]]
                      for c in order])
    return excess, notes, [f"{sizes[c]} units" for c in order]


for name in networks:
    panels = {f"seed {s}": kept_matrix(r) for s, r in enumerate(results[name])}
    fig = plots.annotated_heatmaps({p: v[0] for p, v in panels.items()}, {p: v[1] for p, v in panels.items()},
                                   rows={p: v[2] for p, v in panels.items()}, cols=results[name][0]["tasks"],
                                   title=f"{name}: kept share of each cluster's internal weights, excess over chance")

# %% [markdown]
# ## Question 2: are masks self-contained subgraphs?
# The subgraph cut of each task's mask (mean over the tasks and seeds) against random weight sets of the same
# per-layer sizes, and its z-score (negative: more self-contained than random sets).

# %%
pd.DataFrame([{"network": n, "subgraph cut": metrics[f"{n}_mask_ncut"],
               "random sets": metrics[f"{n}_mask_ncut_null"],
               "z": stats.format_mean_std(metrics[f"{n}_mask_ncut_z"], metrics[f"{n}_mask_ncut_z_std"], 1, 1)}
              for n in networks]).set_index("network").round(3)

# %% [markdown]
# ## Question 3: lesions against masks
# Every point is one (cluster, task) of one seed: the score the task loses when the cluster's hidden units are
# zeroed, against the share of the cluster's internal weights the task's mask keeps. The title gives
# Spearman's ρ (mean over seeds) and the mean ρ of random unit sets of the same per-layer sizes.

# %%
points = pd.DataFrame([{"network": n, "seed": s, "task": p["task"], "score lost": p["score_lost"],
                        "kept share": p["kept"]}
                       for n in networks for s, r in enumerate(results[n]) for p in r["lesion"]["points"]])
titles = {n: f"{n}: ρ {metrics[f'{n}_lesion_mask_spearman']:.2f}, random sets "
             f"{metrics[f'{n}_lesion_mask_spearman_null']:.2f}" for n in networks}
plots.scatter_panels(points, x="kept share", y="score lost", hue="task", panel="network", titles=titles,
                     xlabel="share of the cluster its mask keeps", ylabel="score lost when lesioned",
                     title="Lesioning a cluster against how much of it the task's mask keeps");

# %% [markdown]
# ## Numbers for the text (mean over seeds, with sample std)

# %%
for name in networks:
    m = lambda key: metrics[f"{name}_{key}"]  # noqa: E731
    text = (f"{name}: {verdict_of[name]} — AMI {m('cluster_mask_ami'):.3f} against {m('cluster_mask_ami_null'):.3f} "
            f"for permuted usage ({m('seeds_beating_ami_null')} of {seeds} seeds beat it); subgraph cut of the masks "
            f"{m('mask_ncut'):.3f} against {m('mask_ncut_null'):.3f} for random sets (z {m('mask_ncut_z'):.1f}); "
            f"lesion against mask ρ {m('lesion_mask_spearman'):.2f} against {m('lesion_mask_spearman_null'):.2f} "
            "for random unit sets")
    glue(f"{name}_verdict", text)
    print(text)
trained = [n for n in networks if n not in planted_settings]
counts = {level: sum(verdict_of[n] == level for n in trained)
          for level in ("aligned", "partly aligned", "independent", "not measurable")}
glue("answer", f"of the {len(trained)} trained networks, " + ", ".join(
    f"{count} {level}" for level, count in counts.items() if count) if trained else "no trained network was run")
for name, value in metrics.items():
    glue(name, value)
glue("run_size", f"{seeds} seeds per network; FNN hidden {fnn_hidden}; k = {k} clusters for the trained FNNs, "
     f"{class_k} for the networks with a mask per class; MNIST MLPs {mnist_hidden} trained {mnist_epochs} epochs "
     f"(pruned {mnist_prune_epochs} more), {class_mask_steps} steps per class mask; CIFAR-10 CNN of width "
     f"{cifar_width}, {cifar_base_steps} base and {cifar_mask_steps} mask steps, scored on "
     f"{cifar_score_images or 'all'} evaluation images; {n_permutations} permutations, "
     f"{n_random_sets} random weight sets and {n_lesion_null} random unit sets")
tables.metrics_table(metrics)

# %% [markdown]
# ## What the answer is at this preset
# **Are mask-found modules the spectral clusters? At this preset, {glue:text}`answer`** (by the rule stated
# above; the planted controls come first in the list).
#
# - {glue:text}`planted_verdict`
# - {glue:text}`planted_shared_verdict`
# - {glue:text}`addmul_fnn_verdict`
# - {glue:text}`doubleadd_fnn_verdict`
# - {glue:text}`doubleadd_fnn_copyweight_verdict`
# - {glue:text}`mnist_mlp_verdict`
# - {glue:text}`mnist_mlp_pruned_dropout_verdict`
# - {glue:text}`cifar_cnn_verdict`
#
# On the planted networks, masks recover {glue:text}`planted_recovered_masks:.0%` and spectral clusters
# {glue:text}`planted_recovered_clusters:.0%` of the planted modules (both together
# {glue:text}`planted_recovered:.0%`, over modules and seeds): where both methods find the planted modules, a
# trained network on which they disagree disagrees for a reason of its own, not because either method is
# blind. On the trained FNNs, read the verdict with its two neighbours: an AMI near its null says that the
# clusters do not split the units the way the masks use them, the subgraph cut says whether a mask is a
# self-contained piece of the network at all, and the lesion ρ says whether the clusters a task's mask keeps
# are the ones whose removal costs that task.
#
# This run used {glue:text}`run_size`. The `paper` preset trains the FNNs at the size and step counts of the
# weight-mask paper (2000×4, 20,000 base and mask steps, 10 seeds), the MNIST MLPs for P1b's 20 + 20 epochs and
# the CIFAR-10 CNN at full width for 20,000 steps, where the masks are closer to binary and the clusters of a
# wider network may separate the tasks more clearly; it has not been run (see the deviations page).
