"""Planted structure: an MLP built from two disjoint blocks, one per task, must be found by the masks."""

import torch
from torch import nn

from modularity import masking
from modularity.mask_algebra import Mask, iou
from modularity.models.mlp import MLP


def planted_network() -> tuple[MLP, dict[int, Mask]]:
    """Inputs 0–3 → block 0 → outputs 0–1 computes 1[x₀+…+x₃ > 0]; inputs 4–7 → block 1 → outputs 2–3
    computes the same of x₄…x₇. Every non-zero weight is needed; the blocks share no unit."""
    model = MLP(8, [4, 4], 4)
    blocks = {}
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        for task in (0, 1):
            inputs, (up, down) = slice(4 * task, 4 * task + 4), (2 * task, 2 * task + 1)
            model.layers[0].weight[up, inputs] = 3.0  # relu(+s)
            model.layers[0].weight[down, inputs] = -3.0  # relu(−s)
            model.layers[1].weight[up, up] = 1.0
            model.layers[1].weight[down, down] = 1.0
            model.layers[2].weight[2 * task + 1, up] = 1.0  # logit "positive" ← relu(+s)
            model.layers[2].weight[2 * task, down] = 1.0  # logit "negative" ← relu(−s)
    for task in (0, 1):
        other_rows = slice(4 * (1 - task), 4 * (1 - task) + 4)
        support = {}
        for i, layer in enumerate(model.layers):
            nonzero = layer.weight != 0
            own = nonzero.clone()
            if i == 0:
                own[:, other_rows] = False
            else:
                own[:, slice(2 * (1 - task), 2 * (1 - task) + 2)] = False
            support[f"layers.{i}.weight"] = own
        blocks[task] = Mask(support)
    return model, blocks


def test_masks_recover_two_planted_blocks():
    torch.manual_seed(0)
    model, blocks = planted_network()
    assert (blocks[0] & blocks[1]).total() == 0 and blocks[0].total() == 12
    x = torch.randn(4096, 8, generator=torch.Generator().manual_seed(0))
    labels = {0: (x[:, :4].sum(1) > 0).long(), 1: (x[:, 4:].sum(1) > 0).long()}
    outputs = {0: slice(0, 2), 1: slice(2, 4)}

    found = {}
    for task in (0, 1):
        logits = masking.MaskLogits.for_model(model, masking.masked_parameter_names(model))

        def batch(step, y=labels[task]):
            index = torch.randint(0, 4096, (128,), generator=torch.Generator().manual_seed(step))
            return x[index], y[index]

        def loss(out, y, cols=outputs[task]):
            return nn.functional.cross_entropy(out[:, cols], y)

        masking.train_mask(model, logits, batch, loss, n_steps=400, beta=1e-2, penalty_batch_size=128, lr=0.05,
                           progress=False)
        found[task] = logits.binary()

    for task in (0, 1):
        assert (found[task] & blocks[1 - task]).total() == 0, "a task's mask kept weights of the other block"
        assert iou(found[task], blocks[task]) > 0.9
        with torch.no_grad(), masking.applied(model, found[task]):
            accuracy = (model(x)[:, outputs[task]].argmax(1) == labels[task]).float().mean()
        assert accuracy > 0.95
        with torch.no_grad(), masking.applied(model, found[task], inverse=True):
            out = model(x)
            broken = (out[:, outputs[task]].argmax(1) == labels[task]).float().mean()
            other = (out[:, outputs[1 - task]].argmax(1) == labels[1 - task]).float().mean()
        assert broken < 0.6 and other > 0.99  # removing a module breaks its task only
    assert iou(found[0], found[1]) == 0.0
