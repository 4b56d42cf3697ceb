"""The CIFAR-10 VGG: its layer plan, its dropout placement, a narrower copy, and its channel graph."""

import torch
from torch import nn

from modularity import clustering
from modularity.models.vgg import CifarVGG


def test_the_plan_of_thirteen_convolutions_and_five_pools():
    model = CifarVGG()
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.features) == 5
    rates = [m.p for m in model.features if isinstance(m, nn.Dropout)]
    assert rates[0] == 0.3 and rates[-1] == 0.5 and set(rates[1:-1]) == {0.4} and len(rates) == 1 + 7 + 1
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_a_narrow_copy_without_dropout_has_a_channel_graph():
    model = CifarVGG(width=0.125, dropout=False).eval()
    assert not any(isinstance(m, nn.Dropout) and m.p for m in model.modules())
    graph = clustering.cnn_graph(model)
    assert graph.layer_sizes == [8, 8, 16, 16, 32, 32, 32, 64, 64, 64, 64, 64, 64]
