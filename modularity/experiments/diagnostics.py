"""Control-mask diagnostics (Csordás et al. 2021, §2 "Are the masks binary?" and the half-mask test): how
far a control mask's logits are from undecided, and how much accuracy drops when only one half of the
layers is masked. Works on the add/mul and double-addition networks, sharing their per-seed stores."""

from __future__ import annotations

import torch

from modularity import mask_algebra, masking
from modularity.experiments import addmul, doubleadd, stages

MODELS = ("addmul_fnn", "addmul_lstm", "doubleadd_fnn", "doubleadd_lstm", "fnn_800x4")
# networks of a fixed size, named for it: the add/mul FNN at 800×4, the paper's half-mask network
FIXED = {"fnn_800x4": ("addmul_fnn", [800] * 4)}
UNDECIDED = masking.UNDECIDED  # σ(logit) strictly between these is "undecided"
REMOVED_BELOW = 2e-4  # σ(logit) below this: a weight pushed far out of the mask


def experiment_for(model_name: str, hidden: list[int], settings_kwargs: dict, betas: dict[str, float]):
    """``(namespace, experiment module, Settings, accuracy function)`` of one diagnosed network.

    ``hidden``: layer sizes (a ``FIXED`` network has its own); ``settings_kwargs``: base_steps, mask_steps,
    batch_size, lr, mask_lr, n_mask_samples; ``betas``: β per model name."""
    if model_name not in MODELS:
        raise ValueError(f"unknown model {model_name!r}; choose from {', '.join(MODELS)}")
    network, hidden = FIXED.get(model_name, (model_name, hidden))
    task, kind = network.split("_")
    experiment, namespace, accuracy = ((addmul, "add_mul", addmul.accuracy) if task == "addmul"
                                       else (doubleadd, "double_add", doubleadd.both_pairs_accuracy))
    k = settings_kwargs
    settings = experiment.Settings(kind, hidden, k["base_steps"], k["mask_steps"], k["batch_size"], k["lr"],
                                   k["mask_lr"], betas[network], k["n_mask_samples"])
    return namespace, experiment, settings, accuracy


def diagnose(model_name: str, seed: int, namespace: str, experiment, settings, accuracy, device,
             histogram_bins: int) -> dict:
    """One seed: base network and control mask (from the shared stores when already trained), the σ(logit)
    histogram, the share of undecided logits, and the half-mask drops. The early half is the first ⌈n/2⌉
    name-sorted tensors for the add/mul FNN, the first ⌊n/2⌋ otherwise (as the original code splits them)."""
    base_store, store = stages.stores(namespace, settings, device.type, seed)
    model, train, valid = experiment.prepare(settings, seed, device, base_store)
    logits = experiment.train_masks(model, settings, train, ["control"], f"{model_name} seed {seed}",
                                    store)["control"]["logits"]
    control = mask_algebra.Mask.from_logits(logits)
    early = masking.first_half(control.names, round_up=FIXED.get(model_name, (model_name,))[0] == "addmul_fnn")
    halves = masking.half_mask_drops(model, control, early, lambda: accuracy(model, valid))
    probabilities = torch.cat([torch.sigmoid(t).flatten() for t in logits.values()])
    low, high = UNDECIDED
    return {"half_mask": halves, "early": early, "late": [n for n in control.names if n not in early],
            "histogram": stages.probability_histogram(logits, histogram_bins),
            "frac_undecided": ((probabilities > low) & (probabilities < high)).float().mean().item(),
            "frac_below_2e-4": (probabilities < REMOVED_BELOW).float().mean().item(),
            "density": control.density()}
