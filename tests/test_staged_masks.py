"""Several masks trained in one batched pass are exactly as independent as masks trained one at a time."""

import torch
from torch import nn

from modularity import fast_random, masking


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.output = nn.Linear(3 * 4 * 4, 5)

    def forward(self, x):
        return self.output(torch.relu(self.conv(x)).flatten(1))


def fixed_uniforms(monkeypatch, draws):
    """Make the sampler return prepared uniforms, in call order."""
    queue = list(draws)
    monkeypatch.setattr(fast_random, "uniform", lambda shape, device="cpu": queue.pop(0).reshape(shape))


NAMES = ["conv.weight", "conv.bias", "output.weight", "output.bias"]


def spread_logits(model: nn.Module, n_stages: int) -> tuple[masking.StagedMaskLogits, dict]:
    """Staged logits of every TinyCNN tensor drawn from N(0, 2²) (masks far from all-ones), and the parameters."""
    staged = masking.StagedMaskLogits.for_model(model, NAMES, n_stages)
    with torch.no_grad():
        for _, logit in staged.items():
            logit.normal_(0, 2)
    return staged, dict(model.named_parameters())


def test_staged_forward_and_gradients_equal_separate_stages(monkeypatch):
    torch.manual_seed(0)
    model = TinyCNN()
    n_stages, k, per_stage = 3, 2, 4
    staged, params = spread_logits(model, n_stages)
    uniforms = {n: torch.rand(k, n_stages, *params[n].shape) for n in NAMES}
    inputs = torch.randn(n_stages * per_stage, 2, 4, 4)
    targets = torch.randint(0, 5, (n_stages * per_stage,))

    fixed_uniforms(monkeypatch, [uniforms[n] for n in NAMES])
    out = masking.forward_with_samples(model, staged, inputs, k)
    per_stage_loss = nn.functional.cross_entropy(out, targets, reduction="none").reshape(n_stages, -1).mean(1)
    per_stage_loss.sum().backward()

    for s in range(n_stages):
        single = masking.MaskLogits.for_model(model, NAMES)
        with torch.no_grad():
            for name, logit in single.items():
                logit.copy_(dict(staged.items())[name][s])
        fixed_uniforms(monkeypatch, [uniforms[n][:, s] for n in NAMES])
        block = slice(s * per_stage, (s + 1) * per_stage)
        alone = masking.forward_with_samples(model, single, inputs[block], k)
        torch.testing.assert_close(alone, out[block])
        nn.functional.cross_entropy(alone, targets[block]).backward()
        for name, logit in single.items():
            torch.testing.assert_close(logit.grad, dict(staged.items())[name].grad[s], rtol=1e-5, atol=1e-7)


def test_frozen_tensors_use_each_stages_deterministic_mask():
    torch.manual_seed(1)
    model = TinyCNN()
    staged = masking.StagedMaskLogits.for_model(model, ["conv.weight", "output.weight"], 2)
    control = {"output.weight": torch.where(torch.rand(5, 48) > 0.5, 3.0, -3.0)}
    staged.fill_every_stage(control, ["output.weight"])
    assert torch.equal(staged.stage(0)["output.weight"], control["output.weight"])
    assert torch.equal(staged.stage(1)["output.weight"], control["output.weight"])
    out = masking.forward_with_samples(model, staged, torch.randn(8, 2, 4, 4), 2, frozen=["output.weight"])
    out.sum().backward()
    assert dict(staged.items())["output.weight"].grad is None or not dict(staged.items())["output.weight"].grad.any()


def test_per_stage_clipping_equals_clipping_each_stage_alone():
    torch.manual_seed(2)
    a, b = torch.zeros(3, 4, requires_grad=True), torch.zeros(3, 2, 2, requires_grad=True)
    a.grad, b.grad = torch.randn(3, 4) * torch.tensor([[0.01], [5.0], [1.0]]), torch.randn(3, 2, 2)
    expected = []
    for s in range(3):
        ga, gb = a.grad[s].clone().requires_grad_(), b.grad[s].clone()
        x, y = torch.zeros(4, requires_grad=True), torch.zeros(2, 2, requires_grad=True)
        x.grad, y.grad = ga.detach().clone(), gb.clone()
        torch.nn.utils.clip_grad_norm_([x, y], 1.0)
        expected.append((x.grad, y.grad))
    masking.clip_per_stage(1.0)([a, b])
    for s, (ga, gb) in enumerate(expected):
        torch.testing.assert_close(a.grad[s], ga)
        torch.testing.assert_close(b.grad[s], gb)


def test_batch_must_split_into_stages_and_samples():
    model = TinyCNN()
    staged = masking.StagedMaskLogits.for_model(model, ["conv.weight"], 3)
    try:
        masking.forward_with_samples(model, staged, torch.randn(8, 2, 4, 4), 2)
    except ValueError as error:
        assert "3 stages" in str(error)
    else:
        raise AssertionError("an indivisible batch must be refused")


def test_the_chunk_loop_back_propagates_exactly_what_indexing_each_chunk_would(monkeypatch):
    """The loop hands each chunk its sample through ``unbind`` (one stacked gradient) rather than ``w[g]`` (a
    zero-filled full-size gradient per chunk, quadratic in the chunks): the logits' gradients are bit-identical."""
    torch.manual_seed(1)
    model = TinyCNN()
    model.vmap_mask_samples = False
    n_stages, k, per_chunk = 3, 4, 2
    staged, params = spread_logits(model, n_stages)
    uniforms = [torch.rand(k, n_stages, *params[n].shape) for n in NAMES]
    inputs = torch.randn(n_stages * k * per_chunk, 2, 4, 4)

    fixed_uniforms(monkeypatch, uniforms)
    masking.forward_with_samples(model, staged, inputs, k).square().sum().backward()
    looped = {n: logit.grad.clone() for n, logit in staged.items()}

    staged.zero_grad()
    fixed_uniforms(monkeypatch, uniforms)
    samples = {n: masking.sample_masked_weights(params[n], logit, k, n_stages) for n, logit in staged.items()}
    chunks = inputs.reshape(n_stages * k, per_chunk, 2, 4, 4)
    outs = [torch.func.functional_call(model, {n: w[g] for n, w in samples.items()}, (chunks[g],), strict=False)
            for g in range(n_stages * k)]
    torch.stack(outs).square().sum().backward()
    assert all(torch.equal(looped[n], logit.grad) for n, logit in staged.items())
