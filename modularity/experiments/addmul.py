"""The addition / multiplication experiment of spec weight_masks.md §2.1, one seed at a time.

Base training on both operations, then three freshly initialised mask stages on the frozen weights —
control (both operations), add only, mul only — and the analyses of the paper: accuracies with each mask
and its inverse, the operation confusion, weights per layer, IoU / IoMin and the shared fraction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from modularity import mask_algebra, masking
from modularity.data import arithmetic as ar
from modularity.experiments import stages
from modularity.models.lstm import RepeatedInputLSTM
from modularity.models.mlp import MLP
from modularity.train import BatchIndices, set_determinism

STAGES = ("control", "add", "mul")
CONDITIONS = ("full", "add", "notadd", "mul", "notmul")
MASK_SEED = 1234  # the original seeds every mask stage's sampler with 1234


@dataclass
class Settings:
    """Everything one seed of one model needs (a subset of the notebook's parameters)."""

    model: str  # "fnn" or "lstm"
    hidden: list[int]
    base_steps: int
    mask_steps: int
    batch_size: int = 128
    lr: float = 1e-3
    mask_lr: float = 1e-2
    beta: float = 1e-4
    n_mask_samples: int = 4
    grad_clip: float = 1.0
    lstm_steps: int = 3


def build_model(settings: Settings) -> torch.nn.Module:
    if settings.model == "fnn":
        return MLP(ar.INPUT_SIZE, settings.hidden, 2 * 10)
    if settings.model == "lstm":
        return RepeatedInputLSTM(ar.INPUT_SIZE, settings.hidden[0], 2 * 10, n_layers=len(settings.hidden),
                                 n_steps=settings.lstm_steps)
    raise ValueError(f"unknown model {settings.model!r}; expected 'fnn' or 'lstm'")


def batches(data: ar.ArithmeticSet, batch_size: int, seed: int):
    draw = BatchIndices(len(data), batch_size, seed, device=data.op.device)
    return lambda step: data.encode(draw(step))


@torch.no_grad()
def accuracy(model: torch.nn.Module, data: ar.ArithmeticSet) -> float:
    """Fraction of problems with every output digit right."""
    x, y = data.encode()
    digits = model(x).reshape(len(y), ar.OUTPUT_DIGITS, 10).argmax(-1)
    return (digits == y).all(1).float().mean().item()


@torch.no_grad()
def op_confusion(model: torch.nn.Module, data: ar.ArithmeticSet) -> torch.Tensor:
    """Rows: true op (add, mul); columns: prediction equals the add result, the mul result, neither.

    Row-normalised fractions; both of the first two columns count when (a+b) ≡ ab (mod 100).
    """
    x, _ = data.encode()
    predicted = ar.predictions(model(x))
    is_add, is_mul = predicted == data.results(0), predicted == data.results(1)
    neither = ~(is_add | is_mul)
    rows = [torch.stack([is_add[data.op == op], is_mul[data.op == op], neither[data.op == op]]).float().mean(1)
            for op in (0, 1)]
    return torch.stack(rows)


def run_seed(settings: Settings, seed: int, device: torch.device, store=None, progress: bool = True) -> dict:
    """Train one seed end to end; returns masks (CPU bool tensors), accuracies and comparisons.

    With a ``cache.SeedStore``, finished stages are kept and unfinished ones checkpointed, so an
    interrupted seed resumes where it stopped.
    """
    set_determinism(seed)
    train, valid = ar.train_set().to(device), ar.valid_set().to(device)
    model = build_model(settings).to(device)
    started = time.time()

    def report(stage: str) -> None:
        print(f"{settings.model} seed {seed}: {stage} trained ({time.time() - started:.0f} s so far)", flush=True)

    draw = batches(train, settings.batch_size, seed)

    def base_loss(step: int) -> torch.Tensor:
        inputs, targets = draw(step)
        return ar.digit_loss(model(inputs), targets)

    desc = f"{settings.model} seed {seed}"
    base, trained = stages.base_stage(model, base_loss, settings, desc, store, progress)
    if trained:
        report("base network")
    model.load_state_dict(base["state"])
    model.eval()

    names = masking.masked_parameter_names(model, mask_biases=False)
    stage_data = {"control": train, "add": train.only("add"), "mul": train.only("mul")}
    masks, mask_losses, probabilities = {}, {}, {}
    for stage, data in stage_data.items():
        done, trained = stages.mask_stage(model, names, stage, batches(data, settings.batch_size, MASK_SEED),
                                          ar.digit_loss, settings, desc, store, progress)
        if trained:
            report(f"{stage} mask")
        masks[stage] = mask_algebra.Mask.from_logits(done["logits"])
        mask_losses[stage] = done["losses"]
        probabilities[stage] = torch.cat([torch.sigmoid(t).flatten() for t in done["logits"].values()])
    base_losses = base["losses"]
    return {
        "unmasked_acc": {op: accuracy(model, valid.only(op)) for op in ar.OPS},
        "acc": evaluate_conditions(model, masks, valid),
        "confusion": {s: op_confusion_with(model, masks[s], valid) for s in STAGES},
        "masks": masks,
        "mask_probability_hist": {s: torch.histogram(p, bins=50, range=(0.0, 1.0))[0] for s, p in
                                  probabilities.items()},
        "base_final_loss": float(torch.tensor(base_losses[-100:]).mean()),
        "mask_final_loss": {s: float(torch.tensor(v[-100:]).mean()) for s, v in mask_losses.items()},
        "shared_frac_add_in_mul": mask_algebra.shared_fraction(masks["add"], masks["mul"]),
        "iou_add_mul": mask_algebra.iou(masks["add"], masks["mul"]),
    }


def op_confusion_with(model, mask, data) -> torch.Tensor:
    with masking.applied(model, mask):
        return op_confusion(model, data)


def evaluate_conditions(model, masks: dict, valid: ar.ArithmeticSet) -> dict[str, dict[str, float]]:
    """Accuracy on the add and mul validation subsets for Full, +, ¬+, *, ¬* (spec §2.1 metric 1)."""
    conditions = {"full": (masks["control"], False), "add": (masks["add"], False), "notadd": (masks["add"], True),
                  "mul": (masks["mul"], False), "notmul": (masks["mul"], True)}
    results = {}
    for condition, (mask, inverse) in conditions.items():
        with masking.applied(model, mask, inverse=inverse):
            results[condition] = {op: accuracy(model, valid.only(op)) for op in ar.OPS}
    return results
