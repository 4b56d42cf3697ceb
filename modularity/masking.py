"""Differentiable binary weight masks (Csordás et al., ICLR 2021).

One logit per masked scalar weight, initialised to 2. During mask training every forward call draws K hard
Gumbel-sigmoid (logistic-noise) samples per masked tensor; sample k multiplies the frozen weight for the
k-th contiguous chunk of the batch, and the gradient flows straight through the soft sample. The final
mask is ``logit > 0``. Masks are keyed by the model's fully-qualified parameter names and are stored apart
from the weights.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import torch
from torch import nn
from torch.func import functional_call, vmap

from modularity import fast_random, mask_kernels
from modularity.mask_algebra import Mask

MASK_INIT = 2.0


def masked_parameter_names(
    model: nn.Module, *, mask_biases: bool = False, mask_layernorm: bool = True
) -> list[str]:
    """Names of the parameters a mask covers.

    Embeddings are never masked; biases only when ``mask_biases``; LayerNorm γ and β follow
    ``mask_layernorm`` whatever their names (the original masks LayerNorm β although torch calls it bias).
    """
    names = []
    for module_name, module in model.named_modules():
        for param_name, _ in module.named_parameters(recurse=False):
            full = f"{module_name}.{param_name}" if module_name else param_name
            if isinstance(module, nn.Embedding) or "embedding" in full:
                continue
            if isinstance(module, nn.LayerNorm):
                if mask_layernorm:
                    names.append(full)
                continue
            if "bias" in param_name and not mask_biases:
                continue
            names.append(full)
    return names


class _HardConcreteSample(torch.autograd.Function):
    """K hard logistic-noise samples of a mask, applied to a weight, with the straight-through gradient.

    For a uniform u the noise is g = log u − log(1−u); the hard sample is 1[l + g > 0] = 1[u > σ(−l)] and
    the soft sample is s = σ(l + g) = u·σ(l) / (u·σ(l) + (1−u)·σ(−l)). Only u is stored; s(1−s) is
    recomputed in the backward without any transcendental function on the K×N sampled elements
    (``mask_kernels`` fuses both passes for large tensors).
    """

    @staticmethod
    def forward(ctx, weight, logit, uniform):
        ctx.save_for_backward(weight, logit, uniform)
        return mask_kernels.run("forward", weight, logit, uniform)

    @staticmethod
    def backward(ctx, grad_out):
        weight, logit, uniform = ctx.saved_tensors
        grad_weight = grad_logit = None
        if ctx.needs_input_grad[1]:
            grad_logit = mask_kernels.run("backward", grad_out, uniform, logit, weight)
        if ctx.needs_input_grad[0]:  # grad · hard sample, summed over samples (and stages)
            grad_weight = mask_kernels.masked_weight(grad_out, logit, uniform).reshape(-1, *weight.shape).sum(0)
        return grad_weight, grad_logit, None


def sample_masked_weights(weight: torch.Tensor, logit: torch.Tensor, n_samples: int,
                          n_stages: int | None = None) -> torch.Tensor:
    """``[K, *weight.shape]``: the weight times K independent hard mask samples (fresh on every call).

    With ``n_stages`` S, ``logit`` is ``[S, *weight.shape]`` (S independent masks) and the result is
    ``[S·K, *weight.shape]``, stage-major: row s·K + k is stage s's k-th sample.
    """
    uniform = fast_random.uniform((n_samples, *logit.shape), device=logit.device).to(logit.dtype)
    samples = _HardConcreteSample.apply(weight, logit, uniform)
    if n_stages is None:
        return samples
    return samples.transpose(0, 1).reshape(n_stages * n_samples, *weight.shape)


class MaskLogits(nn.Module):
    """The trainable logits of one mask stage, keyed by parameter name."""

    def __init__(self, shapes: Mapping[str, torch.Size], init: float = MASK_INIT, device=None):
        super().__init__()
        self.names = list(shapes)
        self.logits = nn.ParameterList(
            nn.Parameter(torch.full(tuple(shape), float(init), device=device)) for shape in shapes.values()
        )

    @classmethod
    def for_model(cls, model: nn.Module, names: Iterable[str], init: float = MASK_INIT) -> "MaskLogits":
        params = dict(model.named_parameters())
        missing = [n for n in names if n not in params]
        if missing:
            raise KeyError(f"model has no parameter(s) {missing}")
        device = next(iter(params.values())).device
        return cls({n: params[n].shape for n in names}, init=init, device=device)

    def items(self) -> Iterator[tuple[str, nn.Parameter]]:
        return zip(self.names, self.logits)

    def penalty(self) -> torch.Tensor:
        """Σ of all raw logits (the regulariser; the caller scales it by β/B)."""
        return sum(logit.sum() for logit in self.logits)

    def binary(self) -> Mask:
        """The final deterministic mask: logit > 0."""
        return Mask.from_logits(dict(self.items()))

    def probabilities(self) -> dict[str, torch.Tensor]:
        return {name: torch.sigmoid(logit.detach()).cpu() for name, logit in self.items()}

    def copy_from(self, other: "MaskLogits", names: Iterable[str]) -> None:
        """Copy some tensors' logits from another stage (e.g. a frozen output layer)."""
        own = dict(self.items())
        for name, logit in other.items():
            if name in names:
                own[name].data.copy_(logit.data)

    def save(self, path: str | Path) -> None:
        torch.save({name: logit.detach().cpu() for name, logit in self.items()}, path)

    @classmethod
    def load(cls, path: str | Path, device=None) -> "MaskLogits":
        tensors = torch.load(path, map_location="cpu", weights_only=True)
        logits = cls({n: t.shape for n, t in tensors.items()}, device=device)
        for (name, param) in logits.items():
            param.data.copy_(tensors[name])
        return logits


class StagedMaskLogits(MaskLogits):
    """S independent masks over the same frozen weights, trained in one batched pass: each tensor is
    ``[S, *shape]``, and stage s is applied to the s-th block of S equal blocks of the batch. Elementwise
    Adam, the logit penalty and per-stage gradient clipping keep the stages exactly as independent as if
    they were trained one after another."""

    def __init__(self, shapes: Mapping[str, torch.Size], n_stages: int, init: float = MASK_INIT, device=None):
        super().__init__({n: (n_stages, *shape) for n, shape in shapes.items()}, init=init, device=device)
        self.n_stages = n_stages

    @classmethod
    def for_model(cls, model: nn.Module, names: Iterable[str], n_stages: int = 1,
                  init: float = MASK_INIT) -> "StagedMaskLogits":
        params = dict(model.named_parameters())
        missing = [n for n in names if n not in params]
        if missing:
            raise KeyError(f"model has no parameter(s) {missing}")
        device = next(iter(params.values())).device
        return cls({n: params[n].shape for n in names}, n_stages, init=init, device=device)

    def stage(self, index: int) -> dict[str, torch.Tensor]:
        """Stage ``index``'s logits (detached, on the CPU), keyed by parameter name."""
        return {name: logit.detach()[index].cpu() for name, logit in self.items()}

    def fill_every_stage(self, logits: Mapping[str, torch.Tensor], names: Iterable[str]) -> None:
        """Copy one stage's logits of the named tensors into every stage (e.g. a frozen output layer)."""
        own = dict(self.items())
        for name in names:
            own[name].data.copy_(logits[name].to(own[name].device).expand_as(own[name]))


def clip_per_stage(max_norm: float) -> Callable[[list[torch.Tensor]], None]:
    """Gradient-norm clipping of each stage of ``StagedMaskLogits`` on its own, as ``clip_grad_norm_``
    would clip that stage trained alone."""

    def clip(tensors: list[torch.Tensor]) -> None:
        grads = [t.grad for t in tensors if t.grad is not None]
        norms = torch.stack([g.flatten(1).square().sum(1) for g in grads]).sum(0).sqrt()
        scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))

    return clip


def forward_with_samples(
    model: nn.Module,
    logits: MaskLogits,
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    n_samples: int,
    frozen: Iterable[str] = (),
):
    """Run ``model`` on a batch with ``n_samples`` fresh mask samples, one per contiguous batch chunk.

    All K samples go through the model in one vmapped call (batched matmuls, grouped ops). A model can run one
    call per chunk instead: ``vmap_mask_samples = False`` always (a recurrent network unrolled over many
    steps, where vmap's per-op cost outweighs batching), ``"gpu"`` on a CPU (convolutions, whose grouped
    form is slow on a CPU).
    Tensors named in ``frozen`` use their deterministic mask (logit > 0) instead. With
    ``StagedMaskLogits`` of S stages the batch is S blocks, one per stage, each cut into K chunks. ``inputs``
    is one batch-first tensor or a tuple of them (the model's positional arguments).
    """
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    batch = inputs[0].shape[0]
    n_stages = getattr(logits, "n_stages", None)
    groups = n_samples * (n_stages or 1)
    if batch % groups:
        raise ValueError(f"batch size {batch} is not divisible by {n_samples} mask samples"
                         + (f" × {n_stages} stages" if n_stages else ""))
    params = dict(model.named_parameters())
    weights = {}
    for name, logit in logits.items():
        if name in frozen:
            keep = logit.detach() > 0
            keep = keep.repeat_interleave(n_samples, 0) if n_stages else keep.expand(n_samples, *logit.shape)
            weights[name] = params[name] * keep
        else:
            weights[name] = sample_masked_weights(params[name], logit, n_samples, n_stages)
    chunks = [t.reshape(groups, batch // groups, *t.shape[1:]) for t in inputs]

    def run_chunk(chunk_weights, *chunk):
        return functional_call(model, chunk_weights, chunk, strict=False)

    vmapped = getattr(model, "vmap_mask_samples", True)
    if vmapped is False or (vmapped == "gpu" and inputs[0].device.type == "cpu"):
        outs = [run_chunk({n: w[g] for n, w in weights.items()}, *(c[g] for c in chunks)) for g in range(groups)]
        out = torch.utils._pytree.tree_map(lambda *parts: torch.stack(parts), *outs)
    else:
        out = vmap(run_chunk, randomness="different")(weights, *chunks)
    return torch.utils._pytree.tree_map(lambda t: t.reshape(batch, *t.shape[2:]), out)


@contextlib.contextmanager
def applied(model: nn.Module, mask: Mask, *, inverse: bool = False):
    """Temporarily multiply the model's masked tensors by ``mask`` (or ``1 − mask``); restores in finally.

    Tensors the mask does not name are left intact, so a mask of a subset of tensors is a partial mask.
    """
    params = dict(model.named_parameters())
    unknown = [n for n in mask.names if n not in params]
    if unknown:
        raise KeyError(f"mask names parameters the model does not have: {unknown}")
    saved = {}
    try:
        with torch.no_grad():
            for name, keep in mask.items():
                param = params[name]
                saved[name] = param.detach().clone()
                keep = keep.to(param.device)
                param.mul_(~keep if inverse else keep)
        yield model
    finally:
        with torch.no_grad():
            for name, original in saved.items():
                params[name].copy_(original)


def half_mask_drops(model: nn.Module, mask: Mask, early: Iterable[str], accuracy: Callable[[], float]) -> dict:
    """The half-mask test: ``accuracy()`` with ``mask`` on every tensor (the reference),
    and how much it drops when the mask is applied only to the ``early`` tensors, or only to the others
    (tensors left out keep all their weights)."""
    early = [n for n in mask.names if n in set(early)]
    late = [n for n in mask.names if n not in early]
    results = {}
    for part, names in (("reference", mask.names), ("early", early), ("late", late)):
        with applied(model, mask.subset(names)):
            results[part] = accuracy()
    return {"reference": results["reference"], "drop_early": results["reference"] - results["early"],
            "drop_late": results["reference"] - results["late"]}


def first_half(names: Iterable[str], round_up: bool) -> list[str]:
    """The first ⌈n/2⌉ (``round_up``) or ⌊n/2⌋ of the name-sorted tensors: the half-mask test's early set."""
    names = sorted(names)
    return names[: (len(names) + 1) // 2 if round_up else len(names) // 2]


def frozen_weights(model: nn.Module) -> Callable[[], None]:
    """Set ``requires_grad=False`` on every weight; returns a function that restores the flags.

    The original keeps weight gradients on and clips them together with the mask gradients;
    here only mask gradients exist and are clipped — a documented deviation.
    """
    flags = {p: p.requires_grad for p in model.parameters()}
    for p in flags:
        p.requires_grad_(False)
    return lambda: [p.requires_grad_(f) for p, f in flags.items()]


def train_mask(
    model: nn.Module,
    logits: MaskLogits,
    batch_at_step: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    task_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    n_steps: int,
    beta: float,
    penalty_batch_size: int,
    lr: float = 1e-2,
    n_samples: int = 4,
    clip: float | None = 1.0,
    frozen: Iterable[str] = (),
    desc: str = "mask",
    checkpoint=None,
    progress: bool = True,
    rng_key: str | None = None,
) -> list[float]:
    """Train one stage's logits on frozen weights.

    Loss = task loss of the K-sample masked network + (β / B)·Σ logits, with B the *base* batch size
    (``penalty_batch_size``); Adam on the logits only. The model is in eval mode (dropout off, BatchNorm on
    running statistics) while the masks are sampled. The mask noise of step t is seeded by
    ``(rng_key, t)`` (``rng_key`` defaults to ``desc``; see ``train.fit``).
    """
    from modularity.train import fit

    frozen = set(frozen)
    trainable = [logit for name, logit in logits.items() if name not in frozen]
    if isinstance(logits, StagedMaskLogits) and clip is not None:
        clip = clip_per_stage(clip)
    scale = beta / penalty_batch_size
    was_training = model.training
    model.eval()
    restore_flags = frozen_weights(model)

    def loss_at_step(step: int) -> torch.Tensor:
        inputs, targets = batch_at_step(step)
        out = forward_with_samples(model, logits, inputs, n_samples, frozen=frozen)
        return task_loss(out, targets) + scale * logits.penalty()

    try:
        return fit(trainable, loss_at_step, n_steps, lr=lr, clip=clip, desc=desc, checkpoint=checkpoint,
                   progress=progress, rng_key=rng_key)
    finally:
        restore_flags()
        model.train(was_training)
