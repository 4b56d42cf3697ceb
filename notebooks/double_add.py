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
# # Double addition: is the same function reused for different inputs?
#
# **Claim under test** (Csordás et al. 2021, §4 and the "+/+" double-addition experiment; original code
# `RobertCsordas/modules`, task `tuple_arithmetics`): standard
# networks do **not** reuse the same weights for the same function applied to different inputs. Each example
# holds two independent pairs of two-digit numbers, and the network must add both pairs modulo 100. A mask
# trained on pair 1 alone and one trained on pair 2 alone would overlap strongly if one "adder" served both
# pairs; if the network instead computes each pair with its own weights, the masks barely overlap, and
# removing pair 1's mask loses pair 1 while pair 2 survives.
#
# The FNN is run twice per example, each run seeing one pair (the other zeroed) and answering from that
# pair's output slot; the LSTM sees both pairs for 6 steps (`together`) or one pair per half of the
# sequence (`only_one_io`). The **positive control** (`copyweight`) copies pair 2's input and output weights
# of the trained FNN onto pair 1's before masking, so both pairs are computed by literally the same circuit:
# if the method can detect reuse, the two pair masks must overlap strongly there.

# %% tags=["parameters"]
preset: str = ""  # in Jupyter, "smoke" takes every value below from that preset (seconds, not minutes)
seeds: int = 3  # number of seeds 0..seeds-1 [at least 1]
models: list[str] = ["fnn", "fnn_copyweight", "lstm"]  # fnn, fnn_copyweight (the positive control), lstm [non-empty; one of: fnn, fnn_copyweight, lstm]
fnn_hidden: list[int] = [400, 400, 200]  # FNN hidden layer sizes (paper: 2000x4) [non-empty; at least 1]
lstm_hidden: int = 128  # LSTM hidden size (paper: 256) [at least 1]
lstm_layers: int = 2  # LSTM layers (paper: 2) [at least 1]
lstm_mode: str = "together"  # "together" (paper's main) or "only_one_io" [one of: together, only_one_io]
fnn_base_steps: int = 8000  # FNN base training steps (paper: 20000) [at least 1]
lstm_base_steps: int = 8000  # LSTM base training steps (paper: 20000) [at least 1]
mask_steps: int = 3000  # training steps per mask stage (paper: 20000) [at least 1]
batch_size: int = 128  # batch size (paper: 128) [at least 1; multiple of n_mask_samples]
lr: float = 0.001  # base learning rate (Adam) [above 0]
mask_lr: float = 0.01  # mask-logit learning rate (Adam) [above 0]
fnn_beta: float = 0.0004  # logit penalty β for the FNN (paper: 4e-4) [at least 0]
lstm_beta: float = 0.0001  # logit penalty β for the LSTM (paper: 1e-4) [at least 0]
n_mask_samples: int = 4  # K mask samples per step [at least 1]
device: str = "auto"  # "auto", "cpu" or "cuda" [one of: auto, cpu, cuda]

# %%
from modularity.parameters import check_notebook_parameters

check_notebook_parameters("double_add", globals())  # papermill and Jupyter get the runner's checks

from dataclasses import asdict

import numpy as np
import pandas as pd
import torch

from modularity import cache, chance, judged, mask_algebra, plots, provenance, stats, verdicts, tables
from modularity.data import pair_arithmetic
from modularity.experiments import doubleadd, stages
from modularity.glue import glue
from modularity.train import choose_device

torch_device = choose_device(device)
provenance.record("run", "device", str(torch_device))
pair_arithmetic.load()  # records the generated data's checksums in the run's manifest
unknown = set(models) - {"fnn", "fnn_copyweight", "lstm"}
assert not unknown, f"unknown model(s) {sorted(unknown)}; choose from fnn, fnn_copyweight, lstm"
print(f"device {torch_device}, torch threads {torch.get_num_threads()}")

# %% [markdown]
# ## Training: base network, then control / pair-1 / pair-2 masks, for every seed
# The copy-weight control reuses the FNN's base network (same seed), applies the surgery, then trains its
# own three masks. Finished seeds and stages are cached in the data root.

# %%
def settings_for(model_name):
    if model_name == "lstm":
        return doubleadd.Settings("lstm", [lstm_hidden] * lstm_layers, lstm_base_steps, mask_steps, batch_size, lr,
                                  mask_lr, lstm_beta, n_mask_samples, lstm_mode=lstm_mode)
    return doubleadd.Settings(model_name, fnn_hidden, fnn_base_steps, mask_steps, batch_size, lr, mask_lr, fnn_beta,
                              n_mask_samples)


units = {}
for model_name in models:
    settings = settings_for(model_name)
    for seed in range(seeds):
        # the copy-weight control masks a copy of the plain FNN's base network (same seed)
        base_store, store = stages.stores("double_add", settings, torch_device.type, seed,
                                          **({"model": "fnn"} if model_name == "fnn_copyweight" else {}))
        units[model_name, seed] = cache.Unit(f"double_add/{model_name}", dict(asdict(settings), device=torch_device.type),
                                             seed, doubleadd.run_seed, (settings, seed, torch_device, store),
                                             dict(base_store=base_store), scope=doubleadd.__name__)
computed = dict(zip(units, cache.cached_many(units.values())))  # in order, or on Ray with --executor ray
results = {model_name: [computed[model_name, seed] for seed in range(seeds)] for model_name in models}
for (model_name, seed), result in computed.items():
    acc = result["acc"]
    print(f"{model_name} seed {seed}: unmasked pair 1/2 {result['unmasked_acc']['pair1']:.3f}/"
          f"{result['unmasked_acc']['pair2']:.3f}, control mask {acc['full']['pair1']:.3f}/"
          f"{acc['full']['pair2']:.3f}, IoU(pair 1, pair 2) {result['iou_pair1_pair2']:.3f}")

# %% [markdown]
# ## Per-pair accuracy with each mask and its inverse
# `Pair 1` keeps only the weights of the pair-1 mask, `¬Pair 1` removes them; likewise for pair 2. `Full` is
# the control mask. Bars: means over seeds, error bars one sample standard deviation. The second table keeps
# the control mask on the input and output layers in the inverse conditions (`first_full_mask`), which asks
# whether the loss comes from pair-specific hidden weights or only from the pair-specific input/output
# weights.

# %%
LABELS = {"full": "Full", "pair1": "Pair 1", "notpair1": "¬Pair 1", "pair2": "Pair 2", "notpair2": "¬Pair 2"}
rows = [{"model": m, "variant": variant, "seed": seed, "condition": LABELS[c], "evaluated on": pair,
         "accuracy": r[key][c][pair]}
        for m in models for seed, r in enumerate(results[m])
        for variant, key in (("masks", "acc"), ("first_full_mask", "acc_first_full_mask"))
        for c in doubleadd.CONDITIONS for pair in ("pair1", "pair2")]
performance = pd.DataFrame(rows)
for variant in ("masks", "first_full_mask"):
    sub = performance[performance.variant == variant]
    table = sub.groupby(["model", "evaluated on", "condition"], sort=False)["accuracy"].agg(
        lambda v: stats.format_mean_std(*stats.mean_std(v))).unstack("condition")[list(LABELS.values())]
    display(table.rename_axis(columns=f"accuracy % ({variant})"))
main = performance[performance.variant == "masks"].assign(bar=lambda d: d["model"] + " on " + d["evaluated on"])
plots.grouped_bars(main, x="condition", y="accuracy", hue="bar", ylabel="Accuracy [%]", order=list(LABELS.values()),
                   title="Per-pair accuracy with each mask");

# %% [markdown]
# ## How much do the pair masks overlap? The plain networks next to the positive control
# Per masked tensor, IoU |M₁∧M₂|/|M₁∨M₂| and IoMin |M₁∧M₂|/min(|M₁|,|M₂|) of the pair-1 and pair-2 masks.
# The input layer's columns and the output layer's rows belong to one pair each, so a pair mask keeps only
# its own pair's there and the two masks are disjoint in those tensors *by construction*, whatever the
# network does inside; even a perfect adder shared by both pairs could not push the overall IoU to 1. Reuse
# can only show in the **hidden tensors** (everything but the input and output layers), so the overlap is
# also reported over those alone.

# %%
layer_rows = []
for m in models:
    for seed, r in enumerate(results[m]):
        p1, p2 = r["masks"]["pair1"], r["masks"]["pair2"]
        iou, iomin = mask_algebra.per_tensor(mask_algebra.iou, p1, p2), mask_algebra.per_tensor(mask_algebra.iomin,
                                                                                                 p1, p2)
        for layer in p1.names:
            layer_rows.append({"model": m, "seed": seed, "layer": layer, "IoU": iou[layer], "IoMin": iomin[layer],
                               "pair 1 mask": p1.counts()[layer], "pair 2 mask": p2.counts()[layer]})
layers = pd.DataFrame(layer_rows)
for m in models:
    overlap = layers[layers.model == m].melt(id_vars=["layer", "seed"], value_vars=["IoU", "IoMin"],
                                             var_name="measure", value_name="value")
    fig = plots.grouped_bars(overlap, x="layer", y="value", hue="measure", ylabel="IoU / IoMin", percent=False,
                             title=f"{m}: overlap of the pair-1 and pair-2 masks per layer")
    fig.axes[0].set_ylim(0, 1.05)


def overlaps(result):
    """IoU / IoMin of the pair masks with their chance levels, over all tensors and over the hidden ones."""
    p1, p2 = result["masks"]["pair1"], result["masks"]["pair2"]
    hidden = [n for n in p1.names if n not in result["io_names"]]
    return {"all": chance.overlap_with_chance(p1, p2),
            "hidden": chance.overlap_with_chance(p1.subset(hidden), p2.subset(hidden))}


totals = pd.DataFrame([{"model": m, "seed": s, "part": part, "measure": measure, "observed": o[part][key],
                        "expected by chance": o[part][f"{key}_chance"]}
                       for m in models for s, r in enumerate(results[m]) for o in [overlaps(r)]
                       for part in ("all", "hidden") for key, measure in (("iou", "IoU"), ("iomin", "IoMin"))])
shown = totals[totals.part == "hidden"].melt(id_vars=["model", "seed", "measure"],
                                             value_vars=["observed", "expected by chance"], var_name="value of")
shown["bar"] = shown["measure"] + ", " + shown["value of"]
fig = plots.grouped_bars(shown, x="model", y="value", hue="bar", ylabel="overlap of the pair masks (hidden layers)",
                         percent=False, title="Pair-mask overlap against chance: plain networks vs the copy-weight control")
fig.axes[0].set_ylim(0, 1.05);
display(layers.groupby(["model", "layer"], sort=False)[["pair 1 mask", "pair 2 mask", "IoU", "IoMin"]].mean().round(3))

# %% [markdown]
# ## Numbers for the text (mean over seeds, with sample std)

# %%
metrics = {"n_seeds": seeds}
for m in models:
    per_seed = []
    for r in results[m]:
        row = {f"{m}_acc_{pair}_with_{c}": r["acc"][c][pair] for c in doubleadd.CONDITIONS for pair in ("pair1", "pair2")}
        row |= {f"{m}_first_full_mask_acc_{pair}_with_{c}": r["acc_first_full_mask"][c][pair]
                for c in ("notpair1", "notpair2") for pair in ("pair1", "pair2")}
        o = overlaps(r)
        for prefix, part in ((f"{m}_", "all"), (f"{m}_hidden_", "hidden")):
            for key in ("iou", "iomin"):
                for suffix in ("", "_chance", "_excess"):
                    row[f"{prefix}{key}_pair1_pair2{suffix}"] = o[part][f"{key}{suffix}"]
        per_seed.append(row)
    metrics.update(stats.summarise(per_seed))
for name, value in metrics.items():
    glue(name, value)
tables.metrics_table(metrics)

# %% [markdown]
# ## What the numbers say
# Computed from the means above by the rules of `modularity.verdicts`, stated once:
#
# - A pair is *kept* when, without a mask, it retains at least 80% of its accuracy with the control mask, *lost*
#   at 20% or less, *partly kept* in between (accuracies above the chance accuracy of a two-digit answer, 1 in 100; a
#   control-mask accuracy within 10 points of chance cannot be judged).
# - Overlap is judged on its excess over chance, (observed − chance)/(1 − chance), where chance is the overlap
#   two independent masks of the same per-tensor densities would have: *strong* from 0.5, *partial* from 0.1,
#   else *about chance*.
# - The positive control *detects* planted reuse when its hidden-layer overlap is strong and beyond the plain
#   FNN's. Only then can the plain networks be judged. The claim (no reuse) has three parts per network: the
#   hidden-layer overlap is about chance (in part when it is partial), and removing either pair's mask loses that
#   pair while the other is kept (in part when the other is only partly kept). It is *reproduced* when every part
#   holds, *partly reproduced* when some hold or hold in part, *not reproduced* when none does.

# %%
CHANCE_ACC = 10.0 ** -(pair_arithmetic.PAIR_OUTPUTS // 10)  # two digits per pair: one answer in 100


def removal(m, own, other):
    acc = lambda pair, cond: metrics[f"{m}_acc_{pair}_with_{cond}"]  # noqa: E731
    own_level = verdicts.retention_level(acc(own, f"not{own}"), acc(own, "full"), CHANCE_ACC)
    other_level = verdicts.retention_level(acc(other, f"not{own}"), acc(other, "full"), CHANCE_ACC)
    text = (f"without the {own} mask, {own} is {own_level} ({verdicts.percent(acc(own, f'not{own}'))}) and {other} "
            f"is {other_level} ({verdicts.percent(acc(other, f'not{own}'))}, against "
            f"{verdicts.percent(acc(other, 'full'))} with the control mask)")
    return text, verdicts.matches([own_level, other_level], ["lost", "kept"])


def verdict(m):
    hidden, hidden_chance = metrics[f"{m}_hidden_iou_pair1_pair2"], metrics[f"{m}_hidden_iou_pair1_pair2_chance"]
    level = verdicts.overlap_level(metrics[f"{m}_hidden_iou_pair1_pair2_excess"])
    parts = [f"hidden-layer IoU of the pair masks {hidden:.2f} against {hidden_chance:.2f} by chance ({level} "
             f"overlap; excess {judged.shown_excess(metrics[f'{m}_hidden_iou_pair1_pair2_excess'])})"]
    separable = []
    for own, other in (("pair1", "pair2"), ("pair2", "pair1")):
        text, ok = removal(m, own, other)
        parts.append(text)
        separable.append(ok)
    return f"{m}: " + "; ".join(parts) + ".", [verdicts.independence(level), *separable]


control_detects = None
if {"fnn", "fnn_copyweight"} <= set(models):
    plain, control = (metrics[f"{m}_hidden_iou_pair1_pair2_excess"] for m in ("fnn", "fnn_copyweight"))
    control_detects = verdicts.overlap_level(control) == "strong" and control > plain
    glue("control_ratio", metrics["fnn_copyweight_hidden_iou_pair1_pair2"] / metrics["fnn_hidden_iou_pair1_pair2"])
    glue("control_verdict", f"the positive control {'detects' if control_detects else 'does NOT detect'} the planted "
         f"reuse: hidden-layer overlap beyond chance {control:.2f} after the copy-weight surgery against {plain:.2f} "
         "for the same networks without it")
else:
    glue("control_ratio", float("nan"))
    glue("control_verdict", "the positive control was not run (add fnn and fnn_copyweight to `models`)")
parts = []
for m in models:
    text, holds = verdict(m)
    glue(f"{m}_verdict", text)
    print(text)
    if m != "fnn_copyweight":
        parts += holds if control_detects else [None]
status = verdicts.claim_status(parts)
glue("claim_status", status)
glue("claim_summary", f"the claim of no reuse is {status} at this preset" + (
    "" if control_detects else " (the positive control did not detect planted reuse, so the plain networks cannot "
    "be judged)"))
glue("run_size", f"FNN hidden {fnn_hidden}, LSTM {lstm_layers}×{lstm_hidden} ({lstm_mode}), {fnn_base_steps:,} / "
     f"{lstm_base_steps:,} base steps, {mask_steps:,} steps per mask stage, {seeds} seeds")

# %% [markdown]
# ### Results
# **Verdict: {glue:text}`claim_summary`.**
#
# - {glue:text}`fnn_verdict`
# - {glue:text}`fnn_copyweight_verdict`
# - {glue:text}`lstm_verdict`
# - Positive control: {glue:text}`control_verdict`.
#
# Plain FNN: the pair masks share a hidden-layer IoU of {glue:text}`fnn_hidden_iou_pair1_pair2:.2f`, where two
# independent masks of the same per-layer densities would share {glue:text}`fnn_hidden_iou_pair1_pair2_chance:.2f`
# (IoMin {glue:text}`fnn_hidden_iomin_pair1_pair2:.2f` against {glue:text}`fnn_hidden_iomin_pair1_pair2_chance:.2f`;
# over all layers IoU {glue:text}`fnn_iou_pair1_pair2:.2f` against {glue:text}`fnn_iou_pair1_pair2_chance:.2f`). Without the
# pair-1 mask, pair 1 is solved {glue:text}`fnn_acc_pair1_with_notpair1:.1%` and pair 2
# {glue:text}`fnn_acc_pair2_with_notpair1:.1%` of the time. After the copy-weight surgery, which makes pair 1 and
# pair 2 literally the same computation inside the network, the hidden-layer IoU rises to
# {glue:text}`fnn_copyweight_hidden_iou_pair1_pair2:.2f` (chance {glue:text}`fnn_copyweight_hidden_iou_pair1_pair2_chance:.2f`;
# IoMin {glue:text}`fnn_copyweight_hidden_iomin_pair1_pair2:.2f`), {glue:text}`control_ratio:.1f` times the plain value. Where the control detects the planted reuse (its verdict
# above), the low overlap of the plain networks is a property of the networks, not a blind spot of the method.
# LSTM: hidden-layer IoU
# {glue:text}`lstm_hidden_iou_pair1_pair2:.2f` (chance {glue:text}`lstm_hidden_iou_pair1_pair2_chance:.2f`); without the pair-1 mask, pair 1 is solved
# {glue:text}`lstm_acc_pair1_with_notpair1:.1%` and pair 2 {glue:text}`lstm_acc_pair2_with_notpair1:.1%` of the
# time.
#
# **Agreement with the paper.** The paper's claim is that the networks do not reuse one adder for both pairs:
# a hidden-layer overlap at chance next to a control that overlaps strongly agrees with it; an overlap between
# the two sits part of the way from independent masks to one shared circuit. The second half of the
# expected picture — removing one pair's mask loses that pair *while the other survives* — is judged by the
# verdicts above. Where it fails, the reason is visible in the overlap: whatever hidden weights the two
# masks do share are removed with either mask, so the other pair loses them too (the FNN even applies the
# very same weights to both pairs, as it is run once per pair).
#
# This run used {glue:text}`run_size`; the paper used a 2000×4 FNN, a 2×256 LSTM, 20,000 base and mask
# steps per stage and 10 seeds (the `paper` preset). The paper's own numbers could not be read offline.
