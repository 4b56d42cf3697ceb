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
# # ImageNet models: clusterability of ResNet-18 and VGG16, where you have the weights
#
# Filan et al. (*Clusterability in Neural Networks*, the ImageNet rows of the clusterability table; original
# code: `get_conv_weight_connections` and `results/clustering_factors_imagenet.csv` in
# `dfilan/clusterability_in_neural_networks`) find pretrained ImageNet CNNs more clusterable than their
# shuffles: VGG-16 far below every shuffle, ResNet-18 just below.
#
# **The published page does not test that claim**: the pretrained weights need a download, and the book is built
# offline. It runs the same pipeline on **untrained** networks of the same architectures (torchvision's
# initialisation), which says what the graph construction and the null give before any training. With
# torchvision's ImageNet weights on disk (`resnet18-*.pth` and `vgg16-*.pth` in torch's hub folder,
# `~/.cache/torch/hub/checkpoints` unless `TORCH_HOME` says otherwise, where `torchvision.models.resnet18(weights=
# "DEFAULT")` downloads them), the `pretrained` preset computes the paper's rows, and the table puts the authors'
# numbers beside them.
#
# The graph: one node per channel of every tensor a convolution reads; each convolution joins the channels it
# reads to those of every tensor its output reaches before the next convolution — through activations,
# pooling, batch normalisation (folded: each output channel scaled by γ/√(σ²+ε)) and the residual additions,
# so a ResNet's shortcuts add edges that skip a block; each edge weighs the induced 1-norm of its kernel
# slice. The image's channels and the dense layers are left out. Such a graph is not layered, so it is
# clustered as a general graph (ARPACK's top-k eigenvectors of the normalised adjacency, then k-means); the
# null model permutes each convolution's kernel norms and rebuilds the graph.

# %% tags=["parameters"]
preset: str = ""  # in Jupyter, "smoke" takes every value below from that preset (seconds, not minutes)
models: list[str] = ["resnet18", "vgg16"]  # ImageNet architectures [non-empty; one of: resnet18, vgg16]
pretrained: bool = False  # torchvision's ImageNet weights from torch's hub folder (TORCH_HOME); False: untrained
k: int = 12  # clusters (P1b: 12) [at least 2]
n_shuffles: int = 19  # layer shuffles per model (P1b: 100) [at least 1]
seed: int = 0  # seed of the untrained weights and of the clustering [at least 0]
images: str = ""  # a folder of labelled ImageNet images, one sub-folder per class (valprep.sh's layout), for Hod et al.'s importance test; "" skips it [empty or a folder]
images_per_class: int = 10  # images of each class the lesions are scored on [at least 1]
image_size: int = 224  # side of the centre crop the images are scored at (torchvision's models: 224) [at least 32]
importance_k: int = 32  # clusters of the importance test (P2 on ImageNet: 32) [at least 2]
n_random: int = 19  # random same-size channel sets per sub-cluster (P2: 19) [at least 1]

# %%
from modularity.parameters import check_notebook_parameters

check_notebook_parameters("imagenet_models", globals())  # papermill and Jupyter get the runner's checks

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from modularity import authors, cache, provenance, verdicts
from modularity.experiments import imagenet
from modularity.glue import glue

provenance.record("run", "device", "cpu")
weights = {name: imagenet.find_weights(name, imagenet.hub_checkpoints() if pretrained else "") for name in models}
for name, path in weights.items():
    print(f"{name}: {'pretrained weights ' + str(path) if path else 'untrained (torchvision initialisation)'}")

# %% [markdown]
# ## Each network against its shuffles

# %%
units = [cache.Unit("imagenet_models", {"model": name, "weights": path.name if path else "untrained", "k": k,
                                        "n_shuffles": n_shuffles}, seed, imagenet.run_model,
                    (name, str(path) if path else None, k, n_shuffles, seed), scope=imagenet.__name__)
         for name, path in weights.items()]
results = dict(zip(models, cache.cached_many(units)))

rows = []
for name, r in results.items():
    theirs = authors.P1B_IMAGENET[name] if r["pretrained"] else None
    rows.append({"model": name, "weights": "pretrained" if r["pretrained"] else "untrained",
                 "channels": r["n_nodes"], "n-cut": r["ncut"], "shuffle mean": r["shuffle_mean"],
                 "shuffle std": r["shuffle_std"], "z": r["z"], "p": r["p"],
                 "below every shuffle": r["below_every_shuffle"],
                 "authors' n-cut": theirs.ncut if theirs else None,
                 "authors' shuffle mean": theirs.shuffle_mean if theirs else None,
                 "authors' z": theirs.z if theirs else None,
                 "agreement": verdicts.agreement_with_authors(r["z"], float(r["below_every_shuffle"]), theirs.z,
                                                              theirs.below_every_shuffle) if theirs
                 else "not comparable (untrained)"})
    for key in ("ncut", "shuffle_mean", "shuffle_std", "z", "p"):
        glue(f"{name}_{key}", r[key])
    glue(f"{name}_below_every_shuffle", r["below_every_shuffle"])
    glue(f"{name}_pretrained", r["pretrained"])
    glue(f"{name}_n_nodes", r["n_nodes"])
table = pd.DataFrame(rows)
display(table.round(4))
print("authors' rows: " + authors.IMAGENET_SOURCE)

fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.2), squeeze=False)
for ax, (name, r) in zip(axes[0], results.items()):
    ax.hist(r["shuffle_ncuts"], bins=min(15, len(set(r["shuffle_ncuts"].round(6)))), color="0.7", label=f"{len(r['shuffle_ncuts'])} layer shuffles")
    ax.axvline(r["ncut"], color="C3", label=f"the network ({'pretrained' if r['pretrained'] else 'untrained'})")
    ax.set(title=name, xlabel=f"n-cut (k = {k})", ylabel="shuffles")
    ax.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# ## What this run shows
# A network counts as more clusterable than its shuffles when its n-cut is below every shuffle's
# (p = 1/(n + 1), the smallest p that n shuffles can give).

# %%
parts = []
for name, r in results.items():
    state = "pretrained" if r["pretrained"] else "untrained"
    side = "below every shuffle" if r["below_every_shuffle"] else "not below every shuffle"
    parts.append(f"{name} ({state}, {r['n_nodes']:,} channels): n-cut {r['ncut']:.3f} against "
                 f"{r['shuffle_mean']:.3f} ± {r['shuffle_std']:.3f} for its shuffles (z {r['z']:.1f}, p {r['p']:.3f}): "
                 f"{side}")
any_pretrained = any(r["pretrained"] for r in results.values())
summary = "; ".join(parts) + "." + ("" if any_pretrained else (
    " These are untrained networks, so this run does not test the paper's claim about pretrained ones: with "
    "the weights on disk, the `pretrained` preset does."))
glue("summary", summary)
print(summary)

theirs = "; ".join(f"{name}: n-cut {row.ncut:.3f} against {row.shuffle_mean:.3f} for its shuffles (z {row.z:.1f})"
                   for name, row in authors.P1B_IMAGENET.items())
glue("authors_rows", f"{theirs}, each below all of its 100 shuffles ({authors.IMAGENET_SOURCE})")

# %% [markdown]
# {glue:text}`summary`
#
# The authors' pretrained rows, for comparison when the `pretrained` preset has run: {glue:text}`authors_rows`.
#
# ## Importance of channel clusters (Hod et al.), where you have ImageNet images
# Hod et al. (*Detecting Modularity in Deep Neural Networks*; original code `thestephencasper/local_specialization`)
# lesion the channel sub-clusters of ImageNet networks as they do those of MLPs: the network's channel graph is
# clustered (k = 32 on ImageNet), a sub-cluster is one cluster's channels within one tensor that convolutions
# read (a residual stream counts), and it is *important* when closing its channels lowers mean per-class
# accuracy more than closing any of its random same-size channel sets. Closing acts on the traced graph, so a
# residual stream's channels can be closed where no module outputs them. The test needs labelled ImageNet
# images, which the book does not have offline: give the `images` parameter a folder laid out as ImageNet's
# validation set (one sub-folder per class, named by its WordNet id) to run it, on the pretrained weights
# where the `pretrained` switch finds them.

# %%
if images:
    importance_units = [cache.Unit("imagenet_models/importance",
                                   {"model": name, "weights": path.name if path else "untrained", "k": importance_k,
                                    "n_random": n_random, "images": images, "images_per_class": images_per_class,
                                    "image_size": image_size},
                                   seed, imagenet.run_importance,
                                   (name, str(path) if path else None, images, images_per_class, importance_k,
                                    n_random, seed, image_size), scope=imagenet.__name__)
                        for name, path in weights.items()]
    importance_results = dict(zip(models, cache.cached_many(importance_units)))
    chance = 1 / (n_random + 1)
    importance_parts = []
    for name, r in importance_results.items():
        important = [bool(np.isclose(record["p_mean"], chance)) for record in r["records"]]
        share = float(np.mean(important)) if important else float("nan")
        glue(f"{name}_frac_important", share)
        importance_parts.append(f"{name}: {sum(important)} of {len(important)} channel sub-clusters important "
                                f"({share:.0%}; chance {chance:.0%}; above chance: "
                                f"{verdicts.above_chance(sum(important), len(important), chance)})")
    glue("importance_summary", "; ".join(importance_parts))
else:
    glue("importance_summary", "not run: no ImageNet images were given (the `images` parameter)")
print("importance:", "; ".join(importance_parts) if images else "not run (no images)")

# %% [markdown]
# Importance at this run: {glue:text}`importance_summary`.
