"""``python -m modularity bench``: steps per second of base and mask training, against a reference.

The reference is a direct transcription of the paper's formula as the original code computes it (two
uniforms per element, g = −log(log(u₁+ε)/log(u₀+ε)+ε), s = σ((l+g)/τ), m = s + stopgrad(1[s>0.5] − s), one
batch chunk at a time, separate ops). Both are timed in the same run on the same model and batches, so the
ratio is meaningful on a noisy machine. Each case runs in its own process so its peak memory is its own.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import platform
import resource
import statistics
import time
from dataclasses import dataclass
from queue import Empty
from typing import Callable

import torch
from torch.func import functional_call

from modularity import heap, machine

EPS = 1e-10


@dataclass(frozen=True)
class Case:
    name: str  # e.g. "fnn_2000x4"
    hidden: tuple[int, ...]
    mode: str  # "base", "mask", "mask_reference", "stages_alone", "stages_together"
    steps: int
    warmup: int

    @property
    def n_stages(self) -> int:
        """Mask stages one step trains: all of them in the batched mode, else one."""
        return STAGES if self.mode == "stages_together" else 1


def two_gumbel_noise(u0: torch.Tensor, u1: torch.Tensor) -> torch.Tensor:
    """The original's logistic noise: the difference of two Gumbels, −log(log(u₁+ε)/log(u₀+ε) + ε)."""
    return -torch.log(torch.log(u1 + EPS) / torch.log(u0 + EPS) + EPS)


def reference_hard_sample(logit: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """Spec §1.3 with one uniform: g = log u − log(1−u), s = σ(l+g), m = s + stopgrad(1[s>0.5] − s)."""
    noise = torch.log(uniform) - torch.log1p(-uniform)
    soft = torch.sigmoid(logit + noise)
    return soft + ((soft > 0.5).float() - soft).detach()


def equivalence_evidence(n: int = 200_000, seed: int = 0) -> dict:
    """The project's sampler against the paper's formula: exact forward and matching straight-through
    gradient for one fixed uniform draw, P(m=1) = σ(l), and the original's two-uniform noise distribution."""
    from modularity import masking

    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(64, 64, generator=generator)
    logit = (torch.randn(64, 64, generator=generator) * 3).requires_grad_()
    uniform = torch.rand(4, 64, 64, generator=generator)
    upstream = torch.randn(4, 64, 64, generator=generator)
    fast = masking._HardConcreteSample.apply(weight, logit, uniform)
    (fast * upstream).sum().backward()
    fast_grad, logit.grad = logit.grad.clone(), None
    reference = weight * reference_hard_sample(logit, uniform)
    (reference * upstream).sum().backward()

    probe = torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0])
    frequency = masking.sample_masked_weights(torch.ones(5), probe, n).mean(0)
    u0, u1 = torch.rand(2, n, generator=generator)
    two_uniform = two_gumbel_noise(u0, u1)
    one = torch.rand(n, generator=generator)
    one_uniform = torch.log(one) - torch.log1p(-one)
    grid = torch.linspace(-6, 6, 241)
    cdf = lambda x: (x[:, None] <= grid).float().mean(0)  # noqa: E731
    return {
        "forward_mismatches": int((fast != reference.detach()).sum()),
        "forward_elements": fast.numel(),
        "gradient_max_abs_diff": float((fast_grad - logit.grad).abs().max()),
        "gradient_max_abs": float(logit.grad.abs().max()),
        "sample_frequency": frequency.tolist(),
        "sigmoid_of_logit": torch.sigmoid(probe).tolist(),
        "sample_frequency_max_abs_error": float((frequency - torch.sigmoid(probe)).abs().max()),
        "noise_cdf_max_diff_two_vs_one_uniform": float((cdf(two_uniform) - cdf(one_uniform)).abs().max()),
        "n_samples": n,
    }


def _reference_masked_loss(model, logits, inputs, targets, n_samples, loss_fn):
    chunks = zip(inputs.chunk(n_samples), targets.chunk(n_samples))
    params = dict(model.named_parameters())
    total = 0.0
    for chunk_inputs, chunk_targets in chunks:
        weights = {}
        for name, logit in logits.items():
            soft = torch.sigmoid(logit + two_gumbel_noise(torch.rand_like(logit), torch.rand_like(logit)))  # τ = 1
            hard = (soft > 0.5).float()
            weights[name] = params[name] * (soft + (hard - soft).detach())
        total = total + loss_fn(functional_call(model, weights, (chunk_inputs,)), chunk_targets)
    return total / n_samples


MASK_SAMPLES = 4  # K, as the original's benchmark configuration


def training_step(case: Case, device: torch.device) -> tuple[Callable[[int], None], dict]:
    """The benchmark's training step ``step(i)`` for ``case`` (base, mask or reference mask training on the
    add/mul data, batch 128 per stage), and its parts: ``model``, ``logits`` (mask modes), ``batch(i)``,
    ``loss_fn``, ``optimizer`` and ``clip``."""
    from modularity import masking
    from modularity.data import arithmetic as ar
    from modularity.models.mlp import MLP
    from modularity.train import BatchIndices

    model = MLP(ar.INPUT_SIZE, list(case.hidden), 20).to(device)
    train = ar.train_set().to(device)
    n_stages = case.n_stages
    draw = BatchIndices(len(train), 128 * n_stages, 0, device=device)
    logits = None
    if case.mode == "base":
        tensors = list(model.parameters())

        def loss_at(step):
            x, y = train.encode(draw(step))
            return ar.digit_loss(model(x), y)
    else:
        masking.frozen_weights(model)
        model.eval()
        names = masking.masked_parameter_names(model)
        logits = (masking.StagedMaskLogits.for_model(model, names, n_stages) if n_stages > 1
                  else masking.MaskLogits.for_model(model, names))
        tensors = list(logits.logits)

        def loss_at(step):
            x, y = train.encode(draw(step))
            if case.mode != "mask_reference":  # each stage's mean loss: the stages' gradients stay their own
                task = n_stages * ar.digit_loss(masking.forward_with_samples(model, logits, x, MASK_SAMPLES), y)
            else:
                task = _reference_masked_loss(model, dict(logits.items()), x, y, MASK_SAMPLES, ar.digit_loss)
            return task + (1e-4 / 128) * logits.penalty()

    # the project's loop uses fused Adam (modularity.train.fit); the reference, like the original, the default
    reference = case.mode == "mask_reference"
    optimizer = torch.optim.Adam(tensors, lr=1e-3, fused=not reference, foreach=False if reference else None)

    clip = masking.clip_per_stage(1.0) if n_stages > 1 else lambda ts: torch.nn.utils.clip_grad_norm_(ts, 1.0)

    def step(i):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_at(i)
        loss.backward()
        clip(tensors)
        optimizer.step()

    parts = {"model": model, "logits": logits, "batch": lambda i: train.encode(draw(i)), "loss_fn": ar.digit_loss,
             "optimizer": optimizer, "clip": lambda: clip(tensors)}
    return step, parts


def _run_case(case: Case, threads: int, device: str, fused_kernels: bool, queue) -> None:
    os.environ["MODULARITY_COMPILE"] = "auto" if fused_kernels else "0"  # this process only
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = torch.device(device)
    step, _ = training_step(case, dev)

    for i in range(case.warmup):
        step(i)
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    for i in range(case.steps):
        step(case.warmup + i)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    faulted = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before) * resource.getpagesize()
    peak = (torch.cuda.max_memory_allocated() if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    queue.put({"case": case.name, "mode": case.mode, "device": device, "steps": case.steps,
               "seconds": seconds, "steps_per_s": case.steps / seconds,
               "stage_steps_per_s": case.n_stages * case.steps / seconds, "peak_memory_mb": peak / 2**20,
               "faulted_mb_per_step": faulted / case.steps / 2**20})


def in_child(target: Callable, *args, what: str, kept_heap: bool = True) -> dict:
    """Run ``target(*args, queue)`` in a fresh process (its own peak memory, its own compile cache) and return
    what it puts on the queue; ``what`` names it in the error when the process dies first. The process keeps
    its freed memory as the runner's kernels do (``heap``), or with ``kept_heap=False`` returns it as glibc's
    default does."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    with heap.for_children(kept_heap):
        process.start()
    while True:  # never wait on a child that has died: poll the queue and the process together
        try:
            result = queue.get(timeout=1.0)
            break
        except Empty:
            if not process.is_alive():
                raise RuntimeError(f"the benchmark process for {what} died with exit code {process.exitcode} "
                                   "before reporting; run it alone to see its error") from None
    process.join()
    return result


def run_case(case: Case, threads: int, device: str, fused_kernels: bool = True, kept_heap: bool = True) -> dict:
    return in_child(_run_case, case, threads, device, fused_kernels, what=f"{case.name} ({case.mode}, {device})",
                    kept_heap=kept_heap)


def environment(threads: int) -> dict:
    return {"torch": torch.__version__, "python": platform.python_version(), "threads": threads,
            "cpu": machine.cpu_model(), "cpu_count": os.cpu_count(), "machine": platform.machine(),
            "allocator": os.environ.get("LD_PRELOAD") or heap.describe(heap.as_children_get()),
            "cuda_alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF"),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


# fnn_32x2: the tutorial's size, where per-call overhead rather than arithmetic sets the speed
MODELS = {"fnn_32x2": (32, 32), "fnn_400_400_200": (400, 400, 200), "fnn_2000x4": (2000,) * 4}
# steps timed per (model, mode) at scale 1, and warm-up steps (which also trigger compilation)
STEPS = {"fnn_32x2": {"base": (1000, 50), "mask": (600, 50), "mask_reference": (600, 50)},
         "fnn_400_400_200": {"base": (300, 20), "mask": (200, 20), "mask_reference": (60, 5)},
         "fnn_2000x4": {"base": (30, 3), "mask": (12, 3), "mask_reference": (4, 1)}}


STAGES = 3  # control, add, mul: the stages of the add/mul experiment
# the stages suite: one stage at a time against all three in one batched pass (``StagedMaskLogits``)
STAGE_STEPS = {"fnn_32x2": {"stages_alone": (600, 50), "stages_together": (200, 20)},
               "fnn_400_400_200": {"stages_alone": (150, 15), "stages_together": (50, 5)}}


def cases(models: list[str], scale: float = 1.0, steps: dict | None = None) -> list[Case]:
    unknown = set(models) - set(MODELS)
    if unknown:
        raise ValueError(f"unknown benchmark model(s) {sorted(unknown)}; known: {sorted(MODELS)}")
    steps = steps or STEPS
    return [Case(name, MODELS[name], mode, max(2, int(n * scale)), max(1, int(warmup * min(1.0, scale * 4))))
            for name in models for mode, (n, warmup) in steps[name].items()]


def benchmark(threads: int = 2, scale: float = 1.0, models: list[str] | None = None,
              devices: list[str] | None = None, fused_kernels: bool = True, progress=print) -> dict:
    devices = devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    results = []
    for device in devices:
        for case in cases(models or list(MODELS), scale):
            result = run_case(case, threads, device, fused_kernels)
            progress(f"{device:<5} {case.name:<16} {case.mode:<15} {result['steps_per_s']:8.2f} steps/s "
                     f"(peak {result['peak_memory_mb']:.0f} MB)")
            results.append(result)
    ratios = {}
    for device in devices:
        for name in sorted({r["case"] for r in results}):
            rate = {r["mode"]: r["steps_per_s"] for r in results if r["case"] == name and r["device"] == device}
            if "mask" in rate and "mask_reference" in rate:
                ratios[f"{device}_{name}"] = rate["mask"] / rate["mask_reference"]
    env = dict(environment(threads), compile="auto" if fused_kernels else "0")
    return {"environment": env, "results": results, "mask_speedup_over_reference": ratios}


PAIR_REPEATS = 3  # times each side of a paired comparison is timed


def paired(first: Callable[[int], dict], second: Callable[[int], dict], repeats: int, rate: str) -> dict:
    """Two configurations timed alternately, ``repeats`` times each (``first(i)``, ``second(i)`` for repeat i):
    a shared machine's speed drifts by tens of percent over minutes, and alternating puts both sides in the same
    minutes. Returns every result, the medians of ``rate`` and of the memory faulted in per step for each side,
    the ratio of the ``rate`` medians and the range of the ratios within a repeat."""
    if repeats < 1:
        raise ValueError(f"repeats is {repeats}: each side must be timed at least once")
    firsts, seconds = [], []
    for i in range(repeats):
        firsts.append(dict(first(i), repeat=i))
        seconds.append(dict(second(i), repeat=i))
    keys = (rate, "faulted_mb_per_step")
    first_median, second_median = ({key: statistics.median(r[key] for r in side) for key in keys}
                                   for side in (firsts, seconds))
    within = [a[rate] / b[rate] for a, b in zip(firsts, seconds)]
    return {"results": firsts + seconds, "first": first_median, "second": second_median,
            "ratio": first_median[rate] / second_median[rate], "ratio_range": (min(within), max(within))}


def benchmark_stages(threads: int = 2, scale: float = 1.0, devices: list[str] | None = None,
                     repeats: int = PAIR_REPEATS, progress=print) -> dict:
    """Mask stages trained one at a time against all of them in one batched pass, in stage-steps per second
    (one stage's step on one batch of 128): the speed-up is together / alone, timed alternately in the same run
    (``paired``), with the memory faulted in per step."""
    devices = devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    results, rates, speedups, ranges = [], {}, {}, {}
    for device in devices:
        for name in STAGE_STEPS:
            by_mode = {case.mode: case for case in cases([name], scale, STAGE_STEPS)}

            def timed(case, i, device=device):
                result = run_case(case, threads, device)
                progress(f"{device:<5} {case.name:<16} {case.mode:<16} {result['stage_steps_per_s']:8.2f} "
                         f"stage-steps/s, {result['faulted_mb_per_step']:7.1f} MB faulted in per step (repeat {i + 1})")
                return result

            pair = paired(functools.partial(timed, by_mode["stages_together"]),
                          functools.partial(timed, by_mode["stages_alone"]), repeats, "stage_steps_per_s")
            results += pair["results"]
            rates[f"{device}_{name}"] = {"stages_together": pair["first"], "stages_alone": pair["second"]}  # medians
            speedups[f"{device}_{name}"], ranges[f"{device}_{name}"] = pair["ratio"], pair["ratio_range"]
    return {"environment": environment(threads), "stages": STAGES, "repeats": repeats, "results": results,
            "medians": rates, "batched_stages_speedup": speedups,
            "batched_stages_speedup_range": ranges}


def benchmark_heap(threads: int = 2, scale: float = 1.0, models: list[str] | None = None,
                   repeats: int = PAIR_REPEATS, progress=print) -> dict:
    """Mask training with freed memory kept in the heap (the project's setting, ``heap``) against glibc's
    default of returning large blocks to the system, timed alternately in the same run (``paired``), with the
    memory each step faults in (new pages the kernel maps and zeroes)."""
    results, rates, speedups, ranges = [], {}, {}, {}
    for case in cases(models or list(MODELS), scale):
        if case.mode != "mask":
            continue

        def timed(kept, i, case=case):
            result = dict(run_case(case, threads, "cpu", kept_heap=kept), heap="kept" if kept else "returned")
            progress(f"{case.name:<16} freed memory {result['heap']:<8} {result['steps_per_s']:8.2f} steps/s, "
                     f"{result['faulted_mb_per_step']:7.1f} MB faulted in per step (repeat {i + 1})")
            return result

        pair = paired(functools.partial(timed, True), functools.partial(timed, False), repeats, "steps_per_s")
        results += pair["results"]
        rates[case.name] = {"kept": pair["first"], "returned": pair["second"]}  # medians
        speedups[case.name], ranges[case.name] = pair["ratio"], pair["ratio_range"]
    return {"environment": environment(threads), "repeats": repeats, "results": results,
            "medians": rates, "kept_heap_speedup": speedups, "kept_heap_speedup_range": ranges}


def keeping_memory_pays(speedup: float, low: float, high: float) -> str:
    """The verdict on keeping freed memory in the heap, from the median ratio and its range within a repeat
    (``paired``): it pays from 1.1× up and costs time below 0.95×, each only when every repeat is on the same
    side of 1; otherwise the difference is within this machine's drift."""
    if speedup >= 1.1 and low > 1.0:
        return "keeping freed memory pays"
    if speedup < 0.95 and high < 1.0:
        return "keeping freed memory costs time"
    return "no clear difference"


def batching_pays(speedup: float) -> str:
    """The verdict on training mask stages together: worth it from 1.5× up, a loss below 1×."""
    if speedup >= 1.5:
        return "batching pays"
    return "batching costs time" if speedup < 1.0 else "batching gains little"


def against_loop(speedup: float) -> str:
    """The verdict on a small model: is vmapped mask training at least as fast as a per-chunk loop?"""
    return "no slower than the loop" if speedup >= 1.0 else "slower than the loop"


def format_table(report: dict) -> str:
    lines = [f"{'device':<6} {'model':<16} {'mode':<15} {'steps/s':>9} {'peak MB':>8}"]
    for r in report["results"]:
        lines.append(f"{r['device']:<6} {r['case']:<16} {r['mode']:<15} {r['steps_per_s']:>9.2f} "
                     f"{r['peak_memory_mb']:>8.0f}")
    for key, ratio in report["mask_speedup_over_reference"].items():
        lines.append(f"mask training speed-up over the reference transcription, {key}: {ratio:.1f}×")
    env = report["environment"]
    lines.append(f"torch {env['torch']}, {env['threads']} threads, allocator: {env['allocator']}")
    return "\n".join(lines)


def paired_lines(report: dict, what: str, speedups: str) -> list[str]:
    """One line per comparison of a paired report: the median ratio and its range within a repeat."""
    return [f"{what}, {key}: {ratio:.2f}× (median of {report['repeats']}; {low:.2f}–{high:.2f}× within a repeat)"
            for key, ratio in report[speedups].items() for low, high in [report[f"{speedups}_range"][key]]]


def main(threads: int, quick: bool, output: str | None, suite: str = "masks") -> int:
    scale = 0.2 if quick else 1.0
    if suite == "stages":
        report = benchmark_stages(threads=threads, scale=scale)
        print("\n".join(paired_lines(report, f"{report['stages']} mask stages in one batched pass against one at "
                                              "a time", "batched_stages_speedup")))
    elif suite == "heap":
        report = benchmark_heap(threads=threads, scale=scale)
        print("\n".join(paired_lines(report, "mask training with freed memory kept against returned",
                                      "kept_heap_speedup")))
    else:
        report = benchmark(threads=threads, scale=scale)
        print(format_table(report))
    if output:
        with open(output, "w") as handle:
            json.dump(report, handle, indent=1)
    return 0
