"""Where a mask step's time goes: each part of the project's mask step, timed alone beside the whole step.

A mask step draws K uniforms for every masked tensor, turns them into K masked copies of each weight (the
sampling kernel), runs the network on those copies forward and backward (batched matrix products), folds the
gradients of the copies into the logits' gradient (the logit-gradient kernel), clips and takes an Adam step.
Here each part runs alone on the benchmark's network and shapes, in the same process as the whole step
(``bench.training_step``); what the parts do not account for is the rest: autograd's bookkeeping, allocating
the K×N tensors, the loss. Three of the parts pass over all K×N sampled elements; their share says whether a
faster step needs fewer passes over memory or faster matrix products.
"""

from __future__ import annotations

import json
import os
import statistics
import time

import torch
from torch.func import functional_call, vmap

from modularity import bench

PARTS = ("uniform draws", "sampling kernel", "matrix products", "logit-gradient kernel", "optimizer")
ELEMENTWISE = ("uniform draws", "sampling kernel", "logit-gradient kernel")  # one pass each over K×N elements
REPEATS = {"fnn_32x2": 200, "fnn_400_400_200": 40, "fnn_2000x4": 8}  # timed calls per part at scale 1


def median_seconds(fn, repeats: int, warmup: int = 2) -> float:
    """The median wall time of one call of ``fn`` over ``repeats`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _parts(parts: dict) -> dict:
    """``{part: zero-argument callable}`` for the step whose ``bench.training_step`` parts are given."""
    from modularity import fast_random, mask_kernels

    model, logits, k = parts["model"], parts["logits"], bench.MASK_SAMPLES
    params = dict(model.named_parameters())
    names = [name for name, _ in logits.items()]
    logit = dict(logits.items())
    x, y = parts["batch"](0)
    uniform = {n: fast_random.uniform((k, *logit[n].shape)) for n in names}
    with torch.no_grad():
        sampled = {n: mask_kernels.run("forward", params[n], logit[n], uniform[n]) for n in names}
    leaves = {n: w.clone().requires_grad_() for n, w in sampled.items()}
    chunks = x.reshape(k, x.shape[0] // k, *x.shape[1:])

    def network_forward_backward():
        out = vmap(lambda w, c: functional_call(model, w, (c,), strict=False), randomness="different")(leaves, chunks)
        loss = parts["loss_fn"](out.reshape(x.shape[0], *out.shape[2:]), y)
        return torch.autograd.grad(loss, list(leaves.values()))

    grads = dict(zip(names, network_forward_backward()))
    for tensor in logits.logits:
        tensor.grad = torch.randn_like(tensor)

    def optimizer_step():
        parts["clip"]()
        parts["optimizer"].step()

    def no_grad(fn):  # the kernels run inside an autograd.Function, where nothing is recorded
        return torch.no_grad()(fn)

    return {
        "uniform draws": no_grad(lambda: [fast_random.uniform((k, *logit[n].shape)) for n in names]),
        "sampling kernel": no_grad(lambda: [mask_kernels.run("forward", params[n], logit[n], uniform[n])
                                            for n in names]),
        "matrix products": network_forward_backward,
        "logit-gradient kernel": no_grad(lambda: [mask_kernels.run("backward", grads[n], uniform[n], logit[n],
                                                                   params[n]) for n in names]),
        "optimizer": optimizer_step,
    }


def _run(name: str, threads: int, scale: float, fused_kernels: bool, queue) -> None:
    os.environ["MODULARITY_COMPILE"] = "auto" if fused_kernels else "0"  # this process only
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    repeats = max(2, int(REPEATS[name] * scale))
    case = bench.Case(name, bench.MODELS[name], "mask", repeats, 2)
    step, parts = bench.training_step(case, torch.device("cpu"))
    counter = iter(range(10**9))
    whole = median_seconds(lambda: step(next(counter)), repeats)
    timed = {part: median_seconds(fn, repeats) for part, fn in _parts(parts).items()}
    queue.put({"case": name, "threads": threads, "step_s": whole, "part_s": timed})


def breakdown(name: str, threads: int = 2, scale: float = 1.0, fused_kernels: bool = True) -> dict:
    """Seconds per mask step of model ``name`` (one of ``bench.MODELS``) and of each of its ``PARTS`` alone, with
    each part's share of the step, the share of the elementwise passes and what the parts leave over."""
    if name not in bench.MODELS:
        raise ValueError(f"unknown benchmark model {name!r}; known: {sorted(bench.MODELS)}")
    result = bench.in_child(_run, name, threads, scale, fused_kernels, what=f"the mask-step breakdown of {name}")
    step = result["step_s"]
    result["share"] = {part: seconds / step for part, seconds in result["part_s"].items()}
    result["elementwise_share"] = sum(result["share"][part] for part in ELEMENTWISE)
    result["rest_s"] = step - sum(result["part_s"].values())
    return result


def where_time_goes(elementwise_share: float, matmul_share: float) -> str:
    """What a faster mask step needs, by which takes more of it: the passes over the sampled elements or the
    matrix products."""
    if elementwise_share > matmul_share:
        return "fewer passes over the sampled elements (not faster matrix products)"
    return "faster matrix products (the passes over the sampled elements are the smaller part)"


def overhead_only_speedup(result: dict) -> float:
    """How much faster one stage's step would run with mask stages trained together, by one ``breakdown``, if
    batching only removed the rest of the step (what the parts, timed alone, leave over) and made no part faster:
    each stage still needs every part for its own samples (1 when the parts add up to the whole step or more)."""
    parts = sum(result["part_s"].values())
    return max(1.0, result["step_s"] / parts)


def against_overhead_only(measured: float, overhead_only: float) -> str:
    """What a measured speed-up of stages trained together says against ``overhead_only_speedup``."""
    if measured < 1.0:
        return "slower together: batching added more than it removed"
    if measured <= overhead_only:
        return "no more than removing the rest explains"
    return "more than removing the rest explains: together, the parts themselves ran faster"


def batching_explained(breakdowns: dict[str, dict], speedups: dict[str, float]) -> str:
    """For each model with a ``breakdown`` and a measured speed-up of stages trained together
    (``bench.benchmark_stages``, keyed by model): the overhead-only speed-up beside the measured one, in a
    sentence."""
    judged = []
    for model, result in breakdowns.items():
        if model in speedups:
            expected, measured = overhead_only_speedup(result), speedups[model]
            judged.append(f"{expected:.2f}× as fast for the {_label(model)} FNN, against {measured:.2f}× measured "
                          f"({against_overhead_only(measured, expected)})")
    if not judged:
        return "No network here has both a breakdown and a measured speed-up of stages trained together."
    return "Removing the rest alone would make stages trained together " + "; ".join(judged) + "."


def _label(model: str) -> str:
    return model.removeprefix("fnn_").replace("_", "-")


def summary(result: dict) -> str:
    """One ``breakdown`` in a sentence: the step's time, each kind of part's share, and what a faster step needs."""
    share = result["share"]
    kernels = share["sampling kernel"] + share["logit-gradient kernel"]
    return (f"A mask step of the {_label(result['case'])} FNN took "
            f"{result['step_s'] * 1e3:.1f} ms here. Drawing the uniforms took {share['uniform draws']:.0%} of it and "
            f"the sampling and logit-gradient kernels {kernels:.0%}, so {result['elementwise_share']:.0%} went into "
            f"passes over the K×N sampled elements, against {share['matrix products']:.0%} for the network's forward "
            f"and backward on the sampled weights and {share['optimizer']:.0%} for the optimizer (timed alone, the "
            f"parts add up to {sum(share.values()):.0%} of the step). A faster step needs "
            f"{where_time_goes(result['elementwise_share'], share['matrix products'])}.")


def main(threads: int, quick: bool, output: str | None) -> int:
    """``python -m modularity bench breakdown``: every benchmark model's breakdown, printed and written as JSON."""
    results = []
    for name in bench.MODELS:
        result = breakdown(name, threads=threads, scale=0.2 if quick else 1.0)
        parts = ", ".join(f"{part} {share:.0%}" for part, share in result["share"].items())
        print(f"{name:<16} {result['step_s'] * 1e3:9.2f} ms per mask step: {parts}")
        results.append(result)
    print(summary(results[-1]))
    if output:
        with open(output, "w") as handle:
            json.dump({"environment": bench.environment(threads), "results": results}, handle, indent=1)
    return 0
