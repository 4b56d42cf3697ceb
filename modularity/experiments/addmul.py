"""The addition / multiplication experiment of Csordás et al. 2021, one seed at a time.

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


def prepare(settings: Settings, seed: int, device: torch.device, base_store=None, progress: bool = True):
    """``(model, train, valid)``: the base-trained network in eval mode (trained now, or loaded from
    ``base_store``) and the data sets on ``device``."""
    set_determinism(seed)
    train, valid = ar.train_set().to(device), ar.valid_set().to(device)
    model = build_model(settings).to(device)
    draw = batches(train, settings.batch_size, seed)

    def base_loss(step: int) -> torch.Tensor:
        inputs, targets = draw(step)
        return ar.digit_loss(model(inputs), targets)

    started = time.time()
    base, trained = stages.base_stage(model, base_loss, settings, f"{settings.model} seed {seed}", base_store,
                                      progress)
    if trained:
        print(f"{settings.model} seed {seed}: base network trained ({time.time() - started:.0f} s)", flush=True)
    model.load_state_dict(base["state"])
    model.eval()
    return model, train, valid


def train_masks(model, settings: Settings, train: ar.ArithmeticSet, stage_names, desc: str, store=None,
                progress: bool = True) -> dict[str, dict]:
    """``{"logits", "losses"}`` of each named stage ("control", "add", "mul"), trained on the frozen model."""
    names = masking.masked_parameter_names(model, mask_biases=False)
    stage_data = {"control": train, "add": train.only("add"), "mul": train.only("mul")}
    started, done = time.time(), {}
    for stage in stage_names:
        done[stage], trained = stages.mask_stage(model, names, stage,
                                                 batches(stage_data[stage], settings.batch_size, MASK_SEED),
                                                 ar.digit_loss, settings, desc, store, progress)
        if trained:
            print(f"{desc}: {stage} mask trained ({time.time() - started:.0f} s)", flush=True)
    return done


def run_seed(settings: Settings, seed: int, device: torch.device, store=None, progress: bool = True,
             base_store=None) -> dict:
    """Train one seed end to end; returns masks (CPU bool tensors), accuracies and comparisons.

    With a ``cache.SeedStore``, finished stages are kept and unfinished ones checkpointed, so an
    interrupted seed resumes where it stopped; the base network goes to ``base_store`` when given (see
    ``stages.stores``), else to ``store``.
    """
    model, train, valid = prepare(settings, seed, device, base_store or store, progress)
    done = train_masks(model, settings, train, STAGES, f"{settings.model} seed {seed}", store, progress)
    masks = {s: mask_algebra.Mask.from_logits(d["logits"]) for s, d in done.items()}
    return {
        "unmasked_acc": {op: accuracy(model, valid.only(op)) for op in ar.OPS},
        "acc": evaluate_conditions(model, masks, valid),
        "control_acc": accuracy_with(model, masks["control"], valid),  # iid: both operations mixed
        "confusion": {s: op_confusion_with(model, masks[s], valid) for s in STAGES},
        "masks": masks,
        "mask_probability_hist": {s: stages.probability_histogram(d["logits"]) for s, d in done.items()},
        "mask_final_loss": {s: float(torch.tensor(d["losses"][-100:]).mean()) for s, d in done.items()},
        "shared_frac_add_in_mul": mask_algebra.shared_fraction(masks["add"], masks["mul"]),
        "iou_add_mul": mask_algebra.iou(masks["add"], masks["mul"]),
    }


def accuracy_with(model, mask, data) -> float:
    with masking.applied(model, mask):
        return accuracy(model, data)


def op_confusion_with(model, mask, data) -> torch.Tensor:
    with masking.applied(model, mask):
        return op_confusion(model, data)


def evaluate_conditions(model, masks: dict, valid: ar.ArithmeticSet) -> dict[str, dict[str, float]]:
    """Accuracy on the add and mul validation subsets for Full, +, ¬+, *, ¬* (the paper's accuracy bar plot)."""
    conditions = {"full": (masks["control"], False), "add": (masks["add"], False), "notadd": (masks["add"], True),
                  "mul": (masks["mul"], False), "notmul": (masks["mul"], True)}
    results = {}
    for condition, (mask, inverse) in conditions.items():
        with masking.applied(model, mask, inverse=inverse):
            results[condition] = {op: accuracy(model, valid.only(op)) for op in ar.OPS}
    return results
