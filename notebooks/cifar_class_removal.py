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
# # CIFAR-10 class removal: does a CNN have class-specific weights?
#
# **Claim under test** (Csordás et al. 2021, the CIFAR-10 class-removal experiment; original code
# `RobertCsordas/modules`): a CNN trained on CIFAR-10 has
# weights that serve single classes. After base training, a **control mask** is trained on all ten classes,
# and for each class c a mask is trained on the nine other classes. The output layer of every class mask is
# copied from the control mask and frozen — otherwise a mask would trivially cut class c's output unit. A
# class mask then drops whatever weights only class c needed, and compared with the control-masked network
# (the reference, not the unmasked network) it should lose class c's accuracy far more than any other
# class's. The paper shows the confusion differences as heat maps, and per class the removed class's
# relative drop and the largest other-class drop relative to it; its values could not be read offline.
#
# The ten class masks share the frozen weights, so they are trained **together**, in one batched pass (each
# with its own batches, mask samples, Adam state and gradient clipping); the chapter measures what that
# gains over training them one after another.

# %% tags=["parameters"]
preset: str = ""  # in Jupyter, "smoke" takes every value below from that preset (seconds, not minutes)
seeds: int = 2  # number of seeds 0..seeds-1 [at least 1]
model: str = "cnn"  # "cnn" (with dropout), "cnn_nodropout" or "resnet" [one of: cnn, cnn_nodropout, resnet]
width: float = 0.5  # channel multiplier of the simple CNN (paper: 1.0, i.e. 32/64/128/256 channels) [above 0]
depth: int = 110  # depth of the ResNet, 6n + 2 (paper: 110) [at least 1]
classes: list[int] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]  # classes removed one at a time [non-empty; at least 0; at most 9]
base_steps: int = 4000  # base training steps (paper: 20000 CNN, 64000 ResNet) [at least 1]
mask_steps: int = 2000  # steps of each mask stage (paper: 20000 CNN, 30000 ResNet) [at least 1]
batch_size: int = 64  # base batch size B; the logit penalty is β/B (paper: 128) [at least 1]
mask_batch_size: int = 64  # batch per mask stage (paper: 128 CNN, 256 ResNet) [at least 1; multiple of n_mask_samples]
lr: float = 0.001  # base learning rate: Adam for the CNN, SGD with momentum for the ResNet (paper: 1e-3, 0.1) [above 0]
mask_lr: float = 0.01  # mask learning rate (paper: 1e-3 CNN, 3e-2 ResNet) [above 0]
beta: float = 0.00015  # logit penalty β (paper: 3e-4 at batch 128 for the CNN, 2e-5 for the ResNet) [at least 0]
n_mask_samples: int = 4  # K mask samples per step [at least 1]
timing_steps: int = 20  # steps per stage timed together vs one after another (0: skip) [at least 0]
device: str = "auto"  # "auto", "cpu" or "cuda" [one of: auto, cpu, cuda]

# %%
from modularity.parameters import check_notebook_parameters

check_notebook_parameters("cifar_class_removal", globals())  # papermill and Jupyter get the runner's checks

from dataclasses import asdict

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from modularity import cache, chance, plots, provenance, stats, verdicts, tables
from modularity.data.images import CIFAR10_CLASSES
from modularity.experiments import cifar, stages
from modularity.glue import glue
from modularity.train import choose_device

torch_device = choose_device(device)
provenance.record("run", "device", str(torch_device))
assert model in cifar.MODELS, f"unknown model {model!r}; choose from {cifar.MODELS}"
assert classes and set(classes) <= set(range(10)), "classes must be CIFAR-10 class indices 0..9"
data = cifar.load_data(model, torch_device)
settings = cifar.Settings(model, base_steps, mask_steps, width, depth, batch_size, mask_batch_size, lr, mask_lr, beta,
                          n_mask_samples)
print(f"device {torch_device}, torch threads {torch.get_num_threads()}; pixels: {data.source}; "
      f"{len(data.y_train):,} training images, evaluation on the {data.eval_set}")

# %% [markdown]
# ## Training: base network, control mask, and the class-removal masks, for every seed
# Base networks and finished mask stages are cached in the data root.

# %%
units = []
for seed in range(seeds):
    base_store, store = stages.stores("cifar", settings, torch_device.type, seed)
    units.append(cache.Unit("cifar_class_removal", dict(asdict(settings), classes=classes, device=torch_device.type),
                            seed, cifar.run_class_removal, (settings, seed, data, classes, base_store, store),
                            scope=cifar.__name__))
results = cache.cached_many(units)  # in order, or on Ray with --executor ray
for seed, result in enumerate(results):
    print(f"seed {seed}: unmasked accuracy {np.diag(result['unmasked_confusion']).mean():.3f}, control mask "
          f"{np.diag(result['control_confusion']).mean():.3f} keeping {result['control_density']:.1%} of the weights")

# %% [markdown]
# ## Training the class masks together or one after another
# Seconds per mask-stage step on this machine, on seed 0's network: all class masks in one batched pass
# (each with its own batch), against the same masks trained one at a time — measured in the same run.

# %%
if timing_steps:
    timing = cache.cached("cifar_class_removal/timing", dict(asdict(settings), classes=classes, device=torch_device.type,
                                                             timing_steps=timing_steps), 0,
                          lambda: cifar.time_class_masks(settings, data, classes, timing_steps,
                                                         stages.stores("cifar", settings, torch_device.type, 0)[0]))
else:
    timing = {"together_s_per_stage_step": float("nan"), "alone_s_per_stage_step": float("nan"), "speedup": float("nan")}
print(f"{len(classes)} stages together: {timing['together_s_per_stage_step'] * 1000:.1f} ms per stage-step; one after "
      f"another: {timing['alone_s_per_stage_step'] * 1000:.1f} ms; speed-up {timing['speedup']:.2f}×")

# %% [markdown]
# ## The reference: confusion of the control-masked network
# Rows: true class; columns: predicted class; row percentages, mean ± std over seeds.

# %%
names = [CIFAR10_CLASSES[c] for c in range(10)]
reference = np.stack([r["control_confusion"] for r in results]) * 100
plots.heatmaps({"control mask": reference.mean(0)}, std={"control mask": reference.std(0, ddof=1) if seeds > 1 else None},
               rows=names, cols=names, title="Confusion with the control mask [%]", cell=0.55, fmt=".0f");

# %% [markdown]
# ## What removing each class's mask changes
# For each removed class c, the difference D_c = C_c − C₀ of the confusion with the class mask and with the
# control mask (percentage points, mean over seeds). Its diagonal is the change in each class's accuracy; the
# summary below stacks those diagonals, one row per removed class. A class-specific mask shows one strongly
# negative entry per row, on the diagonal, and little change elsewhere.

# %%
differences = {c: np.mean([(r["per_class"][c]["confusion"] - r["control_confusion"]) * 100 for r in results], axis=0)
               for c in classes}
accuracy_change = np.stack([np.diag(differences[c]) for c in classes])
limit = max(1.0, float(np.abs(accuracy_change).max()))
plots.heatmaps({"accuracy change": accuracy_change}, rows=[f"without {names[c]}" for c in classes], cols=names,
               title="Change in each class's accuracy [percentage points]", fmt=".0f", cmap="RdBu", vmin=-limit,
               vmax=limit, cell=0.6);

# %% [markdown]
# Where do the removed class's images go? Row c of D_c: the predictions the removed class gains or loses.

# %%
moved = np.stack([differences[c][c] for c in classes])
plots.heatmaps({"predictions of the removed class": moved}, rows=[f"without {names[c]}" for c in classes],
               cols=names, title="Change in where the removed class's images are predicted [percentage points]",
               fmt=".0f", cmap="RdBu", vmin=-limit, vmax=limit, cell=0.6);

# %% [markdown]
# ## Per class: the removed class's drop, and the largest drop of any other class relative to it
# Left: the removed class's accuracy drop relative to its control accuracy, 100·(−D_c[c,c])/C₀[c,c]. Right:
# the largest relative drop of any *other* class as a percentage of the removed class's (0 when no other
# class drops). Mean over seeds; error bars one sample std. Dashed: the limits of the rule that judges each class
# below (the removed class's drop at least this high, the other classes' at most this high).

# %%
rows = [{"class": names[c], "seed": seed, "measure": "removed class: relative drop", "value": r["per_class"][c]["rel_drop"]}
        for seed, r in enumerate(results) for c in classes]
rows += [{"class": names[c], "seed": seed, "measure": "largest other class / removed class",
          "value": r["per_class"][c]["other_ratio"]} for seed, r in enumerate(results) for c in classes]
drops = pd.DataFrame(rows)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
for ax, measure, limit in zip(axes, drops["measure"].unique(), (verdicts.CLASS_DROP, verdicts.OTHER_CLASS_SHARE)):
    plots.grouped_bars(drops[drops.measure == measure], x="class", y="value", hue="measure", ylabel="%",
                       title=measure, ax=ax, percent=True)
    ax.axhline(limit * 100, ls="--", color="black", lw=1)
    ax.get_legend().remove()
    ax.tick_params(axis="x", labelrotation=45)
axes[1].set_ylim(0, max(10, drops[drops.measure != drops["measure"].unique()[0]]["value"].max() * 110))
fig.tight_layout()

# %% [markdown]
# ## How much of the control mask each class mask keeps
# |M_c ∧ M₀| / |M₀| per masked tensor (mean over seeds): what a class mask gives up is the part of the control
# mask only class c needed. A class mask drawn independently of the control mask would keep, in each tensor, its
# own density of the control mask's weights; the numbers below set the overall share against that chance level.

# %%
kept = pd.DataFrame([{"class": names[c], "tensor": t, "kept": v} for r in results for c in classes
                     for t, v in r["per_class"][c]["kept_of_control"].items()])
kept_table = kept.groupby(["class", "tensor"], sort=False)["kept"].mean().unstack("tensor")
plots.heatmaps({"kept of the control mask": kept_table.to_numpy() * 100}, rows=list(kept_table.index),
               cols=list(kept_table.columns), title="|M_c ∧ M₀| / |M₀| per tensor [%]", fmt=".0f", vmin=0, vmax=100,
               cell=0.6);

# %% [markdown]
# ## Numbers for the text (mean over seeds, with sample std)
# Accuracies are mean per-class accuracies on the evaluation set; per-class drops are fractions.

# %%
per_seed = []
for r in results:
    row = {"unmasked_acc": float(np.diag(r["unmasked_confusion"]).mean()),
           "control_acc": float(np.diag(r["control_confusion"]).mean()),
           "control_density": r["control_density"],
           "removed_class_rel_drop": float(np.mean([r["per_class"][c]["rel_drop"] for c in classes])),
           "other_class_max_rel_drop_ratio": float(np.nanmean([r["per_class"][c]["other_ratio"] for c in classes]))}
    row |= {f"rel_drop_{names[c]}": r["per_class"][c]["rel_drop"] for c in classes}
    row |= {f"other_ratio_{names[c]}": r["per_class"][c]["other_ratio"] for c in classes}
    kept_overall, kept_chance = [], []
    for c in classes:
        control, own = r["control_counts"], r["per_class"][c]["counts"]
        both = {t: r["per_class"][c]["kept_of_control"][t] * control[t] for t in control}
        kept_overall.append(sum(both.values()) / sum(control.values()))
        kept_chance.append(chance.expected_overlap(control, own, r["sizes"])["shared_frac"])
    row["kept_of_control"], row["kept_of_control_chance"] = float(np.mean(kept_overall)), float(np.mean(kept_chance))
    per_seed.append(row)
metrics = {"n_seeds": seeds, "n_classes": len(classes)}
metrics.update(stats.summarise(per_seed))
by_class = {c: metrics[f"rel_drop_{names[c]}"] for c in classes}
worst = min(by_class, key=by_class.get)
metrics["removed_class_rel_drop_min"] = by_class[worst]
metrics["removed_class_rel_drop_min_std"] = metrics[f"rel_drop_{names[worst]}_std"]
metrics["worst_class"] = names[worst]
metrics["max_other_ratio"] = max(metrics[f"other_ratio_{names[c]}"] for c in classes)
metrics |= {"stages_together_ms_per_step": timing["together_s_per_stage_step"] * 1000,
            "stages_alone_ms_per_step": timing["alone_s_per_stage_step"] * 1000, "stages_speedup": timing["speedup"]}
for name, value in metrics.items():
    glue(name, value)
tables.metrics_table(metrics)

# %% [markdown]
# ## What the numbers say
# Computed from the means above: removal is *class-specific* for a class when its relative drop is at least
# 50% and the largest other-class relative drop is at most a quarter of it. The paper's claim is *reproduced*
# when every removed class is class-specific, *partly reproduced* when some are.

# %%
is_specific = {c: verdicts.class_specific(by_class[c], metrics[f"other_ratio_{names[c]}"]) for c in classes}
specific = [names[c] for c in classes if is_specific[c]]
not_specific = [names[c] for c in classes if not is_specific[c]]
glue("claim_status", verdicts.claim_status(is_specific.values()))
verdict = (f"Removing a class's mask costs that class {metrics['removed_class_rel_drop']:.1%} of its control accuracy "
           f"on average (worst: {names[worst]}, {by_class[worst]:.1%}); the largest drop of any other class is "
           f"{metrics['other_class_max_rel_drop_ratio']:.1%} of the removed class's on average (at most "
           f"{metrics['max_other_ratio']:.1%}). Class-specific by the rule above: {len(specific)} of {len(classes)} "
           f"classes" + (f" (not {', '.join(not_specific)})" if 0 < len(specific) < len(classes) else "") + ". A class mask "
           f"keeps {metrics['kept_of_control']:.1%} of the control mask's weights, against "
           f"{metrics['kept_of_control_chance']:.1%} for an independent mask of its densities.")
glue("verdict", verdict)
glue("run_size", f"{model}" + (f" at width {width:g}" if model != "resnet" else f"-{depth}") + f", {base_steps:,} base "
     f"steps, {mask_steps:,} steps per mask stage, batch {batch_size} (masks {mask_batch_size}), mask lr {mask_lr:g}, "
     f"β = {beta:g}, {seeds} seeds, {len(classes)} classes removed")
glue("pixels", data.source)
glue("eval_set", data.eval_set)
print(verdict)

# %% [markdown]
# ### Result
# **Class-specific weights: {glue:text}`claim_status` at this preset.** {glue:text}`verdict`
#
# The control-masked network classifies {glue:text}`control_acc:.1%` of the evaluation images correctly per
# class on average (unmasked: {glue:text}`unmasked_acc:.1%`), keeping {glue:text}`control_density:.1%` of the
# weights. Evaluated on the {glue:text}`eval_set`; pixels: {glue:text}`pixels` — the offline JPEG copy is lossy
# (quality 75), so accuracies are expected to sit about a point below those on the original pixels.
#
# Training the {glue:text}`n_classes` class masks together took {glue:text}`stages_together_ms_per_step:.1f` ms per
# stage-step against {glue:text}`stages_alone_ms_per_step:.1f` ms one after another: a speed-up of
# {glue:text}`stages_speedup:.2f`× on this device. Batching pays most where a single stage leaves the device
# partly idle, as small convolutions do on a GPU; that case was not measured here.
#
# This run used {glue:text}`run_size`. The paper's simple CNN is four times as wide (32–256 channels), trains
# 20,000 base steps at batch 128 and 20,000 steps per mask at learning rate 10⁻³ (the `paper` preset;
# `paper_no_dropout` and `paper_resnet110` are its other two variants). At the `cpu` preset the mask learning
# rate is ten times the paper's because a logit moves at most about one learning rate per Adam step: 2,000
# steps at 10⁻³ could not take a logit from its start at 2 below 0, so no mask would remove anything; β is
# halved with the batch size to keep β/B at the paper's value.
