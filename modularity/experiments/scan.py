"""SCAN through weight masks (Csordás et al. 2021, Fig. 4), one seed at a time.

Base training on the simple split, then one mask per split — ``simple`` (the full problem), ``jump``,
``length``, ``turn_left`` — each trained on that split's *training* data, and test accuracies with the
full-problem mask and with the split's own mask. The baseline is a network trained directly on a split.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from modularity import mask_algebra
from modularity.data import scan as scan_data
from modularity.experiments import sequences
from modularity.models.seq2seq import Seq2SeqLSTM, Seq2SeqTransformer
from modularity.train import set_determinism

STAGES = ("simple", "jump", "length", "turn_left")
SPLITS = ("jump", "turn_left", "length")
MASK_SEED = 1234


@dataclass
class Settings:
    model: str  # "lstm" or "transformer"
    base_steps: int
    mask_steps: int
    hidden: int = 200  # LSTM hidden size, or the Transformer's d_model
    n_layers: int = 2  # LSTM layers, or Transformer layers per stack
    ff: int = 200  # Transformer feed-forward width
    n_heads: int = 4
    batch_size: int = 256
    lr: float = 1e-3
    mask_lr: float = 1e-2
    beta: float = 3e-5
    n_mask_samples: int = 4
    grad_clip: float = 5.0
    teacher_forcing: float = 0.5  # LSTM: probability that a batch is teacher-forced (the Transformer always is)
    length_buckets: int = 1  # > 1: each batch from one group of similar output lengths (less padding)


def build_model(settings: Settings, vocab: scan_data.Vocab) -> torch.nn.Module:
    if settings.model == "lstm":
        return Seq2SeqLSTM(len(vocab.words), len(vocab.actions), settings.hidden, settings.n_layers)
    if settings.model == "transformer":
        return Seq2SeqTransformer(len(vocab.words) + 1, len(vocab.actions) + 1, vocab.tgt_eos, settings.hidden,
                                  settings.n_heads, settings.ff, settings.n_layers)
    raise ValueError(f"unknown model {settings.model!r}; expected 'lstm' or 'transformer'")


def load_data(device, test_subset: int = 0) -> dict[str, tuple[scan_data.SeqSet, scan_data.SeqSet]]:
    """Every official split as ``(train, test)`` tensors over one vocabulary; ``test_subset`` > 0 keeps only
    that many test sequences of each split, drawn at random (seed 1234)."""
    vocab = scan_data.Vocab()
    data = {}
    for split in STAGES:
        train, test = scan_data.load_split(split)
        data[split] = (vocab.encode(train).to(device), vocab.encode(test).subset(test_subset).to(device))
    return data


def teacher_forcing(settings: Settings) -> float | None:
    return settings.teacher_forcing if settings.model == "lstm" else None


def removed_per_output_token(simple: mask_algebra.Mask, jump: mask_algebra.Mask, name: str) -> torch.Tensor:
    """Fig. 4b: per row (output token) of the output projection, |M_simple ∧ ¬M_jump| / |M_simple|."""
    kept, other = simple[name], jump[name]
    return ((kept & ~other).sum(1).float() / kept.sum(1).clamp_min(1).float())


def run_seed(settings: Settings, seed: int, data, base_store=None, store=None, progress: bool = True) -> dict:
    """Base network on the simple split, the four split masks, and the accuracies of Fig. 4a / 4b."""
    set_determinism(seed)  # before the model is built: its initial weights come from the seed
    model = build_model(settings, scan_data.Vocab()).to(data["simple"][0].src.device)
    model = sequences.train_network(model, data["simple"][0], settings, seed, base_store, "base",
                                    teacher_forcing(settings), progress=progress)
    draws = {stage: sequences.batches(data[stage][0], settings.batch_size, MASK_SEED, teacher_forcing(settings),
                                      settings.length_buckets) for stage in STAGES}
    masks = sequences.train_masks(model, draws, settings, f"{settings.model} seed {seed}", store, progress)
    result = {"masks": masks,
              "unmasked": {split: sequences.accuracy(model, data[split][1]) for split in STAGES},
              "full_mask": {split: sequences.accuracy(model, data[split][1], masks["simple"]) for split in STAGES},
              "split_mask": {split: sequences.accuracy(model, data[split][1], masks[split]) for split in SPLITS},
              "density": {stage: m.density() for stage, m in masks.items()}}
    output = "output_projection.weight" if settings.model == "lstm" else "output_map.weight"
    result["removed_per_token"] = removed_per_output_token(masks["simple"], masks["jump"], output)
    return result


def run_baseline(settings: Settings, seed: int, data, split: str, store=None, progress: bool = True) -> float:
    """Test accuracy on ``split`` of a network trained directly on its training set, without masks."""
    set_determinism(seed)
    model = build_model(settings, scan_data.Vocab()).to(data[split][0].src.device)
    model = sequences.train_network(model, data[split][0], settings, seed, store, f"trained_on_{split}",
                                    teacher_forcing(settings), progress=progress)
    return sequences.accuracy(model, data[split][1])
