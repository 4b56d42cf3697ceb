"""Weight graphs follow the forward pass, not registration order, and refuse what a layered graph cannot be."""

import numpy as np
import pytest
import torch
from torch import nn

from modularity import clustering
from modularity.models.cnn import SmallCNN
from modularity.models.resnet import CifarResNet
from modularity.tracing import GraphTracingError


class RegisteredBackwards(nn.Module):
    """Layers registered in the opposite order to their use."""

    def __init__(self):
        super().__init__()
        self.last, self.middle, self.first = nn.Linear(4, 2), nn.Linear(5, 4), nn.Linear(3, 5)

    def forward(self, x):
        return self.last(torch.relu(self.middle(torch.relu(self.first(x)))))


def test_layers_come_in_forward_order():
    torch.manual_seed(0)
    model = RegisteredBackwards()
    graph = clustering.mlp_graph(model)
    assert graph.layer_sizes == [3, 5, 4, 2]
    expected = [m.weight.detach().abs().T.double().numpy() for m in (model.first, model.middle, model.last)]
    for got, want in zip(graph.weights, expected):
        np.testing.assert_array_equal(got, want)


class Skip(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        h = torch.relu(self.a(x))
        return self.c(torch.relu(self.b(h)) + h)


class Reused(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.out = nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        return self.out(self.a(torch.relu(self.a(x))))


class SkipToOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        h = self.a(x)
        return self.b(torch.relu(h)) + h


@pytest.mark.parametrize("model, message", [
    (Skip(), "'c' reads 'a' and 'b'"),
    (Reused(), "'a' is used twice"),
    (SkipToOutput(), "output comes from 'a' and 'b'"),
])
def test_skip_connections_and_reuse_are_refused_naming_the_module(model, message):
    with pytest.raises(GraphTracingError, match=message):
        clustering.mlp_graph(model)


def test_a_cnn_is_not_read_as_its_dense_head():
    with pytest.raises(GraphTracingError, match="Conv2d 'conv3' feeds 'dense'"):
        clustering.mlp_graph(SmallCNN())


def test_a_user_cnn_gets_its_channel_graph_in_forward_order():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Conv2d(3, 5, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(5, 2, 1), nn.Flatten(), nn.LazyLinear(4))
    model(torch.randn(1, 1, 12, 12))
    graph = clustering.cnn_graph(model)
    assert graph.layer_sizes == [3, 5, 2]
    kernel = model[3].weight.detach().abs().double()
    np.testing.assert_allclose(graph.weights[0], kernel.sum(dim=2).amax(dim=2).T.numpy())


def test_the_package_cnn_graph_is_unchanged_by_tracing():
    torch.manual_seed(2)
    model = SmallCNN()
    graph = clustering.cnn_graph(model)
    for got, conv in zip(graph.weights, (model.conv2, model.conv3)):
        np.testing.assert_array_equal(got, conv.weight.detach().abs().double().sum(dim=2).amax(dim=2).T.numpy())


def test_a_residual_network_is_refused():
    with pytest.raises(GraphTracingError, match="skip connection"):
        clustering.cnn_graph(CifarResNet(depth=8))


def test_an_untraceable_forward_says_what_to_do_instead():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2)

        def forward(self, x):
            return self.a(x) if x.sum() > 0 else x

    with pytest.raises(GraphTracingError, match="layered_graph"):
        clustering.mlp_graph(DataDependent())
