"""Training and evaluating the encoder–decoder models (SCAN, Mathematics): batches from (seed, step), the
summed sequence loss, resumable training, and exact-match accuracy of greedy decoding."""

from __future__ import annotations

import contextlib
import time

import torch

from modularity import mask_algebra, masking
from modularity.data.sequences import SeqSet
from modularity.experiments import stages
from modularity.models.seq2seq import exact_match, sequence_loss
from modularity.train import BatchIndices, fit


def length_buckets(data: SeqSet, n_buckets: int) -> list[torch.Tensor]:
    """Indices of the sequences in ``n_buckets`` groups of about equal size, by target length."""
    order = torch.argsort(data.tgt_len.cpu(), stable=True).to(data.src.device)
    return [part for part in torch.tensor_split(order, n_buckets) if len(part)]


def batches(data: SeqSet, batch_size: int, seed: int, teacher_forcing: float | None = None, n_buckets: int = 1):
    """``step → (model inputs, loss targets)``. With ``teacher_forcing`` p (the LSTM), each batch is
    teacher-forced with probability p, decided from (seed, step), passed as a per-sequence flag.

    With ``n_buckets`` > 1 a batch is drawn from one bucket of similar target lengths, the bucket chosen with
    probability proportional to its size, so every sequence stays equally likely while padding (and the
    decoder's unrolled steps) shrink to the bucket's longest sequence.
    """
    buckets = length_buckets(data, n_buckets)
    draws = [BatchIndices(len(bucket), batch_size, seed * 31 + i, device=data.src.device)
             for i, bucket in enumerate(buckets)]
    weights = torch.tensor([len(bucket) for bucket in buckets], dtype=torch.float)

    def indices(step: int) -> torch.Tensor:
        if len(buckets) == 1:
            return buckets[0][draws[0](step)]
        which = int(torch.multinomial(weights, 1, generator=torch.Generator().manual_seed(seed * 7_919 + step + 1)))
        return buckets[which][draws[which](step)]

    def batch(step: int):
        b = data.batch(indices(step))
        inputs = (b.src, b.src_len, b.tgt)
        if teacher_forcing is not None:
            coin = torch.rand((), generator=torch.Generator().manual_seed(seed * 7_919 + step)).item()
            inputs += (torch.full((len(b.src),), coin < teacher_forcing, device=b.src.device),)
        return inputs, (b.tgt, b.tgt_len)

    return batch


def seq_loss(out: torch.Tensor, targets) -> torch.Tensor:
    return sequence_loss(out, *targets)


def train_network(model: torch.nn.Module, data: SeqSet, settings, seed: int, store=None, name: str = "base",
                  teacher_forcing: float | None = None, adam: dict | None = None, warmup_steps: int = 0,
                  progress: bool = True) -> torch.nn.Module:
    """``model`` trained on ``data`` (``settings``: base_steps, batch_size, lr, grad_clip, length_buckets), or
    loaded from ``store`` when already trained; returned in eval mode."""
    done = store.load(name) if store else None
    if done is None:
        draw = batches(data, settings.batch_size, seed, teacher_forcing, settings.length_buckets)
        model.train()
        started = time.time()

        def loss_at_step(step: int) -> torch.Tensor:
            inputs, targets = draw(step)
            return seq_loss(model(*inputs), targets)

        losses = fit(list(model.parameters()), loss_at_step, settings.base_steps, lr=settings.lr,
                     clip=settings.grad_clip, adam=adam, warmup_steps=warmup_steps, desc=f"seed {seed} {name}",
                     checkpoint=store.checkpoint(name) if store else None, progress=progress)
        done = {"state": {k: v.cpu() for k, v in model.state_dict().items()}, "losses": losses}
        if store:
            store.save(name, done)
        print(f"seed {seed}: {name} network trained ({time.time() - started:.0f} s)", flush=True)
    model.load_state_dict(done["state"])
    model.eval()
    return model


def train_masks(model: torch.nn.Module, stage_batches: dict, settings, desc: str, store=None,
                progress: bool = True) -> dict[str, mask_algebra.Mask]:
    """One mask per stage (``stage → batches``) on the frozen ``model``'s weights, biases and embeddings
    unmasked; each loaded from ``store`` when already trained."""
    names = masking.masked_parameter_names(model, mask_biases=False)
    masks, started = {}, time.time()
    for stage, draw in stage_batches.items():
        done, trained = stages.mask_stage(model, names, stage, draw, seq_loss, settings, desc, store, progress)
        masks[stage] = mask_algebra.Mask.from_logits(done["logits"])
        if trained:
            print(f"{desc}: {stage} mask trained ({time.time() - started:.0f} s)", flush=True)
    return masks


@torch.no_grad()
def accuracy(model: torch.nn.Module, data: SeqSet, mask=None, batch: int = 1024) -> float:
    """Exact-match accuracy of greedy decoding (as many steps as the longest reference, EOS included)."""
    correct = 0
    with masking.applied(model, mask) if mask is not None else contextlib.nullcontext():
        for start in range(0, len(data), batch):
            b = data.batch(torch.arange(start, min(start + batch, len(data)), device=data.src.device))
            predicted = model.greedy(b.src, b.src_len, b.tgt.shape[1])
            correct += int(exact_match(predicted, b.tgt, b.tgt_len).sum())
    return correct / len(data)
