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
# # Transfer on permuted MNIST: do new tasks reuse the weights of earlier ones?
#
# **Claim under test** (Csordás et al. 2021, the permuted-MNIST transfer experiment; original code
# `RobertCsordas/modules`, task `permuted_mnist`): networks do not reuse the weights
# that already compute a function when the same function is needed on differently arranged inputs. Here the
# tasks are MNIST with the pixels permuted (task 1 unpermuted, task p + 1 through `RandomState(p)`): every
# task is the same classification, so everything above the first layer *could* be shared by all tasks.
#
# One network learns the tasks in sequence with **weights and a mask trained together** (no base training).
# Before each task, the weights some earlier task's mask used — their union U, first layer excluded —
# are kept and frozen; all others are re-initialised; the first layer is re-initialised completely. The new
# mask starts at logit 2 on U and at `mask_new_init` elsewhere: 2 makes old and new weights equally
# attractive, 0 or −1 tilt the start towards the old ones. The figure of the paper reports, for the tasks T2,
# T4, …, T10 and the layers 2–4, the **shared proportion** |M_p ∧ U| / |M_p|: how much of the new task's mask
# lies in weights earlier tasks already trained. The paper's values could not be read offline.
#
# We add the proportion expected **by chance** — the fraction of the layer's weights that are in U: a mask
# that picked its weights without regard to U would share that much. Reuse means sharing well above it.

# %% tags=["parameters"]
preset: str = ""  # in Jupyter, "smoke" takes every value below from that preset (seconds, not minutes)
seeds: int = 2  # number of seeds 0..seeds-1 [at least 1]
hidden: list[int] = [256, 256, 64]  # hidden sizes (paper: 800, 800, 64) [non-empty; at least 1]
n_tasks: int = 11  # tasks T1..Tn (paper: 11: the unpermuted task and 10 permutations) [at least 2]
steps_per_task: int = 1000  # joint weight + mask training steps per task (paper: 30000) [at least 1]
batch_size: int = 128  # batch size B (paper: 128) [at least 1; multiple of n_mask_samples]
lr: float = 0.01  # Adam learning rate of weights and mask (paper: 0.01) [above 0]
beta: float = 0.00128  # logit penalty β (paper: 0.00128) [at least 0]
n_mask_samples: int = 8  # K mask samples per step (paper: 8) [at least 1]
mask_new_inits: list[float] = [2.0, 0.0, -1.0]  # initial logit of weights not yet used; the first is the primary (paper: 2, 0, -1) [non-empty]
device: str = "auto"  # "auto", "cpu" or "cuda" [one of: auto, cpu, cuda]

# %%
from modularity.parameters import check_notebook_parameters

check_notebook_parameters("permuted_mnist_transfer", globals())  # papermill and Jupyter get the runner's checks

from dataclasses import asdict

import matplotlib.pyplot as plt
import pandas as pd
import torch

from modularity import cache, comparison, judged, plots, provenance, runner, stats, tables, verdicts
from modularity.chance import excess
from modularity.data import images
from modularity.experiments import transfer
from modularity.glue import glue
from modularity.train import choose_device

torch_device = choose_device(device)
provenance.record("run", "device", str(torch_device))
assert n_tasks >= 2, "at least two tasks are needed to measure transfer"
assert mask_new_inits, "give at least one mask_new_init"
data = transfer.task_data(images.load("mnist"), torch_device)
print(f"device {torch_device}, torch threads {torch.get_num_threads()}; {len(data.y_train):,} training and "
      f"{len(data.y_valid):,} hold-out images")


def init_label(value):
    return f"{value:g}".replace("-", "m")  # metric keys: new_init_m1 for −1


# %% [markdown]
# ## Training every task in sequence, for every `mask_new_init` and seed
# Every finished task is cached in the data root; an interrupted run resumes at the task where it stopped.
# A task's training depends only on the tasks before it, so the task cache is keyed without `n_tasks`: a run
# with more tasks starts where a finished run with fewer stopped.

# %%
units = {}
for new_init in mask_new_inits:
    settings = transfer.Settings(hidden, n_tasks, steps_per_task, batch_size, lr, beta, n_mask_samples,
                                 mask_new_init=new_init)
    params = dict(asdict(settings), device=torch_device.type)
    task_params = {k: v for k, v in params.items() if k != "n_tasks"}
    for seed in range(seeds):
        store = cache.SeedStore("permuted_mnist_transfer", task_params, seed, scope=transfer.__name__)
        units[new_init, seed] = cache.Unit("permuted_mnist_transfer/result", params, seed, transfer.run_seed,
                                           (settings, seed, data, store), scope=transfer.__name__)
results = dict(zip(units, cache.cached_many(units.values())))  # in order, or on Ray with --executor ray
for (new_init, seed), result in results.items():
    accs = [t["valid_acc"] for t in result["tasks"]]
    print(f"mask_new_init {new_init:g} seed {seed}: hold-out accuracy per task "
          + " ".join(f"{a:.3f}" for a in accs))

# %% [markdown]
# ## Each task is learned
# Hold-out accuracy of each task with its own mask, right after it was trained (earlier tasks are not
# re-evaluated: the first layer is re-initialised for every task, so they are lost by design).

# %%
layer_names = [f"layers.{i}.weight" for i in range(len(hidden) + 1)]
rows = []
for (new_init, seed), result in results.items():
    for task, t in enumerate(result["tasks"]):
        rows.append({"mask_new_init": new_init, "seed": seed, "task": f"T{task + 1}", "accuracy": t["valid_acc"],
                     "mask density": t["mask"].density()})
tasks_frame = pd.DataFrame(rows)
display(tasks_frame.pivot_table(index="task", columns="mask_new_init", values="accuracy", aggfunc="mean",
                                sort=False).round(3).rename_axis(columns="accuracy (mean over seeds) by mask_new_init"))

# %% [markdown]
# ## How much of each new mask lies in weights earlier tasks used?
# Bars: the shared proportion |M_p ∧ U| / |M_p| per layer (the paper's layers 2–4, i.e. the second Linear layer
# onwards) for the tasks T2, T4, … (mean over seeds, error bars one sample std); black ticks: the proportion
# expected by chance, the fraction of that layer's weights in U.

# %%
shown_tasks = list(range(1, n_tasks, 2))  # T2, T4, … (p = 1, 3, …)
share_rows = []
for (new_init, seed), result in results.items():
    for p in shown_tasks:
        t = result["tasks"][p]
        for layer_index in range(1, len(hidden) + 1):
            name = f"layers.{layer_index}.weight"
            share_rows.append({"mask_new_init": new_init, "seed": seed, "task": f"T{p + 1}",
                               "layer": f"layer {layer_index + 1}", "shared": t["shared"][name],
                               "chance": t["used_density"][name]})
shares = pd.DataFrame(share_rows)
for new_init in mask_new_inits:
    sub = shares[shares.mask_new_init == new_init]
    fig = plots.grouped_bars(sub, x="layer", y="shared", hue="task", ylabel="shared proportion", percent=False,
                             title=f"mask_new_init = {new_init:g}: new mask in previously used weights")
    ax = fig.axes[0]
    chance = sub.groupby(["layer", "task"], sort=False)["chance"].mean()
    for bar_group, task in zip(ax.containers, sub["task"].unique()):
        for patch, layer in zip(bar_group.patches, sorted(sub["layer"].unique())):
            x = patch.get_x() + patch.get_width() / 2
            ax.plot([x - patch.get_width() / 2, x + patch.get_width() / 2], [chance[layer, task]] * 2, color="black",
                    lw=1.5)
    ax.set_ylim(0, 1.05)

# %% [markdown]
# ## Numbers for the text (mean over seeds, with sample std)
# For the primary `mask_new_init` (the first in the list): `shared_frac_layer{l}_task{t}` with the paper's
# labels, `chance_frac_layer{l}_task{t}`, and `acc_task{t}`; the other settings carry the same keys prefixed
# with `new_init_{value}_`.

# %%
metrics = {"n_seeds": seeds}
for index, new_init in enumerate(mask_new_inits):
    prefix = "" if index == 0 else f"new_init_{init_label(new_init)}_"
    per_seed = []
    for seed in range(seeds):
        tasks = results[new_init, seed]["tasks"]
        row = {f"{prefix}acc_task{p + 1}": tasks[p]["valid_acc"] for p in range(n_tasks)}
        for p in shown_tasks:
            for layer_index in range(1, len(hidden) + 1):
                name = f"layers.{layer_index}.weight"
                row[f"{prefix}shared_frac_layer{layer_index + 1}_task{p + 1}"] = tasks[p]["shared"][name]
                row[f"{prefix}chance_frac_layer{layer_index + 1}_task{p + 1}"] = tasks[p]["used_density"][name]
                row[f"{prefix}shared_frac_layer{layer_index + 1}_task{p + 1}_chance"] = tasks[p]["used_density"][name]
                row[f"{prefix}shared_frac_layer{layer_index + 1}_task{p + 1}_excess"] = excess(
                    tasks[p]["shared"][name], tasks[p]["used_density"][name])
        per_seed.append(row)
    metrics.update(stats.summarise(per_seed))
last = shown_tasks[-1] + 1
upper = [layer_index + 1 for layer_index in range(1, len(hidden) + 1)]
for index, new_init in enumerate(mask_new_inits):
    prefix = "" if index == 0 else f"new_init_{init_label(new_init)}_"
    metrics[f"{prefix}mean_shared_last_task"] = sum(metrics[f"{prefix}shared_frac_layer{l}_task{last}"] for l in upper) / len(upper)
    metrics[f"{prefix}mean_chance_last_task"] = sum(metrics[f"{prefix}chance_frac_layer{l}_task{last}"] for l in upper) / len(upper)
    metrics[f"{prefix}min_task_acc"] = min(metrics[f"{prefix}acc_task{p + 1}"] for p in range(n_tasks))
for name, value in metrics.items():
    glue(name, value)
tables.metrics_table(metrics)

# %% [markdown]
# ## What the numbers say
# Computed from the means above, per `mask_new_init`, on the last task shown, by the rules of
# `modularity.verdicts`: a layer's sharing is judged on its excess over chance, (shared − chance)/(1 − chance) —
# *strong* reuse from 0.5, *partial* from 0.1, else *about chance* (no reuse). The paper's claim (no reuse) is
# *reproduced* when every layer shown is about chance, *not reproduced* when none is.

# %%
def layer_kind(prefix, l, metrics=metrics, task=last):
    # a manifest leaves out NaN metrics: an excess that was undefined is absent from a published run's
    return verdicts.overlap_level(metrics.get(f"{prefix}shared_frac_layer{l}_task{task}_excess", float("nan")))


def layer_reading(prefix, l, metrics=metrics, task=last):
    """A layer's shared proportion on ``task``, its chance level, and the rule's label beside the excess it judges
    (sparse masks make small shares look large, so the judged number stands beside its label)."""
    shared, by_chance, excess_over = (metrics.get(f"{prefix}shared_frac_layer{l}_task{task}{suffix}", float("nan"))
                                      for suffix in ("", "_chance", "_excess"))
    kind = layer_kind(prefix, l, metrics, task)
    if kind == "undefined":
        return shared, by_chance, "keeps no weights" if shared != shared else "cannot be judged: chance is 1"
    return shared, by_chance, f"excess {judged.shown_excess(excess_over)}: {kind}{'' if kind == 'about chance' else ' reuse'}"


def verdict(index, new_init, metrics=metrics):
    """One ``mask_new_init``'s sharing on the last task shown, judged from a run's ``metrics`` (this run's, or
    the cpu run's beside it)."""
    prefix = "" if index == 0 else f"new_init_{init_label(new_init)}_"
    parts = []
    for l in upper:
        shared, by_chance, label = layer_reading(prefix, l, metrics)
        parts.append(f"layer {l} {shared:.1%} vs chance {by_chance:.1%} ({label})")
    return (f"mask_new_init = {new_init:g}, task T{last}: " + "; ".join(parts)
            + f"; every task learned to at least {metrics[f'{prefix}min_task_acc']:.1%}")


def primary_kinds(metrics=metrics, task=last):
    """Each layer's sharing on the primary setting's task ``task`` (the last shown unless given), judged from a
    run's ``metrics``."""
    return {l: layer_kind("", l, metrics, task) for l in upper}


def no_reuse_status(kinds):
    """The claim of no reuse, from ``primary_kinds``: holds in a layer whose sharing is about chance."""
    return verdicts.claim_status([None if k == "undefined" else k == "about chance" for k in kinds.values()])


setting_verdicts = [verdict(i, v) for i, v in enumerate(mask_new_inits)]
for i, text in enumerate(setting_verdicts):
    glue(f"verdict_{i}", text)
    print(text)
glue("verdicts", " — ".join(setting_verdicts))
by_task = "; ".join(f"T{p + 1} {no_reuse_status(primary_kinds(task=p + 1))} ("
                    + ", ".join(f"layer {l} {layer_reading('', l, task=p + 1)[2]}" for l in upper) + ")"
                    for p in shown_tasks)
glue("by_task", by_task)
print(by_task)
kinds = primary_kinds()
status = no_reuse_status(kinds)
glue("claim_status", status)
reusing = [l for l, k in kinds.items() if k in ("strong", "partial")]
agreement = (f"The claim of no reuse is {status} at this preset: in layer{'s' if len(reusing) > 1 else ''} "
             f"{', '.join(map(str, reusing))} the new task's mask lies in weights earlier tasks trained beyond what "
             "chance would put there." if reusing else
             f"The claim of no reuse is {status} at this preset: in no layer does the new task's mask reuse the "
             "earlier tasks' weights beyond chance.")
glue("agreement", agreement)
print(agreement)
glue("run_size", f"784-{'-'.join(map(str, hidden))}-10, {n_tasks} tasks × {steps_per_task:,} steps, "
     f"mask_new_init ∈ {{{', '.join(f'{v:g}' for v in mask_new_inits)}}}, {seeds} seeds")
PAPER_STEPS_PER_TASK, PAPER_N_TASKS = 30_000, 11
fewer_tasks = ""
if n_tasks < PAPER_N_TASKS:  # the front page then says what the status covers
    fewer_tasks = (f" It trained only the first {n_tasks} of the paper's {PAPER_N_TASKS} tasks, so it judges reuse on "
                   f"T{last}, where fewer earlier tasks have claimed weights than on the paper's later tasks.")
    glue("claim_scope", f"judged on T{last}: the run trained the first {n_tasks} of the paper's {PAPER_N_TASKS} tasks")
glue("steps_note", f"At this preset each task trains for {steps_per_task:,} of the paper's {PAPER_STEPS_PER_TASK:,} "
     "steps, so the masks are less pruned and the chance level is higher than it would be there. It also gives the "
     "re-initialised weights little time to become useful, while the frozen ones already are: whether the reuse "
     "measured here survives the paper's step count is for the `long` and `paper` presets to show." + fewer_tasks
     if steps_per_task < PAPER_STEPS_PER_TASK else
     f"This run trained each task for the paper's {PAPER_STEPS_PER_TASK:,} steps, so the step count is not why it "
     "differs from the paper where it does; its network is the size given above." + fewer_tasks)

# %% [markdown]
# ### Beside the `cpu` preset
# When this run trained each task longer than the published `cpu` run, that run's numbers for the primary
# `mask_new_init` stand beside its own (read from its manifest), on the same task, and the same rule judges both.

# %%
cpu_run = runner.published_beside("permuted_mnist_transfer", "cpu")
cpu_parameters = cpu_run["parameters"] if cpu_run else {}
if (cpu_run and steps_per_task > cpu_parameters["steps_per_task"] and cpu_parameters["n_tasks"] >= n_tasks
        and cpu_parameters["mask_new_inits"][0] == mask_new_inits[0] and cpu_parameters["hidden"] == hidden):
    cpu_steps = cpu_parameters["steps_per_task"]
    rows = {f"layer {l}, T{last}: {label}": f"{key}_layer{l}_task{last}" for l in upper
            for key, label in (("shared_frac", "shared"), ("chance_frac", "by chance"))}
    rows |= {f"T{p + 1} accuracy": f"acc_task{p + 1}" for p in range(n_tasks)}
    display(comparison.beside({f"this run ({steps_per_task:,} steps per task)": metrics,
                               f"cpu ({cpu_steps:,} steps per task)": cpu_run["metrics"]}, rows))
    cpu_status = no_reuse_status(primary_kinds(cpu_run["metrics"]))
    beside_cpu = (f"At the `cpu` preset ({cpu_steps:,} steps per task), judged on the same task T{last}, the claim "
                  f"of no reuse was {cpu_status}: {verdict(0, mask_new_inits[0], cpu_run['metrics'])}; at "
                  f"{steps_per_task:,} steps it is {status}.")
else:
    beside_cpu = comparison.nothing_beside(cpu_run, "with more steps per task on the same network")
glue("beside_cpu", beside_cpu)
print(beside_cpu)

# %% [markdown]
# ### Result
# {glue:text}`verdict_0`.
#
# {glue:text}`agreement`
#
# All settings: {glue:text}`verdicts`.
#
# The claim of no reuse, task by task for the primary setting (the same rule on each task shown):
# {glue:text}`by_task`.
#
# On the last task shown, the new mask of the primary setting lies in previously used weights for
# {glue:text}`mean_shared_last_task:.1%` of its layer-2–4 weights on average, against
# {glue:text}`mean_chance_last_task:.1%` expected by chance. Reuse of a computation that every task could share
# would put these proportions near 1 in the upper layers; a mask that ignores the history would put them at the
# chance level.
#
# {glue:text}`beside_cpu`
#
# This run used {glue:text}`run_size`. The paper used a 784-800-800-64-10 network, 30,000 steps per task and
# 11 tasks (the `paper` preset, for a GPU). {glue:text}`steps_note`
