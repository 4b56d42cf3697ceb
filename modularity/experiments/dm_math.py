"""The Mathematics experiment of the weight-mask paper, one module and seed at a
time: a Transformer trained on easy, medium and hard problems; a control mask on all of them and a mask on
the easy problems only; exact-match accuracy on the held-out hard problems with each."""

from __future__ import annotations

from dataclasses import dataclass, replace

from modularity import mask_algebra
from modularity.data import dm_math
from modularity.experiments import sequences
from modularity.models.seq2seq import Seq2SeqTransformer
from modularity.train import set_determinism

MASK_SEED = 1234
BASE_ADAM = {"betas": (0.9, 0.995), "eps": 1e-9}  # the mask optimiser keeps Adam's defaults


@dataclass
class Settings:
    module: str
    base_steps: int
    mask_steps: int
    d_model: int = 512
    n_heads: int = 8
    ff: int = 2048
    n_layers: int = 6
    batch_size: int = 256  # base batch B (the logit penalty is β/B)
    mask_batch_size: int = 256
    lr: float = 1e-4
    warmup_steps: int = 0
    mask_lr: float = 0.03
    beta: float = 2e-5
    n_mask_samples: int = 8
    grad_clip: float = 0.1
    length_buckets: int = 1  # > 1: each batch from one group of similar answer lengths (less padding)
    data: str = ""  # what the network trains on (sizes of generated data); keys the per-seed stores


# The original code's per-module settings: module → (batch, base steps, warm-up, mask steps, mask batch, mask lr, β)
PAPER_TABLE = {"arithmetic__add_or_sub": (256, 30000, 0, 30000, 256, 0.03, 2e-5),
               "algebra__linear_1d": (512, 200000, 5000, 50000, 400, 0.02, 1e-6),
               "calculus__differentiate": (128, 40000, 0, 40000, 128, 0.03, 1e-5),
               "comparison__sort": (256, 30000, 0, 30000, 256, 0.03, 3e-6),
               "polynomials__collect": (128, 200000, 5000, 50000, 256, 0.02, 1e-6)}


def with_paper_table(settings: Settings) -> Settings:
    """``settings`` with its module's steps, batches, warm-up, mask learning rate and β from ``PAPER_TABLE``."""
    batch, steps, warmup, masks, mask_batch, mask_lr, beta = PAPER_TABLE[settings.module]
    return replace(settings, batch_size=batch, base_steps=steps, warmup_steps=warmup, mask_steps=masks,
                   mask_batch_size=mask_batch, mask_lr=mask_lr, beta=beta)


def short_name(module: str) -> str:
    return module.split("__", 1)[1]


def load_data(module: str, per_difficulty: int, per_test: int, holdout: int, device) -> dict:
    """SeqSets of one module: ``train`` (easy ∪ medium ∪ hard), ``train_easy``, ``test_easy``, ``test_hard``,
    over a character vocabulary of every file; and the vocabulary."""
    splits = dm_math.load(module, per_difficulty, per_test, holdout)
    vocab = dm_math.CharVocab.of(text for pairs in splits.values() for pair in pairs for text in pair)
    train = splits["train_easy"] + splits["train_medium"] + splits["train_hard"]
    data = {"train": train, "train_easy": splits["train_easy"], "test_easy": splits["test_easy"],
            "test_hard": splits["test_hard"]}
    out = {name: vocab.encode(pairs).to(device) for name, pairs in data.items()}
    out["vocab"] = vocab
    return out


def build_model(settings: Settings, vocab: dm_math.CharVocab) -> Seq2SeqTransformer:
    return Seq2SeqTransformer(len(vocab), len(vocab), 1, settings.d_model, settings.n_heads, settings.ff,
                              settings.n_layers, tied=True)


def run_seed(settings: Settings, seed: int, data: dict, base_store=None, store=None, progress: bool = True) -> dict:
    set_determinism(seed)
    model = build_model(settings, data["vocab"]).to(data["train"].src.device)
    model = sequences.train_network(model, data["train"], settings, seed, base_store, "base", adam=BASE_ADAM,
                                    warmup_steps=settings.warmup_steps, progress=progress)
    draws = {stage: sequences.batches(data[train], settings.mask_batch_size, MASK_SEED,
                                      n_buckets=settings.length_buckets)
             for stage, train in (("control", "train"), ("easy", "train_easy"))}
    masks = sequences.train_masks(model, draws, settings, f"{short_name(settings.module)} seed {seed}", store, progress)
    accuracy = {}
    for test in ("test_hard", "test_easy"):
        accuracy[test] = {"unmasked": sequences.accuracy(model, data[test]),
                          "control": sequences.accuracy(model, data[test], masks["control"]),
                          "easy_mask": sequences.accuracy(model, data[test], masks["easy"])}
    return {"accuracy": accuracy, "density": {s: m.density() for s, m in masks.items()},
            "shared_easy_in_control": mask_algebra.shared_fraction(masks["easy"], masks["control"])}
