"""Channel graphs of networks with residual connections: by hand, against the chain builder, on ResNet-18."""

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score
from torch import nn

from modularity import clustering, dag_graph


class Residual(nn.Module):
    """x → a → relu = h; h → b (→ bn) = y; z = h + y; z → c → flatten → linear."""

    def __init__(self, bn: bool = False):
        super().__init__()
        self.a, self.b, self.c = nn.Conv2d(3, 2, 1), nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 1)
        self.bn = nn.BatchNorm2d(2) if bn else nn.Identity()
        self.head = nn.Linear(2, 1)

    def forward(self, x):
        h = torch.relu(self.a(x))
        z = h + self.bn(self.b(h))
        return self.head(torch.flatten(self.c(z).mean(dim=(2, 3), keepdim=True), 1))


def test_a_residual_network_by_hand():
    model = Residual()
    with torch.no_grad():
        model.b.weight.copy_(torch.tensor([[1.0, -2.0], [0.0, 3.0]])[:, :, None, None])  # (out, in)
        model.c.weight.copy_(torch.tensor([[4.0, 0.0], [5.0, -6.0]])[:, :, None, None])
    graph = dag_graph.channel_dag(model)
    # groups: h (read by b), z (read by c; b reaches it through the addition), the flattened channels
    assert [size for _, size in graph.groups] == [2, 2, 2]
    b_in_out = np.array([[1.0, 0.0], [2.0, 3.0]])  # |K[out, in]| transposed to (in × out)
    c_in_out = np.array([[4.0, 5.0], [0.0, 6.0]])
    expected = np.zeros((6, 6))
    expected[0:2, 2:4] = b_in_out
    expected[2:4, 4:6] = c_in_out
    np.testing.assert_allclose(graph.adjacency().toarray(), expected + expected.T)


def test_batch_normalisation_scales_each_output_channel():
    model = Residual(bn=True).eval()
    with torch.no_grad():
        model.b.weight.copy_(torch.tensor([[1.0, -2.0], [0.0, 3.0]])[:, :, None, None])
        model.bn.weight.copy_(torch.tensor([2.0, -1.0]))
        model.bn.running_var.copy_(torch.tensor([1.0, 4.0]) - model.bn.eps)  # |γ|/√(σ²+ε) = 2, 0.5
    a = dag_graph.channel_dag(model).adjacency().toarray()
    np.testing.assert_allclose(a[0:2, 2:4], np.array([[1.0, 0.0], [2.0, 3.0]]) * [2.0, 0.5], rtol=1e-6)


def test_on_a_chain_it_is_the_layered_channel_graph():
    from modularity.models.cnn import SmallCNN

    model = SmallCNN(in_channels=1, side=28)
    layered = clustering.cnn_graph(model).adjacency().toarray()
    dag = dag_graph.channel_dag(model).adjacency().toarray()
    np.testing.assert_allclose(dag, layered)


def test_a_resnets_identity_shortcut_joins_a_convolution_to_the_group_after_next():
    from modularity.models.resnet import CifarResNet

    model = CifarResNet(depth=14).eval()  # two blocks per stage: the first stage's shortcuts are identities
    graph = dag_graph.channel_dag(model)
    convs = [n.name for n in torch.fx.symbolic_trace(model).graph.nodes
             if n.op == "call_module" and isinstance(model.get_submodule(n.target), nn.Conv2d)]
    reached = {graph.groups[b.target][0] for b in graph.blocks if b.conv == convs.index("blocks_0_conv2")}
    assert len(reached) == 2  # the next block's input and, through that block's identity shortcut, the one after
    shortcut = {graph.groups[b.source][0] for b in graph.blocks if b.conv == convs.index("blocks_2_shortcut_0")}
    conv1 = {graph.groups[b.source][0] for b in graph.blocks if b.conv == convs.index("blocks_2_conv1")}
    assert shortcut == conv1  # a projection shortcut reads the same channels as its block's first convolution
    a = graph.adjacency()
    assert (a != a.T).nnz == 0 and graph.n_nodes == a.shape[0] == sum(size for _, size in graph.groups)
    assert graph.groups[-1][1] == 64  # the channels averaged into the dense layer


def test_planted_channel_modules_are_found_and_are_clusterable():
    torch.manual_seed(0)
    model = Residual()
    model.a, model.b, model.c = nn.Conv2d(3, 8, 1), nn.Conv2d(8, 8, 1), nn.Conv2d(8, 8, 1)
    model.head = nn.Linear(8, 1)
    block = torch.zeros(8, 8)
    block[:4, :4], block[4:, 4:] = 1.0, 1.0
    with torch.no_grad():
        for conv in (model.b, model.c):
            conv.weight.copy_((block * (0.5 + torch.rand(8, 8)) + 1e-3 * torch.rand(8, 8))[:, :, None, None])
    graph = dag_graph.channel_dag(model)
    labels, ncut = dag_graph.spectral_clustering(graph.adjacency(), 2)
    truth = np.tile(np.repeat([0, 1], 4), 3)
    assert adjusted_rand_score(labels, truth) == 1.0 and ncut < 0.05
    result = dag_graph.clusterability(graph, 2, n_shuffles=19)
    assert result["below_every_shuffle"]


def test_imagenet_architectures_load_their_own_state_dicts_and_have_channel_graphs(tmp_path):
    from modularity.models import imagenet

    resnet = imagenet.ResNet18()
    torch.save(resnet.state_dict(), tmp_path / "resnet18.pth")
    loaded = imagenet.load_pretrained("resnet18", tmp_path / "resnet18.pth")
    assert all(torch.equal(a, b) for a, b in zip(resnet.state_dict().values(), loaded.state_dict().values()))
    names = set(resnet.state_dict())
    assert {"conv1.weight", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight", "layer4.1.bn2.running_var",
            "fc.weight"} <= names  # torchvision's keys
    graph = dag_graph.channel_dag(loaded)
    # groups: the stem's output, each block's inner activation and output (ResNet-18: 8 blocks), the pooled channels
    assert graph.n_nodes == 64 + 4 * 64 + 4 * 128 + 4 * 256 + 4 * 512
    vgg = imagenet.VGG16()
    assert {"features.0.weight", "features.28.bias", "classifier.6.weight"} <= set(vgg.state_dict())
    assert dag_graph.channel_dag(vgg).n_nodes == 2 * 64 + 2 * 128 + 3 * 256 + 6 * 512  # P1b's 4,224 channels
    with pytest.raises(FileNotFoundError, match="download torchvision"):
        imagenet.load_pretrained("vgg16", tmp_path / "absent.pth")
    with pytest.raises(ValueError, match="not a torchvision vgg16"):
        imagenet.load_pretrained("vgg16", tmp_path / "resnet18.pth")


def test_imagenet_weights_are_found_by_torchvisions_file_names_or_refused(tmp_path):
    from modularity.experiments import imagenet as experiment

    assert experiment.find_weights("resnet18", "") is None  # no folder: untrained weights
    (tmp_path / "resnet18-f37072fd.pth").write_bytes(b"")
    assert experiment.find_weights("resnet18", str(tmp_path)).name == "resnet18-f37072fd.pth"
    with pytest.raises(FileNotFoundError, match="no vgg16-"):
        experiment.find_weights("vgg16", str(tmp_path))
