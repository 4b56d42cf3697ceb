"""Differentiable binary weight masks (Csordás et al., ICLR 2021).

One logit per masked scalar weight, initialised to 2. During mask training every forward call draws K hard
Gumbel-sigmoid (logistic-noise) samples per masked tensor; sample k multiplies the frozen weight for the
k-th contiguous chunk of the batch, and the gradient flows straight through the soft sample. The final
mask is ``logit > 0``. Masks are keyed by the model's fully-qualified parameter names and are stored apart
from the weights.
"""

from __future__ import annotations

import contextlib
import warnings
import weakref
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import torch
from torch import nn
from torch.func import functional_call, vmap

from modularity import fast_random, mask_kernels
from modularity.mask_algebra import Mask

__all__ = ["MASK_INIT", "MaskLogits", "StagedMaskLogits", "UndecidedMaskWarning", "applied",
           "attention_fastpath_disabled", "check_mask_fits", "forward_with_samples", "frozen_weights",
           "half_mask_drops", "masked_parameter_names", "parameters_named", "sample_masked_weights", "train_mask",
           "undecided_share", "uses_vmap"]

MASK_INIT = 2.0


NEVER_MASKED = (nn.Embedding, nn.EmbeddingBag)  # a lookup table, not a connection between units


def masked_parameter_names(
    model: nn.Module, *, mask_biases: bool = False, mask_layernorm: bool = True,
    include: Iterable[str] = (), exclude: Iterable[str] = (),
) -> list[str]:
    """Names of the parameters a mask covers, in ``model.named_parameters()`` order, chosen by module type.

    Embedding tables are never masked; biases (a module's parameters whose own name contains ``bias``, e.g.
    ``nn.LSTM``'s ``bias_ih_l0``) only when ``mask_biases``; LayerNorm γ and β follow ``mask_layernorm``
    (the original masks LayerNorm β although torch calls it bias). ``include`` adds and ``exclude`` removes
    parameters by full name or by module name (a module's name covers all its parameters); a name that is
    neither raises ``ValueError``. A tied parameter appears once, under the name ``named_parameters()`` gives.
    """
    owners = {}  # parameter name -> (module, own name), first owner of each tensor only
    seen = set()
    for module_name, module in model.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            if id(param) not in seen:
                seen.add(id(param))
                owners[f"{module_name}.{param_name}" if module_name else param_name] = (module, param_name)

    def chosen_by_type(module: nn.Module, param_name: str) -> bool:
        if isinstance(module, NEVER_MASKED):
            return False
        if isinstance(module, nn.LayerNorm):
            return mask_layernorm
        return mask_biases or "bias" not in param_name

    modules = dict(model.named_modules())

    def expand(names: Iterable[str], role: str) -> set[str]:
        found = set()
        for name in names:
            if name in owners:
                found.add(name)
            elif name in modules and name:
                found |= {full for full in owners if full.startswith(name + ".")}
            else:
                raise ValueError(f"{role} names {name!r}, which is neither a parameter nor a module of the model; "
                                 f"its parameters are: {', '.join(owners)}")
        return found

    included, excluded = expand(include, "include"), expand(exclude, "exclude")
    return [name for name, (module, param_name) in owners.items()
            if (chosen_by_type(module, param_name) or name in included) and name not in excluded]


def parameters_named(model: nn.Module, names: Iterable[str], what: str = "the mask") -> dict[str, nn.Parameter]:
    """The model's parameters of the given names; ``ValueError`` naming the first the model does not have."""
    params = dict(model.named_parameters())
    for name in names:
        if name not in params:
            raise ValueError(f"{what} names tensor {name!r}, which the model does not have (a tied parameter goes "
                             f"by the name named_parameters() gives); the model's parameters are: {', '.join(params)}")
    return {name: params[name] for name in names}


def check_mask_fits(model: nn.Module, mask: Mask) -> dict[str, nn.Parameter]:
    """The masked parameters, after checking that each of the mask's tensors exists with the same shape."""
    params = parameters_named(model, mask.names)
    for name, keep in mask.items():
        if keep.shape != params[name].shape:
            raise ValueError(f"the mask's tensor {name!r} has shape {tuple(keep.shape)}, but the model's has "
                             f"{tuple(params[name].shape)}")
    return params


def _shapes(model: nn.Module, names: Iterable[str]) -> tuple[dict[str, torch.Size], torch.device]:
    params = parameters_named(model, list(names))
    device = next(model.parameters()).device
    return {name: param.shape for name, param in params.items()}, device


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
        shapes, device = _shapes(model, names)
        return cls(shapes, init=init, device=device)

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
        shapes, device = _shapes(model, names)
        return cls(shapes, n_stages, init=init, device=device)

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

    All K samples go through the model in one vmapped call (batched matmuls, grouped ops) where it can, else one
    call per chunk (see ``uses_vmap``). Torch's fused attention path is off meanwhile.
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

    def chunk_by_chunk():
        # unbind, not w[g]: indexing back-propagates a zero-filled [groups, ...] tensor per chunk (quadratic in
        # the number of chunks), unbind one stacked gradient
        per_chunk = {name: w.unbind(0) for name, w in weights.items()}
        outs = [run_chunk({n: w[g] for n, w in per_chunk.items()}, *(c[g] for c in chunks)) for g in range(groups)]
        return torch.utils._pytree.tree_map(lambda *parts: torch.stack(parts), *outs)

    with attention_fastpath_disabled():
        if not uses_vmap(model, inputs[0].device):
            out = chunk_by_chunk()
        else:
            try:
                out = vmap(run_chunk, randomness="different")(weights, *chunks)
            except RuntimeError as error:
                if not any(sign in str(error) for sign in VMAP_FAILURES):
                    raise
                _NO_VMAP[model] = str(error).splitlines()[0]
                out = chunk_by_chunk()
    return torch.utils._pytree.tree_map(lambda t: t.reshape(batch, *t.shape[2:]), out)


# what torch says when a module cannot run under vmap (fused RNNs, .item(), in-place ops on captured tensors)
VMAP_FAILURES = ("Batching rule not implemented", "vmap", "batched tensor", "BatchedTensor")
_NO_VMAP: "weakref.WeakKeyDictionary[nn.Module, str]" = weakref.WeakKeyDictionary()


def uses_vmap(model: nn.Module, device: torch.device) -> bool:
    """Whether the K mask samples go through ``model`` in one vmapped call (else one call per chunk).

    A model may say so with ``vmap_mask_samples``: ``False`` always loops (a recurrent network unrolled over
    many steps, where vmap's per-op cost outweighs batching), ``"gpu"`` loops on a CPU (convolutions, whose
    grouped form is slow there). Otherwise vmap is tried and a model it fails on (``nn.LSTM``, ``nn.GRU``:
    torch has no batching rule for the fused kernels) loops from then on — the same numbers, more calls.
    """
    choice = getattr(model, "vmap_mask_samples", True)
    if choice is False or (choice == "gpu" and device.type == "cpu"):
        return False
    return model not in _NO_VMAP


@contextlib.contextmanager
def attention_fastpath_disabled():
    """Turn off torch's fused inference path of ``nn.MultiheadAttention`` / ``nn.TransformerEncoderLayer``
    (it has no derivative, and mask training runs the model in eval mode); restores the setting."""
    mha = getattr(torch.backends, "mha", None)
    if mha is None or not hasattr(mha, "set_fastpath_enabled"):
        yield
        return
    before = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(before)


@contextlib.contextmanager
def applied(model: nn.Module, mask: Mask, *, inverse: bool = False):
    """Temporarily multiply the model's masked tensors by ``mask`` (or ``1 − mask``); restores in finally.

    Tensors the mask does not name are left intact, so a mask of a subset of tensors is a partial mask.
    """
    params = check_mask_fits(model, mask)
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

    if n_steps < 1:
        raise ValueError(f"n_steps is {n_steps}: mask training needs at least one step (the logits start at "
                         f"{MASK_INIT}, every weight kept)")
    if beta < 0:
        raise ValueError(f"beta is {beta}: the regulariser pushes logits down to remove weights, so β must be ≥ 0 "
                         "(β < 0 would reward keeping every weight)")
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
        losses = fit(trainable, loss_at_step, n_steps, lr=lr, clip=clip, desc=desc, checkpoint=checkpoint,
                     progress=progress, rng_key=rng_key)
    finally:
        restore_flags()
        model.train(was_training)
    share = undecided_share(logit for name, logit in logits.items() if name not in frozen)
    if share > MOSTLY_UNDECIDED:
        warnings.warn(f"{desc}: after {n_steps} steps {share:.0%} of the mask's logits are still undecided "
                      f"({UNDECIDED[0]} < σ(logit) < {UNDECIDED[1]}), so its binary mask (logit > 0) says little; "
                      "train for more steps or with a larger learning rate", UndecidedMaskWarning, stacklevel=2)
    return losses


UNDECIDED = (0.05, 0.95)  # σ(logit) strictly between these: the mask has not decided on that weight
MOSTLY_UNDECIDED = 0.5


class UndecidedMaskWarning(UserWarning):
    """Most logits of a trained mask are still near their start: too few steps or too small a learning rate."""


def undecided_share(logits: Iterable[torch.Tensor]) -> float:
    """The fraction of logits with σ(logit) strictly inside ``UNDECIDED``."""
    low, high = UNDECIDED
    undecided = total = 0
    for logit in logits:
        probabilities = torch.sigmoid(logit.detach())
        undecided += int(((probabilities > low) & (probabilities < high)).sum())
        total += probabilities.numel()
    return undecided / total if total else 0.0
