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
# # Addition and multiplication: do the two operations use separate weights?
#
# **Claim under test** (Csordás et al. 2021, §4, the "+/*" experiment; original code
# `RobertCsordas/modules`, task `tuple_arithmetics`): a network
# trained on two-digit addition and multiplication modulo 100 has *specialised* weights — a mask trained on
# one operation keeps that operation working, and removing that mask's weights (its inverse) breaks that
# operation while the other one keeps working. The paper shows this with a bar plot of accuracies
# (`Full`, `+`, `¬+`, `*`, `¬*`), an operation confusion, the number of weights per layer in each mask and their
# IoU per layer. We reproduce all four for a feed-forward network (FNN) and an LSTM.
#
# The method: after ordinary training, the weights are frozen and for each *stage* (control = both
# operations, "add" only, "mul" only) a fresh set of logits, one per weight, is trained so that the
# network with weights `W ⊙ m`, `m ~ hard Gumbel-sigmoid(logit)`, still solves the stage's data while a
# penalty `(β/B)·Σ logit` pushes every weight out unless it is needed. The final mask is `logit > 0`.

# %% tags=["parameters"]
preset: str = ""  # in Jupyter, "smoke" takes every value below from that preset (seconds, not minutes)
seeds: int = 3  # number of seeds 0..seeds-1; each trains its own base network and masks [at least 1]
models: list[str] = ["fnn", "lstm"]  # which networks to run: "fnn", "lstm" [non-empty; one of: fnn, lstm]
fnn_hidden: list[int] = [400, 400, 200]  # FNN hidden layer sizes (paper: 2000x4) [non-empty; at least 1]
lstm_hidden: int = 128  # LSTM hidden size (paper: 256) [at least 1]
lstm_layers: int = 2  # LSTM layers (paper: 2) [at least 1]
fnn_base_steps: int = 8000  # FNN base training steps (paper: 20000) [at least 1]
lstm_base_steps: int = 8000  # LSTM base training steps (paper: 20000) [at least 1]
mask_steps: int = 8000  # training steps per mask stage (paper: 20000) [at least 1]
batch_size: int = 128  # batch size B of base and mask training (paper: 128) [at least 1; multiple of n_mask_samples]
lr: float = 0.001  # base learning rate (Adam) [above 0]
mask_lr: float = 0.01  # mask-logit learning rate (Adam) [above 0]
beta: float = 0.0001  # logit penalty β; the loss adds (β/B)·Σ logits [at least 0]
n_mask_samples: int = 4  # K mask samples per step, one per contiguous batch chunk [at least 1]
device: str = "auto"  # "auto", "cpu" or "cuda" [one of: auto, cpu, cuda]

# %%
from modularity.parameters import check_notebook_parameters

check_notebook_parameters("add_mul", globals())  # papermill and Jupyter get the runner's checks

from dataclasses import asdict

import numpy as np
import pandas as pd
import torch

from modularity import cache, chance, comparison, mask_algebra, plots, provenance, runner, stats, tables, verdicts
from modularity.data import arithmetic
from modularity.experiments import addmul, stages
from modularity.glue import glue
from modularity.train import choose_device

torch_device = choose_device(device)
provenance.record("run", "device", str(torch_device))
arithmetic.load()  # records the generated data's checksums in the run's manifest
print(f"device {torch_device}, torch threads {torch.get_num_threads()}")

# %% [markdown]
# ## Training: base network, then control / add / mul masks, for every seed
# Finished seeds and stages are cached in the data root, so an interrupted run resumes where it stopped.

# %%
settings = {
    "fnn": addmul.Settings("fnn", fnn_hidden, fnn_base_steps, mask_steps, batch_size, lr, mask_lr, beta,
                           n_mask_samples),
    "lstm": addmul.Settings("lstm", [lstm_hidden] * lstm_layers, lstm_base_steps, mask_steps, batch_size, lr,
                            mask_lr, beta, n_mask_samples),
}
unknown = set(models) - set(settings)
assert not unknown, f"unknown model(s) {unknown}; choose from {list(settings)}"

units = {}
for model_name in models:
    params = dict(asdict(settings[model_name]), device=torch_device.type)
    for seed in range(seeds):
        base_store, store = stages.stores("add_mul", settings[model_name], torch_device.type, seed)
        units[model_name, seed] = cache.Unit(f"add_mul/{model_name}", params, seed, addmul.run_seed,
                                             (settings[model_name], seed, torch_device, store),
                                             dict(base_store=base_store), scope=addmul.__name__)
computed = dict(zip(units, cache.cached_many(units.values())))  # in order, or on Ray with --executor ray
results = {model_name: [computed[model_name, seed] for seed in range(seeds)] for model_name in models}
for (model_name, seed), result in computed.items():
    acc = result["acc"]
    print(f"{model_name} seed {seed}: unmasked add/mul {result['unmasked_acc']['add']:.3f}/"
          f"{result['unmasked_acc']['mul']:.3f}, control mask {acc['full']['add']:.3f}/{acc['full']['mul']:.3f}")

# %% [markdown]
# ## Accuracy with each mask and its inverse
# `+` keeps only the weights of the add mask, `¬+` removes them (every other weight stays); likewise `*`
# and `¬*` for the mul mask. `Full` is the control mask trained on both operations. Bars are means over seeds, error bars one
# sample standard deviation.

# %%
LABELS = {"full": "Full", "add": "+", "notadd": "¬+", "mul": "*", "notmul": "¬*"}
rows = [
    {"model": m.upper(), "seed": seed, "condition": LABELS[c], "evaluated on": op, "accuracy": r["acc"][c][op]}
    for m in models for seed, r in enumerate(results[m]) for c in addmul.CONDITIONS for op in ("add", "mul")
]
performance = pd.DataFrame(rows)
performance["bar"] = performance["model"] + " on " + performance["evaluated on"]
table = performance.groupby(["model", "evaluated on", "condition"], sort=False)["accuracy"].agg(
    lambda v: stats.format_mean_std(*stats.mean_std(v))).unstack("condition")[list(LABELS.values())]
display(table.rename_axis(columns="accuracy %"))
plots.grouped_bars(performance, x="condition", y="accuracy", hue="bar", ylabel="Accuracy [%]",
                   order=list(LABELS.values()), title="Accuracy on add / mul with each mask");

# %% [markdown]
# ## Which operation does each masked network compute?
# With each stage's mask on the mixed validation set: how often the prediction equals the addition result,
# the multiplication result, or neither (rows: the true operation; row percentages; both of the first two
# columns count when (a+b) ≡ ab mod 100).

# %%
for m in models:
    confusion = {s: np.stack([r["confusion"][s].numpy() * 100 for r in results[m]]) for s in addmul.STAGES}
    plots.heatmaps({f"{s} mask": v.mean(0) for s, v in confusion.items()},
                   std={f"{s} mask": (v.std(0, ddof=1) if len(v) > 1 else None) for s, v in confusion.items()},
                   rows=["true +", "true *"], cols=["+", "*", "none"],
                   title=f"{m.upper()}: predicted operation (% of rows)");

# %% [markdown]
# ## Weights per layer, and how much the add and mul masks overlap
# The number of weights each mask keeps per layer, and per layer the IoU |A∧B|/|A∨B| and IoMin
# |A∧B|/min(|A|,|B|) of the add and mul masks.

# %%
layer_rows = []
for m in models:
    for seed, r in enumerate(results[m]):
        add, mul = r["masks"]["add"], r["masks"]["mul"]
        iou, iomin = mask_algebra.per_tensor(mask_algebra.iou, add, mul), mask_algebra.per_tensor(
            mask_algebra.iomin, add, mul)
        for layer in add.names:
            layer_rows.append({"model": m.upper(), "seed": seed, "layer": layer, "add mask": add.counts()[layer],
                               "mul mask": mul.counts()[layer], "size": add.sizes()[layer],
                               "IoU": iou[layer], "IoMin": iomin[layer]})
layers = pd.DataFrame(layer_rows)
for m in models:
    sub = layers[layers["model"] == m.upper()]
    counts = sub.melt(id_vars=["layer", "seed"], value_vars=["add mask", "mul mask"], var_name="mask",
                      value_name="weights")
    plots.grouped_bars(counts, x="layer", y="weights", hue="mask", ylabel="No. of weights", percent=False,
                       title=f"{m.upper()}: weights kept per layer");
    overlap = sub.melt(id_vars=["layer", "seed"], value_vars=["IoU", "IoMin"], var_name="measure",
                       value_name="value")
    fig = plots.grouped_bars(overlap, x="layer", y="value", hue="measure", ylabel="IoU / IoMin", percent=False,
                             title=f"{m.upper()}: overlap of the add and mul masks per layer")
    fig.axes[0].set_ylim(0, 1.05)
display(layers.groupby(["model", "layer"], sort=False)[["size", "add mask", "mul mask", "IoU", "IoMin"]].mean()
        .round(3))

# %% [markdown]
# ## Numbers for the text (mean over seeds, with sample std)

# %%
metrics = {"n_seeds": seeds}
for m in models:
    per_seed = []
    for r in results[m]:
        row = {f"{m}_acc_{op}_with_{c}": r["acc"][c][op] for c in addmul.CONDITIONS for op in ("add", "mul")}
        o = chance.overlap_with_chance(r["masks"]["add"], r["masks"]["mul"])
        for key, name in (("shared_frac", "shared_frac_add_in_mul"), ("iou", "iou_add_mul")):
            row[f"{m}_{name}"], row[f"{m}_{name}_chance"] = o[key], o[f"{key}_chance"]
            row[f"{m}_{name}_excess"] = o[f"{key}_excess"]
        row[f"{m}_mul_over_add_weights"] = r["masks"]["mul"].total() / max(1, r["masks"]["add"].total())
        row[f"{m}_unmasked_acc_mul"] = r["unmasked_acc"]["mul"]
        row[f"{m}_add_mask_answers_mul_with_sum"] = float(r["confusion"]["add"][1, 0])
        per_seed.append(row)
    metrics.update(stats.summarise(per_seed))
for name, value in metrics.items():
    glue(name, value)
tables.metrics_table(metrics)

# %% [markdown]
# ## What the numbers say
# A verdict per network, computed from the means above by the rules of `modularity.verdicts`, stated once: an
# operation is *kept* when it retains at least 80% of its accuracy with the control mask, *lost* at 20% or
# less, *partly kept* in between (the chance accuracy of an answer modulo 100 is taken as 0); overlap is judged
# on its excess over two independent masks of the same per-tensor densities, (observed − chance)/(1 − chance):
# *strong* from 0.5, *partial* from 0.1, else *about chance*. The paper's claim has two halves: each
# operation's mask alone keeps that operation and loses the other (*specific*), and removing a mask's weights
# loses that operation while the other is kept (*separable*). A part holds in part when the operation that
# should be kept or lost is only partly kept. The claim is *reproduced* for a network when all four parts hold,
# *partly reproduced* when some hold or hold in part, *not reproduced* when none does.

# %%
CHANCE_ACC = 10.0 ** -arithmetic.OUTPUT_DIGITS  # one answer in 100 modulo 100


def verdict(m: str, metrics: dict):
    """The claim's four parts for network ``m``, judged from a run's ``metrics`` (this run's, or the cpu run's
    beside it): the text and whether each part holds."""
    acc = lambda op, cond: metrics[f"{m}_acc_{op}_with_{cond}"]  # noqa: E731
    level = lambda op, cond: verdicts.retention_level(acc(op, cond), acc(op, "full"), CHANCE_ACC)  # noqa: E731
    show = lambda op, cond: f"{op} {level(op, cond)} ({verdicts.percent(acc(op, cond))})"  # noqa: E731
    parts, holds = [], []
    for own, other in (("add", "mul"), ("mul", "add")):
        specific = verdicts.matches([level(own, own), level(other, own)], ["kept", "lost"])
        separable = verdicts.matches([level(own, f"not{own}"), level(other, f"not{own}")], ["lost", "kept"])
        word = lambda holds, name: ("cannot be judged" if holds is None else name if holds is True  # noqa: E731
                                    else f"partly {name}" if holds else f"not {name}")
        parts.append(f"the {own} mask alone: {show(own, own)}, {show(other, own)} ({word(specific, 'specific')})")
        parts.append(f"without the {own} mask: {show(own, f'not{own}')}, {show(other, f'not{own}')} "
                     f"({word(separable, 'separable')})")
        holds += [specific, separable]
    shared = metrics[f"{m}_shared_frac_add_in_mul"]
    parts.append(f"the mul mask keeps {verdicts.percent(shared)} of the add mask's weights against "
                 f"{verdicts.percent(metrics[f'{m}_shared_frac_add_in_mul_chance'])} by chance "
                 f"({verdicts.overlap_level(metrics[f'{m}_shared_frac_add_in_mul_excess'])} sharing)")
    status = verdicts.claim_status(holds)
    return f"{m.upper()} — {status}: " + "; ".join(parts) + ".", holds


def details(m: str) -> str:
    """The numbers behind network ``m``'s verdict, in words."""
    g = lambda key: metrics[f"{m}_{key}"]  # noqa: E731
    pc = verdicts.percent
    return (f"With the control mask the {m.upper()} solves addition {pc(g('acc_add_with_full'))} and multiplication "
            f"{pc(g('acc_mul_with_full'))} of the time. Keeping only the add mask's weights gives "
            f"{pc(g('acc_add_with_add'))} on addition; removing them leaves addition at {pc(g('acc_add_with_notadd'))} "
            f"and multiplication at {pc(g('acc_mul_with_notadd'))}. Removing the mul mask leaves multiplication at "
            f"{pc(g('acc_mul_with_notmul'))} and addition at {pc(g('acc_add_with_notmul'))}. Of the add mask's "
            f"weights, {pc(g('shared_frac_add_in_mul'))} are also in the mul mask, where two independent masks of the "
            f"same per-layer densities would share {pc(g('shared_frac_add_in_mul_chance'))} (IoU "
            f"{g('iou_add_mul'):.2f} against {g('iou_add_mul_chance'):.2f}); the mul mask keeps "
            f"{g('mul_over_add_weights'):.2f} times as many weights as the add mask. Given a multiplication problem, "
            f"the network with only the add mask answers with the sum {pc(g('add_mask_answers_mul_with_sum'))} of "
            "the time (the confusion above).")


all_parts = []
for m in settings:
    if m in models:
        text, holds = verdict(m, metrics)
        all_parts += holds
        glue(f"{m}_details", details(m))
    else:
        text = f"{m.upper()}: not trained at this preset (models: {', '.join(models)})."
        glue(f"{m}_details", "No numbers for it in this run.")
    glue(f"{m}_verdict", text)
    print(text)
glue("claim_status", verdicts.claim_status(all_parts))
trained_sizes = {"fnn": f"FNN hidden {fnn_hidden} ({fnn_base_steps:,} base steps)",
                 "lstm": f"LSTM {lstm_layers}×{lstm_hidden} ({lstm_base_steps:,} base steps)"}
glue("run_size", ", ".join(trained_sizes[m] for m in models) + f", {mask_steps:,} steps per mask stage, {seeds} seeds")

# %% [markdown]
# ### Beside the `cpu` preset
# When this run trained a network of another size or step count than the published `cpu` run, that run's
# numbers stand beside its own (read from its manifest), and the same rule judges both.

# %%
cpu_run = runner.published_beside("add_mul", "cpu")
cpu_parameters = cpu_run["parameters"] if cpu_run else {}


def size_of(parameters: dict, m: str) -> str:
    steps = parameters[f"{m}_base_steps"], parameters["mask_steps"]
    hidden = parameters["fnn_hidden"] if m == "fnn" else [parameters["lstm_hidden"]] * parameters["lstm_layers"]
    return f"{m.upper()} {hidden}, {steps[0]:,} base + {steps[1]:,} mask steps per stage"


this_parameters = {name: globals()[name] for name in ("fnn_hidden", "lstm_hidden", "lstm_layers", "fnn_base_steps",
                                                      "lstm_base_steps", "mask_steps")}
differing = [m for m in models if cpu_run and m in cpu_parameters["models"]
             and size_of(this_parameters, m) != size_of(cpu_parameters, m)]
if differing:
    quantities = {f"acc_{op}_with_{c}": f"{op} accuracy, {label}" for c, label in
                  (("full", "control mask"), ("add", "add mask only"), ("notadd", "without the add mask"),
                   ("mul", "mul mask only"), ("notmul", "without the mul mask")) for op in ("add", "mul")}
    quantities |= {"shared_frac_add_in_mul": "add mask's weights also in the mul mask",
                   "shared_frac_add_in_mul_chance": "the same, by chance"}
    for m in differing:
        display(comparison.beside({f"this run ({size_of(this_parameters, m)})": metrics,
                                   f"cpu ({size_of(cpu_parameters, m)})": cpu_run["metrics"]},
                                  {f"{m}: {label}": f"{m}_{key}" for key, label in quantities.items()}))
    beside_cpu = " ".join(f"At the `cpu` preset ({size_of(cpu_parameters, m)}): {verdict(m, cpu_run['metrics'])[0]}"
                          for m in differing)
else:
    beside_cpu = comparison.nothing_beside(cpu_run, "that trains a network of another size or step count")
glue("beside_cpu", beside_cpu)
print(beside_cpu)

# %% [markdown]
# ### FNN
# {glue:text}`fnn_verdict`
#
# {glue:text}`fnn_details`
#
# ### LSTM
# {glue:text}`lstm_verdict`
#
# {glue:text}`lstm_details`
#
# ### At the `cpu` preset
# {glue:text}`beside_cpu`
#
# Spread over {glue:text}`n_seeds` seeds is in the table and error bars above. This run used
# {glue:text}`run_size`; the paper used a 2000×4 FNN, a 2×256 LSTM, 20,000 base steps, 20,000 steps per
# mask stage and 10 seeds (the `paper` preset). The paper's own numbers could not be read offline, so this chapter compares with its stated claim only; every other difference from the original is
# on the deviations page.
