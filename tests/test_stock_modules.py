"""Masks on stock PyTorch modules a user would bring, and the refusals that keep misuse from giving wrong numbers.

For each module kind: a mask with every logit far above zero leaves the model's output as it was, one far below
zero gives the output of the model with those tensors zeroed (so the mask really enters the computation,
including ``nn.LSTM``'s fused weights), and a few steps of mask training run and move the logits.
"""

import warnings

import pytest
import torch
from torch import nn

from modularity import masking
from modularity.mask_algebra import Mask


class LastStep(nn.Module):
    """A recurrent or attention block followed by a linear head on the last position."""

    def __init__(self, block: nn.Module, width: int, kind: str):
        super().__init__()
        self.block, self.kind, self.head = block, kind, nn.Linear(width, 3)

    def forward(self, x):
        if self.kind == "rnn":
            x = self.block(x)[0]
        elif self.kind == "mha":
            x = self.block(x, x, x, need_weights=False)[0]
        else:
            x = self.block(x)
        return self.head(x[:, -1])


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.encode, self.decode = nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False)
        self.decode.weight = self.encode.weight

    def forward(self, x):
        return self.decode(torch.relu(self.encode(x)))


def stock_models():
    torch.manual_seed(0)
    sequence = torch.randn(8, 5, 6)
    return {
        "linear": (nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)), torch.randn(8, 6)),
        "conv_batchnorm": (nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                                         nn.Linear(4 * 4 * 4, 3)), torch.randn(8, 2, 6, 6)),
        "lstm": (LastStep(nn.LSTM(6, 8, batch_first=True), 8, "rnn"), sequence),
        "gru": (LastStep(nn.GRU(6, 8, batch_first=True), 8, "rnn"), sequence),
        "multihead_attention": (LastStep(nn.MultiheadAttention(6, 2, batch_first=True), 6, "mha"), sequence),
        "transformer_layer": (LastStep(nn.TransformerEncoderLayer(6, 2, 12, dropout=0.0, batch_first=True), 6,
                                       "plain"), sequence),
        "layernorm": (nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.Linear(8, 3)), torch.randn(8, 6)),
        "tied": (Tied(), torch.randn(8, 4)),
    }


@pytest.mark.parametrize("kind", list(stock_models()))
def test_masks_enter_train_and_round_trip_on_stock_modules(kind, tmp_path):
    model, x = stock_models()[kind]
    model.eval()
    names = masking.masked_parameter_names(model)
    assert names and len(names) == len(set(names))
    logits = masking.MaskLogits.for_model(model, names, init=30.0)
    with torch.no_grad():
        reference = model(x)
        kept = masking.forward_with_samples(model, logits, x, n_samples=4)
        for logit in logits.logits:
            logit.fill_(-30.0)
        removed = masking.forward_with_samples(model, logits, x, n_samples=4)
        with masking.applied(model, logits.binary()):
            zeroed = model(x)
    torch.testing.assert_close(kept, reference, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(removed, zeroed, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(zeroed, reference)

    logits = masking.MaskLogits.for_model(model, names)
    y = torch.randint(0, 3, (8,)) if kind != "tied" else torch.randint(0, 4, (8,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", masking.UndecidedMaskWarning)
        masking.train_mask(model, logits, lambda step: (x, y), nn.functional.cross_entropy, n_steps=3, beta=1.0,
                           penalty_batch_size=8, lr=0.5, progress=False)
    assert any((logit != masking.MASK_INIT).any() for logit in logits.logits)
    mask = logits.binary()
    mask.save(tmp_path / "mask.pt")
    assert Mask.load(tmp_path / "mask.pt") == mask
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with masking.applied(model, mask, inverse=True):
        pass
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_the_loop_after_a_vmap_failure_gives_the_numbers_of_the_loop():
    model, x = stock_models()["lstm"]
    logits = masking.MaskLogits.for_model(model, masking.masked_parameter_names(model))
    outputs = []
    for choice in (True, False):  # the first tries vmap, which has no batching rule for aten::lstm
        model.vmap_mask_samples = choice
        torch.manual_seed(3)
        outputs.append(masking.forward_with_samples(model, logits, x, n_samples=4))
    assert torch.equal(*outputs)
    del model.vmap_mask_samples
    assert not masking.uses_vmap(model, x.device)  # remembered: vmap is not tried again


def test_vmap_and_the_loop_compute_the_same_mask_forward():
    model, x = stock_models()["linear"]
    logits = masking.MaskLogits.for_model(model, masking.masked_parameter_names(model))
    outputs = []
    for choice in (True, False):
        model.vmap_mask_samples = choice
        torch.manual_seed(4)
        outputs.append(masking.forward_with_samples(model, logits, x, n_samples=4))
    torch.testing.assert_close(*outputs, rtol=1e-6, atol=1e-6)


def test_the_attention_fastpath_setting_is_restored():
    before = torch.backends.mha.get_fastpath_enabled()
    with masking.attention_fastpath_disabled():
        assert not torch.backends.mha.get_fastpath_enabled()
    assert torch.backends.mha.get_fastpath_enabled() == before


class Named(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(5, 4)
        self.embedding_proj = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)


def test_tensors_are_chosen_by_module_type_and_explicit_lists():
    model = Named()
    assert masking.masked_parameter_names(model) == ["embedding_proj.weight", "head.weight"]
    assert masking.masked_parameter_names(model, include=["embedding.weight"], exclude=["head"]) == [
        "embedding.weight", "embedding_proj.weight"]
    assert masking.masked_parameter_names(model, mask_biases=True, exclude=["embedding_proj.bias"]) == [
        "embedding_proj.weight", "head.weight", "head.bias"]
    with pytest.raises(ValueError, match="'heads'"):
        masking.masked_parameter_names(model, exclude=["heads"])


def test_tied_weights_are_masked_once_under_their_first_name():
    assert masking.masked_parameter_names(Tied()) == ["encode.weight"]


def test_a_mask_of_the_wrong_shape_is_refused_naming_the_tensor():
    model = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"'weight' has shape \(2, 2\)"):
        with masking.applied(model, Mask({"weight": torch.ones(2, 2, dtype=torch.bool)})):
            pass
    with pytest.raises(ValueError, match=r"'weight' has shape \(1,\)"):  # would broadcast and zero the weight
        with masking.applied(model, Mask({"weight": torch.zeros(1, dtype=torch.bool)})):
            pass


def test_a_mask_of_non_boolean_values_is_refused_naming_the_tensor():
    with pytest.raises(ValueError, match="'weight' holds 0.5"):
        Mask({"weight": torch.tensor([[1.0, 0.5]])})
    assert Mask({"weight": torch.tensor([[1.0, 0.0]])}).total() == 1  # 0/1 values are boolean


def fit_a_mask(n_steps, beta, lr=1e-2):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    logits = masking.MaskLogits.for_model(model, masking.masked_parameter_names(model))
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    masking.train_mask(model, logits, lambda step: (x, y), nn.functional.cross_entropy, n_steps=n_steps, beta=beta,
                       penalty_batch_size=16, lr=lr, progress=False)
    return logits


def test_train_mask_refuses_zero_steps_and_negative_beta():
    with pytest.raises(ValueError, match="n_steps is 0"):
        fit_a_mask(0, 1.0)
    with pytest.raises(ValueError, match="beta is -1"):
        fit_a_mask(5, -1.0)


def test_train_mask_warns_when_the_mask_is_still_mostly_undecided():
    with pytest.warns(masking.UndecidedMaskWarning, match="100% of the mask's logits are still undecided"):
        fit_a_mask(2, 1.0)  # logits start at 2, σ(2) = 0.88: two small steps leave every weight undecided
    with warnings.catch_warnings():
        warnings.simplefilter("error", masking.UndecidedMaskWarning)
        fit_a_mask(40, 50.0, lr=0.5)  # a strong push decides the mask


@pytest.mark.parametrize("logit, undecided", [(2.944, 1.0), (2.945, 0.0), (-2.944, 1.0), (-2.945, 0.0)])
def test_undecided_share_at_its_boundaries(logit, undecided):
    # σ(2.9444) = 0.95: just inside and just outside the undecided band on both sides
    assert masking.undecided_share([torch.tensor([logit])]) == undecided
