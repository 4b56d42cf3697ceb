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
# # Performance: how fast masks train and networks cluster, and evidence that the fast paths compute the same thing
#
# Mask training dominates the cost of every weight-mask experiment: each step samples K = 4 hard masks
# over every weight, and for wide networks this elementwise work outweighs the matrix multiplications.
# This chapter times base and mask training of the add/mul FNNs, against a reference transcription of the
# paper's formula (two uniforms per element, separate ops, one batch chunk at a time — the way the original
# code computes it) timed **in the same run**, so that the speed-up is a ratio measured on the same machine
# at the same moment. It then checks that the fast path computes the same thing. The last section times the
# clusterability chapter's shuffle null model against scikit-learn's spectral clustering.

# %% tags=["parameters"]
preset: str = ""  # in Jupyter, "smoke" takes every value below from that preset (seconds, not minutes)
threads: int = 2  # torch threads per benchmark process [at least 1]
steps_scale: float = 1.0  # multiplies the timed steps of every case (smaller is quicker and noisier) [above 0]
models: list[str] = ["fnn_32x2", "fnn_400_400_200", "fnn_2000x4"]  # FNNs to time [non-empty; one of: fnn_32x2, fnn_400_400_200, fnn_2000x4]
equivalence_samples: int = 200000  # samples for the distribution checks [at least 1]
fused_kernels: bool = True  # fuse the mask sampling kernels with torch.compile (False: eager only)
clustering_graphs: int = 16  # shuffled graphs per network in the clustering benchmark [at least 1]
repeats: int = 3  # paired comparisons (stages, freed memory): times each side is timed, alternating [at least 1]

# %%
from modularity.parameters import check_notebook_parameters

check_notebook_parameters("performance", globals())  # papermill and Jupyter get the runner's checks

import pandas as pd
import torch

from modularity import bench, bench_clustering, bench_mask_step, plots, provenance, readme, tables
from modularity.glue import glue

provenance.record("run", "device", "cuda" if torch.cuda.is_available() else "cpu")
report = bench.benchmark(threads=threads, scale=steps_scale, models=models, fused_kernels=fused_kernels)
env = report["environment"]
print(f"torch {env['torch']}, {env['threads']} threads, {env['cpu_count']} cores, allocator: {env['allocator']}")
glue("cpu_model", env["cpu"])

# %% [markdown]
# ## Steps per second
# *This project* and *reference transcription* are measured here, in this run, on {glue:text}`cpu_model`.
# *Original code* is the original implementation's speed measured on a 2-core machine (torch on CPU, 2 threads,
# batch 128, K = 4) when this project was planned; it is cited, not measured by this notebook, and that
# machine's CPU model was not recorded. This project's runs have been made on 2-core machines of more than one
# CPU model (each manifest names its own), and their speeds differ, so a ratio against the cited figure is
# indicative only; the ratio against the reference transcription, timed in the same run, is the one that holds.

# %%
ORIGINAL = {("fnn_2000x4", "base"): 8.2, ("fnn_2000x4", "mask"): 0.34,
            ("fnn_400_400_200", "base"): 49.0, ("fnn_400_400_200", "mask"): 26.0}
rows = [{"model": r["case"], "device": r["device"],
         "what": {"base": "base training", "mask": "mask training",
                  "mask_reference": "mask training"}[r["mode"]],
         "implementation": "reference transcription" if r["mode"] == "mask_reference" else "this project",
         "steps/s": r["steps_per_s"], "peak memory [MB]": r["peak_memory_mb"]} for r in report["results"]]
rows += [{"model": m, "device": "cpu", "what": f"{mode} training", "implementation": "original code (cited)",
          "steps/s": v, "peak memory [MB]": None} for (m, mode), v in ORIGINAL.items() if m in models]
timings = pd.DataFrame(rows)
display(timings.round(2))
fig = plots.grouped_bars(timings[timings["device"] == "cpu"].assign(
    bar=lambda d: d["model"] + ", " + d["what"]), x="bar", y="steps/s", hue="implementation",
    ylabel="steps / s (log scale)", percent=False, title="Training speed on this machine")
fig.axes[0].set_yscale("log")
fig.axes[0].tick_params(axis="x", labelrotation=15)

# %% [markdown]
# ## Is it the same method?
# For one fixed uniform draw the project's sampler must give exactly the paper's hard mask and the same
# straight-through gradient; its samples must be 1 with probability σ(logit); and the one-uniform logistic
# noise must have the distribution of the original's difference of two Gumbels.

# %%
evidence = bench.equivalence_evidence(n=equivalence_samples)
tables.metrics_table(evidence)

# %%
metrics = {"n_threads": threads}
for r in report["results"]:
    if r["device"] == "cpu":
        key = {"base": "base", "mask": "mask", "mask_reference": "reference_mask"}[r["mode"]]
        metrics[f"{key}_steps_per_s_{r['case']}"] = r["steps_per_s"]
for key, ratio in report["mask_speedup_over_reference"].items():
    metrics[f"mask_speedup_over_reference_{key}"] = ratio
for model in models:
    if (model, "mask") in ORIGINAL:
        metrics[f"mask_speedup_over_original_{model}"] = metrics[f"mask_steps_per_s_{model}"] / ORIGINAL[(model, "mask")]
if "cpu_fnn_32x2" in report["mask_speedup_over_reference"]:
    metrics["small_model_against_loop"] = bench.against_loop(report["mask_speedup_over_reference"]["cpu_fnn_32x2"])
metrics["forward_mismatches"] = evidence["forward_mismatches"]
metrics["gradient_max_abs_diff"] = evidence["gradient_max_abs_diff"]
metrics["sample_frequency_max_abs_error"] = evidence["sample_frequency_max_abs_error"]
metrics["noise_cdf_max_diff"] = evidence["noise_cdf_max_diff_two_vs_one_uniform"]
for name, value in metrics.items():
    glue(name, value)
tables.metrics_table(metrics)

# %% [markdown]
# ## Summary
# On this machine ({glue:text}`n_threads` threads), mask training of the 2000×4 FNN runs at
# {glue:text}`mask_steps_per_s_fnn_2000x4:.2f` steps/s, {glue:text}`mask_speedup_over_reference_cpu_fnn_2000x4:.1f`×
# the reference transcription measured in the same run and {glue:text}`mask_speedup_over_original_fnn_2000x4:.1f`×
# the original code's cited 0.34 steps/s (measured on another machine: indicative only); base training runs at
# {glue:text}`base_steps_per_s_fnn_2000x4:.1f` steps/s.
# The 400-400-200 FNN trains masks at {glue:text}`mask_steps_per_s_fnn_400_400_200:.0f` steps/s
# ({glue:text}`mask_speedup_over_original_fnn_400_400_200:.1f`× the original's 26).
# On a model as small as the tutorial's (two hidden layers of 32 units), where the cost of each call rather than
# the arithmetic sets the speed, mask training runs at {glue:text}`mask_steps_per_s_fnn_32x2:.0f` steps/s,
# {glue:text}`mask_speedup_over_reference_cpu_fnn_32x2:.2f`× the per-chunk loop of the reference transcription:
# {glue:text}`small_model_against_loop`.
#
# The fast path and the formula disagree on {glue:text}`forward_mismatches` sampled mask elements for the
# same uniforms, their straight-through gradients differ by at most {glue:text}`gradient_max_abs_diff:.1e`
# (float rounding), sampled masks are 1 with the probability σ(logit) to within
# {glue:text}`sample_frequency_max_abs_error:.4f`, and the noise distributions differ by at most
# {glue:text}`noise_cdf_max_diff:.4f` in CDF (sampling error at this sample size).
#
# How: the hard sample l + g > 0 is the event u > σ(−l) for one uniform u; the straight-through slope
# s(1−s) is rebuilt in the backward from u alone, with no logarithm or exponential per sampled element; for
# large tensors the forward and backward are each one fused `torch.compile` kernel; all K samples go
# through the network in one vmapped call (batched matrix multiplications); and the process keeps the memory a
# step frees for the next step instead of faulting it in again (measured below).

# %% [markdown]
# ## Mask stages: together or one after another
# The add/mul experiment trains three masks (control, add, mul) on the same frozen network, the CIFAR chapters
# ten. They can be trained one after another or all in one batched pass (`StagedMaskLogits`: each stage its
# own batch, elementwise Adam and per-stage clipping keep them independent). Both are timed here in stage-steps
# per second (one stage's step on one batch of 128), in the same run.

# %%
stages_report = bench.benchmark_stages(threads=threads, scale=steps_scale, repeats=repeats)
glue("repeats", repeats)
for key, ratio in stages_report["batched_stages_speedup"].items():
    model = key.removeprefix("cpu_")
    for mode, median in stages_report["medians"][key].items():
        glue(f"{mode}_stage_steps_per_s_{model}", median["stage_steps_per_s"])
    glue(f"batched_stages_speedup_{model}", ratio)
    glue(f"batched_stages_speedup_low_{model}", stages_report["batched_stages_speedup_range"][key][0])
    glue(f"batched_stages_speedup_high_{model}", stages_report["batched_stages_speedup_range"][key][1])
    glue(f"batched_stages_verdict_{model}", bench.batching_pays(ratio))
pd.DataFrame([{"model": r["case"], "stages": "together" if r["mode"] == "stages_together" else "one at a time",
               "repeat": r["repeat"] + 1, "stage-steps/s": r["stage_steps_per_s"],
               "faulted in per step [MB]": r["faulted_mb_per_step"]} for r in stages_report["results"]]).round(2)

# %% [markdown]
# Each side was timed {glue:text}`repeats` times, alternating with the other (this machine's speed drifts over
# minutes); the figures are medians. Together, {glue:text}`stages_together_stage_steps_per_s_fnn_400_400_200:.1f`
# stage-steps/s against {glue:text}`stages_alone_stage_steps_per_s_fnn_400_400_200:.1f` one at a time for the
# 400-400-200 FNN ({glue:text}`batched_stages_speedup_fnn_400_400_200:.2f`×, from
# {glue:text}`batched_stages_speedup_low_fnn_400_400_200:.2f`× to {glue:text}`batched_stages_speedup_high_fnn_400_400_200:.2f`×
# within a repeat: {glue:text}`batched_stages_verdict_fnn_400_400_200`), and
# {glue:text}`batched_stages_speedup_fnn_32x2:.2f`× for the 32-32 FNN ({glue:text}`batched_stages_verdict_fnn_32x2`).
# Why: every stage-step draws K mask samples of every weight, multiplies the batch by them and back-propagates to
# the logits, whether the stages run together or not. Batching saves what a step costs besides that arithmetic —
# Python, building the autograd graph, launching the optimizer — and hands every operation S times as many
# elements, which the threads may share better than a small tensor. The overhead is the larger share on a small
# network (and on a GPU, where every operation is a kernel launch) and shrinks as the network widens, since the
# arithmetic grows with the number of weights and the overhead does not. So batching stages pays most on small
# networks and accelerators; the breakdown below separates the two gains.

# %% [markdown]
# ## Where a mask step's time goes
# Each part of the project's mask step, timed alone on the same network and shapes in the same process as
# the whole step: drawing the K uniforms of every masked tensor; the sampling kernel, which turns them into K
# masked copies of each weight; the network's forward and backward on those copies (batched matrix products);
# the logit-gradient kernel, which folds the copies' gradients into the logits' gradient; and the clipped Adam
# step. The uniform draws and the two kernels each pass over all K×N sampled elements. The rest of the step is
# autograd's bookkeeping, allocating the K×N tensors, and the loss.

# %%
breakdowns = {model: bench_mask_step.breakdown(model, threads=threads, scale=steps_scale,
                                               fused_kernels=fused_kernels) for model in models}
shares = pd.DataFrame({model: {**b["share"], "rest": b["rest_s"] / b["step_s"]} for model, b in breakdowns.items()}).T
ax = shares.clip(lower=0).plot.barh(stacked=True, figsize=(8, 1.2 + 0.6 * len(shares)), width=0.6)
ax.axvline(1.0, color="black", lw=1, ls="--")  # the whole step: parts timed alone may add up to a little more
ax.set_xlabel("share of one mask step (dashed: the whole step; rest = step − parts, drawn when above 0)")
ax.set_title("Where a mask step's time goes", pad=50)
ax.legend(ncols=3, fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
for model, b in breakdowns.items():
    glue(f"mask_step_ms_{model}", b["step_s"] * 1e3)
    glue(f"mask_step_elementwise_share_{model}", b["elementwise_share"])
    glue(f"mask_step_matmul_share_{model}", b["share"]["matrix products"])
    glue(f"mask_step_uniform_share_{model}", b["share"]["uniform draws"])
largest = max(models, key=lambda m: sum(bench.MODELS[m]))
glue("mask_step_summary", bench_mask_step.summary(breakdowns[largest]))
stage_speedups = {key.removeprefix("cpu_"): ratio for key, ratio in stages_report["batched_stages_speedup"].items()
                  if key.startswith("cpu_")}
glue("batching_explained", bench_mask_step.batching_explained(breakdowns, stage_speedups))
(shares * 100).round(1).rename(columns=lambda c: f"{c} [%]")

# %% [markdown]
# {glue:text}`mask_step_summary`
#
# The breakdown also separates what training mask stages together (above) gains. Each stage still needs every
# part for its own samples. If batching only removed the rest of the step and made no part faster, a stage-step
# would run (whole step) ÷ (sum of the parts) times as fast; a measured speed-up above that means the parts
# themselves ran faster on the stages' larger tensors. {glue:text}`batching_explained`

# %% [markdown]
# ## Freed memory: kept in the heap or returned to the system
# A mask step allocates its K×N tensors (uniforms, masked weights, their gradients) and frees them again every
# step. glibc's malloc hands every block above 32 MiB back to the operating system when it is freed, so the next
# step's block is mapped anew, and the kernel faults it in and zeroes it page by page. The project's runs start
# their processes with freed memory kept in the heap instead (`MALLOC_MMAP_MAX_=0`, a high
# `MALLOC_TRIM_THRESHOLD_`; `modularity.heap`): the same numbers, computed in memory already mapped. Here each
# FNN's mask step is timed both ways in the same run, with the memory faulted in per step.

# %%
heap_report = bench.benchmark_heap(threads=threads, scale=steps_scale, models=models, repeats=repeats)
for model, ratio in heap_report["kept_heap_speedup"].items():
    for heap, median in heap_report["medians"][model].items():
        glue(f"mask_steps_per_s_{heap}_heap_{model}", median["steps_per_s"])
        glue(f"faulted_mb_per_step_{heap}_{model}", median["faulted_mb_per_step"])
    glue(f"kept_heap_speedup_{model}", ratio)
    low, high = heap_report["kept_heap_speedup_range"][model]
    glue(f"kept_heap_speedup_low_{model}", low)
    glue(f"kept_heap_speedup_high_{model}", high)
    glue(f"kept_heap_verdict_{model}", bench.keeping_memory_pays(ratio, low, high))
pd.DataFrame([{"model": r["case"], "freed memory": r["heap"], "repeat": r["repeat"] + 1, "mask steps/s": r["steps_per_s"],
               "faulted in per step [MB]": r["faulted_mb_per_step"]} for r in heap_report["results"]]).round(2)

# %% [markdown]
# With freed memory returned to the system, a mask step of the 2000×4 FNN faulted in
# {glue:text}`faulted_mb_per_step_returned_fnn_2000x4:.0f` MB and ran at
# {glue:text}`mask_steps_per_s_returned_heap_fnn_2000x4:.2f` steps/s; with it kept,
# {glue:text}`faulted_mb_per_step_kept_fnn_2000x4:.0f` MB and {glue:text}`mask_steps_per_s_kept_heap_fnn_2000x4:.2f`
# steps/s (medians of {glue:text}`repeats`, timed alternately): {glue:text}`kept_heap_speedup_fnn_2000x4:.2f`×, from
# {glue:text}`kept_heap_speedup_low_fnn_2000x4:.2f`× to {glue:text}`kept_heap_speedup_high_fnn_2000x4:.2f`× within a
# repeat: {glue:text}`kept_heap_verdict_fnn_2000x4`. The step with
# memory returned is the project's mask step as it ran before this setting (the same kernels and the same random
# values), so this ratio is what the setting gained, timed in one run. The 400-400-200 FNN's tensors (a few MB
# each) stay below glibc's threshold: {glue:text}`faulted_mb_per_step_returned_fnn_400_400_200:.1f` MB faulted in per
# step with memory returned, {glue:text}`kept_heap_speedup_fnn_400_400_200:.2f`×
# ({glue:text}`kept_heap_verdict_fnn_400_400_200`).

# %% [markdown]
# ## The book's cost
# All `cpu` runs of the book together took {glue:text}`cpu_book_total_wall_h:.1f` h of wall time when this page was
# made (from their manifests; a run made in parts through the per-seed cache counts the core-hours of its units,
# since its wall time is only its last part's; the README's runtime table is always current).

# %%
hours, counted, _ = readme.cpu_book_total()
glue("cpu_book_total_wall_h", hours)
glue("cpu_book_runs_counted", counted)

# %% [markdown]
# ## Spectral clustering of shuffled networks
# The clusterability chapter clusters each trained network's weight graph and 50 shuffles of it (P1: 320),
# so the shuffle null model dominates its cost. Here the project's pipeline — the bipartite form of the
# layered graph (top-k singular vectors of its normalised even×odd block, from the Gram matrix of the
# smaller side), batched over shuffles, then batched k-means with 25 restarts — is timed against
# scikit-learn's `SpectralClustering(affinity="precomputed", eigen_solver="arpack", n_init=25)`, the
# original's call, on the same shuffled graphs in the same run. Both find k = 12 clusters of shuffles of a
# 784-256×4-10 Glorot MLP, dense and 90% magnitude-pruned, and of the channel graph of a freshly initialised
# CIFAR-10 VGG (4,224 channels, the papers' largest graph; 100 k-means restarts for both above 2,000 nodes, as
# the original, and ARPACK's top-k eigenpairs instead of a full eigendecomposition on our side); the last
# column is the mean absolute difference of the n-cuts they find (k-means restarts are random, so the two need
# not agree to the last digit).

# %%
clustering_report = bench_clustering.benchmark(n_graphs=clustering_graphs, threads=threads)
print(bench_clustering.format_table(clustering_report))
for r in clustering_report["results"]:
    key = {"dense": "dense", "pruned 90%": "pruned", "vgg channels": "vgg"}[r["network"]]
    for field in ("ours_graphs_per_s", "sklearn_graphs_per_s", "speedup", "ncut_mean_abs_diff", "ncut_mean_diff"):
        glue(f"clustering_{field}_{key}", r[field])
speedups = {r["network"]: r["speedup"] for r in clustering_report["results"]}
glue("clustering_vgg_verdict", bench_clustering.keeps_pace(speedups["vgg channels"], speedups["dense"]))
pd.DataFrame(clustering_report["results"]).round(4)

# %% [markdown]
# On this machine the shuffle null clusters {glue:text}`clustering_ours_graphs_per_s_dense:.1f` dense graphs
# per second against scikit-learn's {glue:text}`clustering_sklearn_graphs_per_s_dense:.2f`
# ({glue:text}`clustering_speedup_dense:.1f`×), and {glue:text}`clustering_ours_graphs_per_s_pruned:.1f` pruned
# graphs per second against {glue:text}`clustering_sklearn_graphs_per_s_pruned:.2f`
# ({glue:text}`clustering_speedup_pruned:.1f`×); on the VGG channel graph,
# {glue:text}`clustering_ours_graphs_per_s_vgg:.2f` against {glue:text}`clustering_sklearn_graphs_per_s_vgg:.2f`
# ({glue:text}`clustering_speedup_vgg:.1f`×: {glue:text}`clustering_vgg_verdict`). Its shuffles are clustered one
# at a time, the MLP's eight at a time: with 100 k-means restarts per graph a batch is full already, and batching
# more graphs only spills the caches. The n-cuts the two find differ by
# {glue:text}`clustering_ncut_mean_abs_diff_dense:.4f` (dense) and {glue:text}`clustering_ncut_mean_abs_diff_pruned:.4f`
# (pruned) on average, against n-cuts near 10 and shuffle standard deviations of a few hundredths; the
# tests check the two pipelines' embeddings span the same space and give identical labels on planted modules.
