"""P2 on channels, on a planted CNN: one block of channels carries the class through both conv layers, the
other block is read by nothing. The channel graph's clusters are the blocks; the carrying block's sub-clusters
are important (and drive a confident prediction), the unread block's cost less than random channel sets."""

import pytest
import torch
from torch import nn

from modularity.experiments import channel_importance as ci


def planted_cnn() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """Channels 0-15 of both convs carry relu(±v) (8 copies of each sign), channels 16-31 carry v and feed
    nothing; the image is v everywhere (plus noise) and the class is v > 0. Class 1's logit is the sum of the
    kept '+' copies, class 0's of the '−' ones, and class 2 (which no image has) a constant bar they must clear:
    every lesioned copy costs a little accuracy, and losing the block costs the class."""
    model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    sign = torch.tensor([1.0, -1.0] * 8)
    with torch.no_grad():
        for layer in (model[0], model[2], model[6]):
            layer.weight.zero_()
            layer.bias.zero_()
        model[0].weight[:16, 0, 1, 1] = sign
        model[0].weight[16:, 0, 1, 1] = 1.0
        model[2].weight[:16, :16, 1, 1] = torch.outer(sign, sign) / 8  # relu(±(kept '+' − kept '−') / 8)
        model[2].weight[16:, 16:, 1, 1] = 1 / 16
        model[6].weight[1, 0:16:2] = 1.0
        model[6].weight[0, 1:16:2] = 1.0
        model[6].bias[2] = 1.0
    generator = torch.Generator().manual_seed(0)
    v = torch.randn(600, generator=generator)
    x = v[:, None, None, None] + 0.05 * torch.randn(600, 1, 6, 6, generator=generator)
    y = (v > 0).long()
    return model.eval(), (x[:400], y[:400], x[400:], y[400:])


def test_the_channel_graphs_clusters_are_the_planted_blocks():
    model, _ = planted_cnn()
    labels = ci.weight_partition(model, 2)
    for layer in labels:
        assert len(set(layer[:16])) == 1 and len(set(layer[16:])) == 1 and layer[0] != layer[16]
    assert [len(c.units) for c in ci.sub_clusters(labels)] == [16, 16, 16, 16]  # importance's, on channels


def test_the_carrying_block_matters_and_the_unread_block_does_not():
    model, data = planted_cnn()
    result = ci.analyse_network(model, data, seed=0, k=2, n_random=19, test_subset=0, activation_examples=400,
                                vis_steps=10, vis_lr=0.05)
    assert result["base_acc"][:2].min() > 0.8
    carrying = [r for r in result["records"] if r["class_drops"][:2].min() > 0.5]  # both classes lost
    unread = [r for r in result["records"] if r["acc_drop"] == 0]
    assert len(carrying) == len(unread) == 2  # one of each per conv layer
    for record in carrying:
        assert record["p_mean"] == pytest.approx(1 / 20)  # costs more than every random set
    for record in unread:
        assert record["p_mean"] == pytest.approx(1.0)  # every random set costs more
    assert not any(m._forward_hooks for m in model.modules())  # every lesion and capture was undone
    assert all(p.requires_grad for p in model.parameters())  # feature visualisation froze them only meanwhile
    assert all(0 < r["p_score"] <= 1 and 0 < r["p_entropy"] <= 1 and 0 < r["p_examples"] <= 1
               for r in result["records"])


def test_channel_activations_are_the_largest_column_sum_of_each_map():
    model, (x, *_) = planted_cnn()
    activations = ci.channel_activations(model, x[:5], batch=2)
    out = model[0](x[:5])
    expected = out.abs().sum(dim=2).amax(dim=2)
    torch.testing.assert_close(activations[0], expected)
    assert [a.shape for a in activations] == [(5, 32), (5, 32)]


def test_the_clusterability_chapters_cnn_is_analysed_unpruned(data_root):
    from modularity.cache import SeedStore
    from modularity.experiments import networks

    settings = networks.Settings(epochs=1, batch_size=32)
    torch.manual_seed(0)
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
    result = ci.run_network("cnn", "mnist", "none", 0, settings, (x, y, x[:32], y[:32]), "cpu", k=3, n_random=3,
                            test_subset=0, activation_examples=32, vis_steps=2, vis_lr=0.05)
    assert result["records"] and {r["layer"] for r in result["records"]} <= {1, 2, 3}
    store = SeedStore("clusterability_cnn", {"kind": "cnn", "dataset": "mnist", "regulariser": "none", **{
        k: v for k, v in vars(settings).items() if k not in networks.MEASUREMENT_FIELDS}}, 0, scope=networks.__name__)
    assert store.load("base") is not None and store.load("pruned") is None  # trained once, never pruned here


@pytest.mark.parametrize("preset", ["cpu_narrow_vgg", "paper"])
def test_the_importance_chapter_analyses_the_clusterability_chapters_vggs(preset):
    # the trained network is keyed by its training settings, pruning epochs included: equal settings, one training
    from modularity import runner

    clusterability = runner.resolved_parameters("clusterability", preset)
    importance = runner.resolved_parameters("importance_coherence", preset)
    for key in ("vgg_width", "vgg_epochs", "vgg_prune_epochs", "train_subset"):
        assert importance[key] == clusterability[key], key
    assert "dropout_l2" in clusterability["vgg_settings"]


@pytest.mark.parametrize("preset", ["smoke", "cpu_small_cnn", "paper"])
def test_the_importance_chapter_analyses_the_clusterability_chapters_small_cnns(preset):
    # the small CNN is keyed by the MLP training fields it inherits and its own epochs, pruning epochs included
    from modularity import runner

    clusterability = runner.resolved_parameters("clusterability", preset)
    importance = runner.resolved_parameters("importance_coherence", preset)
    for key in ("cnn_epochs", "cnn_prune_epochs", "train_subset", "hidden", "dropout"):
        assert importance[key] == clusterability[key], key
    assert "mnist" in clusterability["cnn_datasets"] and "plain" in clusterability["cnn_settings"]
    assert importance["cnn_networks"] <= clusterability["cnn_networks"]
