"""The weight-mask method against hand-computed values and a direct transcription of the spec's formula."""

import math

import pytest
import torch
from torch import nn

from modularity import masking
from modularity.bench import reference_hard_sample
from modularity.mask_algebra import Mask
from modularity.models.lstm import RepeatedInputLSTM


def test_fast_sample_matches_reference_forward_and_gradient():
    torch.manual_seed(0)
    weight = torch.randn(5, 7)
    logit = (torch.randn(5, 7) * 3).requires_grad_()
    uniform = torch.rand(4, 5, 7)
    upstream = torch.randn(4, 5, 7)

    fast = masking._HardConcreteSample.apply(weight, logit, uniform)
    (fast * upstream).sum().backward()
    fast_grad = logit.grad.clone()
    logit.grad = None

    reference = weight * reference_hard_sample(logit, uniform)
    (reference * upstream).sum().backward()

    assert torch.equal(fast, reference.detach())  # exact forward for a fixed uniform draw
    torch.testing.assert_close(fast_grad, logit.grad, rtol=1e-5, atol=1e-6)


def test_straight_through_gradient_hand_computed():
    # l = 0, u = 0.25: g = log(1/3), s = σ(g) = 0.25, hard = 0, ∂s/∂l = s(1−s) = 0.1875.
    logit = torch.zeros(1, requires_grad=True)
    out = masking._HardConcreteSample.apply(torch.tensor([2.0]), logit, torch.tensor([[0.25]]))
    out.sum().backward()
    assert out.item() == 0.0
    assert logit.grad.item() == pytest.approx(2.0 * 0.1875, rel=1e-6)


def test_sample_probability_is_sigmoid_of_logit():
    torch.manual_seed(1)
    logit = torch.tensor([-2.0, 0.0, 1.0, 2.0])
    samples = masking.sample_masked_weights(torch.ones(4), logit, 200_000)
    frequency = samples.mean(0)
    torch.testing.assert_close(frequency, torch.sigmoid(logit), atol=4e-3, rtol=0)


def test_two_uniform_formula_of_the_original_has_the_same_distribution():
    torch.manual_seed(2)
    eps = 1e-10
    u0, u1 = torch.rand(2, 400_000)
    gumbel_difference = -torch.log(torch.log(u1 + eps) / torch.log(u0 + eps) + eps)
    uniform = torch.rand(400_000)
    logistic = torch.log(uniform) - torch.log1p(-uniform)
    for q in (0.1, 0.5, 0.9):
        assert torch.quantile(gumbel_difference, q).item() == pytest.approx(math.log(q / (1 - q)), abs=0.02)
        assert torch.quantile(logistic, q).item() == pytest.approx(math.log(q / (1 - q)), abs=0.02)


def test_sample_survives_extreme_logits():
    logit = torch.tensor([-300.0, 300.0], requires_grad=True)
    out = masking.sample_masked_weights(torch.ones(2), logit, 8)
    out.sum().backward()
    assert torch.equal(out, torch.tensor([[0.0, 1.0]] * 8))
    assert torch.isfinite(logit.grad).all()


class Probe(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.lin = nn.Linear(n, 1, bias=False)
        nn.init.ones_(self.lin.weight)

    def forward(self, x):
        return self.lin(x)


def test_each_chunk_gets_its_own_sample_and_samples_are_redrawn():
    torch.manual_seed(3)
    model = Probe(400)
    logits = masking.MaskLogits.for_model(model, ["lin.weight"], init=0.0)
    x = torch.ones(8, 400)  # 4 chunks of 2 rows: rows in a chunk see the same mask
    out = masking.forward_with_samples(model, logits, x, 4).squeeze(1)
    chunk_values = out.reshape(4, 2)
    assert torch.equal(chunk_values[:, 0], chunk_values[:, 1])
    assert len(set(chunk_values[:, 0].tolist())) == 4  # independent samples (400 coin flips each)
    again = masking.forward_with_samples(model, logits, x, 4).squeeze(1)
    assert not torch.equal(out, again)


def test_batch_must_divide_into_chunks():
    model = Probe(3)
    logits = masking.MaskLogits.for_model(model, ["lin.weight"])
    with pytest.raises(ValueError, match="divisible"):
        masking.forward_with_samples(model, logits, torch.ones(6, 3), 4)


def test_penalty_gradient_is_beta_over_batch_on_every_logit():
    model = Probe(5)
    logits = masking.MaskLogits.for_model(model, ["lin.weight"])
    beta, batch = 1e-4, 128
    loss = (beta / batch) * logits.penalty()
    loss.backward()
    assert torch.allclose(logits.logits[0].grad, torch.full((1, 5), beta / batch))


class Mixed(nn.Module):
    """Linear, Conv2d, LayerNorm, multi-head attention and the project's LSTM cell in one model."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.norm = nn.LayerNorm(12)
        self.attn = nn.MultiheadAttention(12, 2, batch_first=True)
        self.lstm = RepeatedInputLSTM(12, 6, 4, n_layers=1, n_steps=2)
        self.embedding = nn.Embedding(5, 12)

    def forward(self, x):
        h = self.conv(x).flatten(2)[..., :12]  # [n, 3 channels, 12]
        h = self.norm(h + self.embedding.weight[:3])
        h, _ = self.attn(h, h, h, need_weights=False)
        return self.lstm(h.mean(1))


def test_vmapped_samples_equal_the_deterministic_mask_per_chunk():
    """With saturated logits the sample is deterministic, so each chunk must match ``applied``."""
    torch.manual_seed(4)
    model = Mixed().eval()
    names = masking.masked_parameter_names(model, mask_biases=True)
    logits = masking.MaskLogits.for_model(model, names)
    for logit in logits.logits:
        logit.data = torch.where(torch.rand_like(logit) < 0.7, 40.0, -40.0)
    x = torch.randn(6, 2, 4, 4)
    sampled = masking.forward_with_samples(model, logits, x, 3)
    with masking.applied(model, logits.binary()):
        expected = model(x)
    torch.testing.assert_close(sampled, expected, rtol=1e-4, atol=1e-5)


def test_masked_parameter_filter():
    model = Mixed()
    without_bias = masking.masked_parameter_names(model)
    assert "conv.weight" in without_bias and "conv.bias" not in without_bias
    assert "norm.weight" in without_bias and "norm.bias" in without_bias  # LayerNorm β is masked
    assert not any("embedding" in n for n in without_bias)
    assert "lstm.cells.0.weight_hh" in without_bias and "lstm.cells.0.bias" not in without_bias
    no_norm = masking.masked_parameter_names(model, mask_layernorm=False)
    assert "norm.weight" not in no_norm
    assert "conv.bias" in masking.masked_parameter_names(model, mask_biases=True)


def test_binary_mask_is_logit_above_zero_and_deterministic():
    model = Probe(4)
    logits = masking.MaskLogits.for_model(model, ["lin.weight"])
    logits.logits[0].data = torch.tensor([[1.0, -1.0, 0.0, 3.0]])
    mask = logits.binary()
    assert mask["lin.weight"].tolist() == [[True, False, False, True]]
    x = torch.ones(1, 4)
    with masking.applied(model, mask):
        first = model(x)
    with masking.applied(model, mask):
        assert torch.equal(model(x), first)
    assert first.item() == 2.0


def test_inverse_and_partial_masks_touch_only_what_they_should():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    mask = Mask({"0.weight": torch.tensor([[True, False], [False, True]]),
                 "1.weight": torch.tensor([[True, True], [False, False]])})
    with masking.applied(model, mask, inverse=True):
        assert torch.equal(model[0].weight, before["0.weight"] * torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
        assert torch.equal(model[0].bias, before["0.bias"])  # unmasked tensors stay intact
        assert torch.equal(model[1].bias, before["1.bias"])
    with masking.applied(model, mask.subset(["1.weight"])):
        assert torch.equal(model[0].weight, before["0.weight"])  # partial mask: layer 0 untouched
        assert torch.equal(model[1].weight[1], torch.zeros(2))
    for name, param in model.named_parameters():
        assert torch.equal(param, before[name])


def test_applied_restores_the_model_after_an_exception():
    model = Probe(3)
    before = model.lin.weight.detach().clone()
    with pytest.raises(RuntimeError):
        with masking.applied(model, Mask({"lin.weight": torch.zeros(1, 3, dtype=torch.bool)})):
            raise RuntimeError("boom")
    assert torch.equal(model.lin.weight, before)


def test_mask_logits_save_load_round_trip(tmp_path):
    model = Mixed()
    logits = masking.MaskLogits.for_model(model, masking.masked_parameter_names(model))
    for logit in logits.logits:
        logit.data.normal_()
    logits.save(tmp_path / "mask.pt")
    loaded = masking.MaskLogits.load(tmp_path / "mask.pt")
    assert loaded.names == logits.names
    for (_, a), (_, b) in zip(loaded.items(), logits.items()):
        assert torch.equal(a, b)
    assert loaded.binary() == logits.binary()
    # masks are stored apart from the weights: the file holds logits only
    assert set(torch.load(tmp_path / "mask.pt", weights_only=True)) == set(logits.names)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="'nope.weight'"):
        masking.MaskLogits.for_model(Probe(2), ["nope.weight"])
    with pytest.raises(ValueError, match="'nope.weight'"):
        with masking.applied(Probe(2), Mask({"nope.weight": torch.ones(1, dtype=torch.bool)})):
            pass


def test_train_mask_updates_only_logits_and_leaves_weights_frozen():
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    logits = masking.MaskLogits.for_model(model, masking.masked_parameter_names(model))
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    masking.train_mask(model, logits, lambda step: (x, y), nn.functional.cross_entropy, n_steps=5, beta=1.0,
                       penalty_batch_size=64, progress=False)
    for name, param in model.named_parameters():
        assert torch.equal(param, before[name])
        assert param.requires_grad  # flags restored
    assert all((logit != 2.0).any() for logit in logits.logits)


def test_fused_kernels_match_the_eager_formula(monkeypatch):
    from modularity import mask_kernels

    torch.manual_seed(6)
    weight, logit = torch.randn(6, 5), torch.randn(6, 5) * 4
    uniform, grad = torch.rand(4, 6, 5), torch.randn(4, 6, 5)
    eager_forward = mask_kernels.masked_weight(weight, logit, uniform)
    eager_backward = mask_kernels.logit_gradient(grad, uniform, logit, weight)
    monkeypatch.setenv("MODULARITY_COMPILE", "1")
    assert torch.equal(mask_kernels.run("forward", weight, logit, uniform), eager_forward)
    torch.testing.assert_close(mask_kernels.run("backward", grad, uniform, logit, weight), eager_backward)
    assert not mask_kernels._compile_failed, "torch.compile should work where a C++ compiler exists"
