"""Channel lesions on traced graphs and the ImageNet importance pipeline, on untrained weights."""

import numpy as np
import pytest
import torch
from PIL import Image

from modularity import dag_graph
from modularity.channel_gates import ChannelGates
from modularity.experiments import imagenet as inet
from modularity.models.imagenet import VGG16, ResNet18


def _zeroing_hook(channels):
    def hook(module, inputs, output):
        output = output.clone()
        output[:, channels] = 0
        return output
    return hook


@pytest.mark.parametrize("architecture, group, module", [(VGG16, "features_1", lambda m: m.features[1]),
                                                         (ResNet18, "maxpool", lambda m: m.maxpool)])
def test_closing_a_groups_channels_equals_zeroing_that_modules_output(architecture, group, module):
    torch.manual_seed(0)
    model = architecture(n_classes=5).eval()
    gates = ChannelGates(model, dict(dag_graph.channel_dag(model).groups))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
        assert torch.allclose(gates(x), before, atol=1e-6)  # every gate open: the model itself
        with gates.closed(group, [0, 3, 7]):
            closed = gates(x)
        handle = module(model).register_forward_hook(_zeroing_hook([0, 3, 7]))
        expected = model(x)
        handle.remove()
        assert torch.allclose(closed, expected, atol=1e-5) and not torch.allclose(closed, before, atol=1e-4)
        assert torch.allclose(gates(x), before, atol=1e-6)  # reopened after the block
        assert torch.allclose(model(x), before)  # the model itself never changed


def test_gates_refuse_a_name_the_trace_does_not_have():
    with pytest.raises(ValueError, match="no traced tensor named nowhere"):
        ChannelGates(VGG16(n_classes=2), {"nowhere": 3})


def _image_folder(root, sizes_per_class):
    rng = np.random.default_rng(0)
    for c, sizes in enumerate(sizes_per_class):
        folder = root / f"n0000000{c}"
        folder.mkdir()
        for i, (w, h) in enumerate(sizes):
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return root


def test_images_are_cropped_normalised_and_labelled_by_sorted_class_folder(tmp_path):
    root = _image_folder(tmp_path, [[(40, 30), (30, 50), (36, 36)], [(64, 32)], [(33, 33), (50, 40)]])
    x, y = inet.load_images(str(root), per_class=2, n_classes=3, size=28)
    assert x.shape == (5, 3, 28, 28) and y.tolist() == [0, 0, 1, 2, 2]
    assert abs(float(x.mean())) < 1 and x.std() > 0.5  # normalised: uniform noise has mean ≈ 0.5, std ≈ 0.29
    with pytest.raises(ValueError, match="3 class folders, not 1000"):
        inet.load_images(str(root), per_class=1)


def test_channel_importance_of_an_untrained_resnet_covers_every_sub_cluster():
    torch.manual_seed(0)
    model = ResNet18(n_classes=3)
    x, y = torch.randn(12, 3, 32, 32), torch.arange(12) % 3
    result = inet.channel_importance(model, k=12, n_random=3, x=x, y=y, seed=0)  # k = 4 splits only stages
    sizes = dict(dag_graph.channel_dag(model).groups)
    assert result["n_groups"] == len(sizes) and len(result["records"]) > 0
    for record in result["records"]:
        assert 2 <= record["size"] <= 0.99 * sizes[record["group"]]
        assert record["n_random"] == 3 and all(0.25 <= record[p] <= 1 for p in ("p_mean", "p_range"))
        assert record["class_drops"].shape == (3,)
