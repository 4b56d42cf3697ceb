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
# # CIFAR-10 mask stability: does the same data give the same mask?
#
# **Question** (Csordás et al. 2021, the CIFAR-10 mask-stability experiment; original code
# `RobertCsordas/modules`): the masks of the other chapters are read as
# *the* weights a network uses for a sub-task. That reading needs masks to be stable: two masks trained on the
# same data, differing only in the order of their batches (and their random samples), should keep mostly the
# same weights. On a CNN trained without dropout, random ordered class pairs (a, b) are drawn; for each pair,
# two masks are trained on the images of classes a and b only, and their IoU Σ|M ∧ M′| / Σ|M ∨ M′| over all
# masked tensors is reported. The paper gives one number, the mean IoU; it could not be read offline.
#
# **The output-layer quirk.** In the original code every mask after the very first copies — and freezes —
# the output layer of mask #0 (trained on the first pair), a side effect of the option that freezes the
# output layer in the class-removal experiment. This chapter reproduces it (`copy_first_output`) and also
# reports the IoU without the output layer. That is not free of the quirk: a frozen output layer also decides
# which hidden weights the later masks need, so it constrains the hidden layers too, only less directly.

# %% tags=["parameters"]
preset: str = ""  # in Jupyter, "smoke" takes every value below from that preset (seconds, not minutes)
seeds: int = 2  # number of seeds 0..seeds-1 (one base network each) [at least 1]
n_pairs: int = 4  # random ordered class pairs per seed (paper: 10) [at least 1]
width: float = 0.5  # channel multiplier of the CNN (paper: 1.0) [above 0]
base_steps: int = 4000  # base training steps (paper: 20000) [at least 1]
mask_steps: int = 2000  # steps per mask (paper: 20000) [at least 1]
batch_size: int = 64  # base batch size B; the logit penalty is β/B (paper: 128) [at least 1]
mask_batch_size: int = 64  # batch per mask (paper: 128) [at least 1; multiple of n_mask_samples]
lr: float = 0.001  # base learning rate, Adam (paper: 1e-3) [above 0]
mask_lr: float = 0.01  # mask learning rate (paper: 1e-3) [above 0]
beta: float = 0.00015  # logit penalty β (paper: 3e-4 at batch 128) [at least 0]
n_mask_samples: int = 4  # K mask samples per step [at least 1]
copy_first_output: bool = True  # reproduce the quirk: later masks copy and freeze mask #0's output layer
device: str = "auto"  # "auto", "cpu" or "cuda" [one of: auto, cpu, cuda]

# %%
from modularity.parameters import check_notebook_parameters

check_notebook_parameters("cifar_mask_stability", globals())  # papermill and Jupyter get the runner's checks

from dataclasses import asdict

import pandas as pd
import torch

from modularity import cache, judged, plots, provenance, stats, chance, verdicts, tables
from modularity.data.images import CIFAR10_CLASSES
from modularity.experiments import cifar, stages
from modularity.glue import glue
from modularity.train import choose_device

torch_device = choose_device(device)
provenance.record("run", "device", str(torch_device))
assert 1 <= n_pairs <= 90, "n_pairs must be between 1 and 90"
data = cifar.load_data("cnn_nodropout", torch_device)
settings = cifar.Settings("cnn_nodropout", base_steps, mask_steps, width, 110, batch_size, mask_batch_size, lr, mask_lr,
                          beta, n_mask_samples)
print(f"device {torch_device}, torch threads {torch.get_num_threads()}; pixels: {data.source}")

# %% [markdown]
# ## Training: base network (no dropout), then two masks per class pair, for every seed
# All masks after the first are trained together in one batched pass. The base network is shared with the
# class-removal chapter's `cnn_nodropout` variant when the settings match.

# %%
units = []
for seed in range(seeds):
    base_store, store = stages.stores("cifar", settings, torch_device.type, seed)
    params = dict(asdict(settings), n_pairs=n_pairs, copy_first_output=copy_first_output, device=torch_device.type)
    units.append(cache.Unit("cifar_mask_stability", params, seed, cifar.run_stability,
                            (settings, seed, data, n_pairs, copy_first_output, base_store, store), scope=cifar.__name__))
results = cache.cached_many(units)  # in order, or on Ray with --executor ray
for seed, result in enumerate(results):
    for p in result["pairs"]:
        a, b = (CIFAR10_CLASSES[c] for c in p["pair"])
        print(f"seed {seed} {a}/{b}: IoU {p['iou']:.3f} (without output layer {p['iou_without_output']:.3f}); "
              f"accuracy on the pair's images {p['accuracy'][0]:.3f} / {p['accuracy'][1]:.3f}")

# %% [markdown]
# ## IoU of the two masks of each pair
# One bar per pair and seed: the IoU over all masked tensors (what the paper reports) and without the output
# layer. The table adds each mask's accuracy on its pair's evaluation images (a 10-way prediction) and the
# share of the weights it keeps.

# %%
rows = []
for seed, r in enumerate(results):
    for i, p in enumerate(r["pairs"]):
        label = f"s{seed}: {CIFAR10_CLASSES[p['pair'][0]]}/{CIFAR10_CLASSES[p['pair'][1]]}"
        rows.append({"pair": label, "seed": seed, "first pair of the seed": i == 0, "IoU": p["iou"],
                     "IoU without output layer": p["iou_without_output"], "accuracy": sum(p["accuracy"]) / 2,
                     "density": sum(p["density"]) / 2})
def chance_iou(r, p, names):
    counts = [{n: c[n] for n in names} for c in p["counts"]]
    return chance.expected_overlap(*counts, {n: r["sizes"][n] for n in names})["iou"]


for seed, r in enumerate(results):
    hidden_names = [n for n in r["sizes"] if n not in r["output_names"]]
    for i, p in enumerate(r["pairs"]):
        row = rows[sum(len(q["pairs"]) for q in results[:seed]) + i]
        row["IoU by chance"] = chance_iou(r, p, list(r["sizes"]))
        row["IoU without output layer by chance"] = chance_iou(r, p, hidden_names)
frame = pd.DataFrame(rows)
display(frame.round(3))
long = frame.melt(id_vars=["pair", "seed"], value_vars=["IoU", "IoU by chance", "IoU without output layer",
                                                      "IoU without output layer by chance"],
                  var_name="measure", value_name="value")
fig = plots.grouped_bars(long, x="pair", y="value", hue="measure", ylabel="IoU of the two masks", percent=False,
                         title="Two masks, same data, different data order")
fig.axes[0].set_ylim(0, 1.05)
fig.axes[0].tick_params(axis="x", labelrotation=45);

# %% [markdown]
# ## Numbers for the text
# `mask_stability_iou` is the mean over all pairs and seeds (with the sample std over those values, as the
# paper's script computes it).

# %%
metrics = {"n_seeds": seeds, "n_pairs": n_pairs}
for key, column in (("mask_stability_iou", "IoU"), ("mask_stability_iou_chance", "IoU by chance"),
                    ("mask_stability_iou_without_output", "IoU without output layer"),
                    ("mask_stability_iou_without_output_chance", "IoU without output layer by chance"),
                    ("pair_mask_accuracy", "accuracy"), ("pair_mask_density", "density")):
    metrics[key], metrics[f"{key}_std"] = stats.mean_std(frame[column])
for key in ("mask_stability_iou", "mask_stability_iou_without_output"):
    metrics[f"{key}_excess"] = chance.excess(metrics[key], metrics[f"{key}_chance"])
later = frame[~frame["first pair of the seed"]]
if copy_first_output and len(later):
    metrics["later_pairs_accuracy"] = float(later["accuracy"].mean())
    metrics["first_pairs_accuracy"] = float(frame[frame["first pair of the seed"]]["accuracy"].mean())
for name, value in metrics.items():
    glue(name, value)
tables.metrics_table(metrics)

# %% [markdown]
# ## What the numbers say
# Stability is judged on the IoU's excess over chance without the output layer, (IoU − chance)/(1 − chance),
# by the rules of `modularity.verdicts`: *strong* overlap from 0.5 (the claim of stable masks is *reproduced*),
# *partial* from 0.1 (*partly reproduced*), else *about chance* (*not reproduced*).

# %%
iou, hidden = metrics["mask_stability_iou"], metrics["mask_stability_iou_without_output"]
level = verdicts.overlap_level(metrics["mask_stability_iou_without_output_excess"])
glue("claim_status", verdicts.claim_status_from_overlap(level))
verdict = (f"Two masks trained on the same class pair share a mean IoU of {iou:.2f} over all masked tensors "
           f"(chance {metrics['mask_stability_iou_chance']:.2f}) and {hidden:.2f} without the output layer (chance "
           f"{metrics['mask_stability_iou_without_output_chance']:.2f}): a {level} overlap beyond chance (excess "
           f"{judged.shown_excess(metrics['mask_stability_iou_without_output_excess'])}).")
if copy_first_output and "later_pairs_accuracy" in metrics:
    verdict += (f" With the output layer frozen to the first pair's mask, the masks of the later pairs reach "
                f"{metrics['later_pairs_accuracy']:.1%} on their pair's images (first pairs: "
                f"{metrics['first_pairs_accuracy']:.1%}).")
glue("verdict", verdict)
glue("run_size", f"CNN without dropout at width {width:g}, {base_steps:,} base steps, {mask_steps:,} steps per mask, "
     f"mask lr {mask_lr:g}, β = {beta:g}, {n_pairs} pairs × {seeds} seeds"
     + ("; output-layer quirk reproduced" if copy_first_output else "; output-layer quirk off"))
glue("pixels", data.source)
print(verdict)

# %% [markdown]
# ### Result
# **Mask stability is {glue:text}`claim_status` at this preset.** {glue:text}`verdict`
#
# The IoU is computed over every masked tensor, biases and output layer included, as in the paper. The quirk
# makes the output layers of all masks after the first identical, which can only raise the IoU over all
# tensors; the IoU without the output layer leaves that copy out, though the frozen output layer still shapes
# the hidden weights each later mask needs. Pixels: {glue:text}`pixels`.
#
# This run used {glue:text}`run_size`. The paper used the full-width CNN, 20,000 steps at mask learning rate
# 10⁻³ and 10 pairs in each of 10 runs (the `paper` preset); as in the class-removal chapter, the `cpu` preset
# raises the mask learning rate tenfold so that 2,000 steps can move a logit from 2 to below 0.
