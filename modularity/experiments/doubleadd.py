"""The double-addition ("+/+") experiment of Csordás et al. 2021, one seed at a time.

Base training on both pairs, then three mask stages on the frozen weights — control (both pairs), pair 1
only, pair 2 only — and the per-pair accuracies with each mask and its inverse, also with the input and
output layers kept from the control mask (``first_full_mask``), and IoU / IoMin of the two pair masks.
``copyweight`` is the positive control: pair 2's input and output weights are copied onto pair 1's before
masking, so both pairs are computed by one circuit and the method must find their masks overlapping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from modularity import mask_algebra, masking
from modularity.data import pair_arithmetic as pa
from modularity.experiments import stages
from modularity.models.pairs import PairLSTM, TwicePairMLP, copy_pair2_onto_pair1
from modularity.train import BatchIndices, set_determinism

STAGES = ("control", "pair1", "pair2")
CONDITIONS = ("full", "pair1", "notpair1", "pair2", "notpair2")
MASK_SEED = 1234


@dataclass
class Settings:
    model: str  # "fnn", "fnn_copyweight" or "lstm"
    hidden: list[int]
    base_steps: int
    mask_steps: int
    batch_size: int = 128
    lr: float = 1e-3
    mask_lr: float = 1e-2
    beta: float = 4e-4  # the paper's β for the FNN; 1e-4 for the LSTM
    n_mask_samples: int = 4
    grad_clip: float = 1.0
    lstm_mode: str = "together"


def build_model(settings: Settings) -> torch.nn.Module:
    if settings.model in ("fnn", "fnn_copyweight"):
        return TwicePairMLP(settings.hidden)
    if settings.model == "lstm":
        return PairLSTM(settings.hidden[0], n_layers=len(settings.hidden), mode=settings.lstm_mode)
    raise ValueError(f"unknown model {settings.model!r}; expected 'fnn', 'fnn_copyweight' or 'lstm'")


def io_names(model: torch.nn.Module, names: list[str]) -> list[str]:
    """The masked tensors of the input and output layers (kept from the control mask by first_full_mask)."""
    return [names[0], names[-1]] if isinstance(model, TwicePairMLP) else \
        [n for n in names if n.startswith("cells.0.weight_ih") or n.startswith("output_projection")]


def stage_batches(data: pa.PairSet, stage: str, settings: Settings, seed: int):
    """Batches of a stage; "pair t only" zeroes the other pair's input (the FNN zeroes it anyway)."""
    draw = BatchIndices(len(data), settings.batch_size, seed, device=data.a.device)

    def batch(step: int):
        x, y = data.encode(draw(step))
        if stage != "control":
            x = pa.only_pair(x, STAGES.index(stage) - 1)
        return x, y

    return batch


def stage_loss(stage: str):
    pairs = (0, 1) if stage == "control" else (STAGES.index(stage) - 1,)
    return lambda logits, targets: pa.pair_loss(logits, targets, pairs)


@torch.no_grad()
def pair_accuracy(model: torch.nn.Module, data: pa.PairSet) -> dict[str, float]:
    x, y = data.encode()
    correct = pa.pair_correct(model(x), y).float().mean(0)
    return {"pair1": correct[0].item(), "pair2": correct[1].item()}


@torch.no_grad()
def both_pairs_accuracy(model: torch.nn.Module, data: pa.PairSet) -> float:
    """The iid accuracy of the tuple task: both pairs right."""
    x, y = data.encode()
    return pa.pair_correct(model(x), y).all(1).float().mean().item()


def prepare(settings: Settings, seed: int, device: torch.device, base_store=None, progress: bool = True):
    """``(model, train, valid)``: the base-trained network in eval mode (after the copy-weight surgery for
    ``fnn_copyweight``) and the data sets on ``device``."""
    set_determinism(seed)
    train, valid = pa.train_set().to(device), pa.valid_set().to(device)
    model = build_model(settings).to(device)
    draw = stage_batches(train, "control", settings, seed)

    def base_loss(step: int) -> torch.Tensor:
        x, y = draw(step)
        return pa.pair_loss(model(x), y)

    started = time.time()
    base, trained = stages.base_stage(model, base_loss, settings, f"{settings.model} seed {seed}", base_store,
                                      progress)
    if trained:
        print(f"{settings.model} seed {seed}: base network trained ({time.time() - started:.0f} s)", flush=True)
    model.load_state_dict(base["state"])
    if settings.model == "fnn_copyweight":
        copy_pair2_onto_pair1(model)
    model.eval()
    return model, train, valid


def train_masks(model, settings: Settings, train: pa.PairSet, stage_names, desc: str, store=None,
                progress: bool = True) -> dict[str, dict]:
    """``{"logits", "losses"}`` of each named stage ("control", "pair1", "pair2") on the frozen model."""
    names = masking.masked_parameter_names(model, mask_biases=False)
    started, done = time.time(), {}
    for stage in stage_names:
        done[stage], trained = stages.mask_stage(model, names, stage,
                                                 stage_batches(train, stage, settings, MASK_SEED),
                                                 stage_loss(stage), settings, desc, store, progress)
        if trained:
            print(f"{desc}: {stage} mask trained ({time.time() - started:.0f} s)", flush=True)
    return done


def run_seed(settings: Settings, seed: int, device: torch.device, store=None, progress: bool = True,
             base_store=None) -> dict:
    """Train one seed end to end (base network from ``base_store`` when given, else ``store``)."""
    model, train, valid = prepare(settings, seed, device, base_store or store, progress)
    done = train_masks(model, settings, train, STAGES, f"{settings.model} seed {seed}", store, progress)
    masks = {s: mask_algebra.Mask.from_logits(d["logits"]) for s, d in done.items()}
    io = io_names(model, masking.masked_parameter_names(model, mask_biases=False))
    return {
        "unmasked_acc": pair_accuracy(model, valid),
        "acc": evaluate_conditions(model, masks, valid),
        "acc_first_full_mask": evaluate_conditions(model, masks, valid, keep_io=io),
        "masks": masks,
        "io_names": io,
        "iou_pair1_pair2": mask_algebra.iou(masks["pair1"], masks["pair2"]),
        "iomin_pair1_pair2": mask_algebra.iomin(masks["pair1"], masks["pair2"]),
        "mask_probability_hist": {s: stages.probability_histogram(d["logits"]) for s, d in done.items()},
    }


def evaluate_conditions(model, masks: dict, valid: pa.PairSet, keep_io: list[str] | None = None) -> dict:
    """Per-pair accuracy for Full, Pair 1, ¬Pair 1, Pair 2, ¬Pair 2. With ``keep_io``, the inverse masks
    keep the control mask on those tensors (the input and output layers)."""
    control = masks["control"]
    conditions = {"full": control, "pair1": masks["pair1"], "pair2": masks["pair2"],
                  "notpair1": ~masks["pair1"], "notpair2": ~masks["pair2"]}
    if keep_io:
        for name in ("notpair1", "notpair2"):
            conditions[name] = conditions[name].replace(control, keep_io)
    results = {}
    for condition in CONDITIONS:
        with masking.applied(model, conditions[condition]):
            results[condition] = pair_accuracy(model, valid)
    return results
