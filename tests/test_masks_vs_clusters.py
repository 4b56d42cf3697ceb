"""The positive control of the masks-against-clusters chapter: planted circuits, disjoint or with one shared by
both tasks, are recovered by trained masks and by spectral clustering alike, and lesions agree with masks."""

import numpy as np
import pytest
import torch

from modularity import verdicts
from modularity.experiments import masks_vs_clusters as mc

QUICK = mc.CompareSettings(n_permutations=100, n_random_sets=20, n_lesion_null=20)


def test_the_planted_network_computes_each_tasks_sum_exactly():
    settings = mc.PlantedSettings(groups=(2, 3), shared=2)
    model, modules = mc.planted_network(settings, seed=0)
    x, y = mc.planted_data(settings, 7, seed=0)
    with torch.no_grad():
        assert torch.allclose(model(x), y, atol=1e-5)
    assert torch.allclose(y[:, 0], x[:, [0, 1, 5, 6]].sum(1)) and torch.allclose(y[:, 1], x[:, 2:].sum(1))
    assert modules[1].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2] and modules[3].tolist() == [0, 1]


@pytest.mark.parametrize("shared", [0, 2])
def test_planted_modules_are_recovered_by_masks_and_by_clusters(shared):
    result = mc.run_planted(mc.PlantedSettings(shared=shared), QUICK, seed=0)
    n_modules = 2 + bool(shared)
    assert result["recovered"] == {"masks": [True] * n_modules, "clusters": [True] * n_modules}
    usage = result["usage"]
    assert usage["ami"] > 0.9 and usage["null_mean"] < 0.1
    assert verdicts.alignment_level(usage["ami"], usage["p"]) == "aligned"
    assert all(cut["p"] < 0.1 and cut["z"] < -2 for cut in result["mask_cut"].values())


def test_lesioning_a_circuit_loses_its_task_only():
    settings = mc.PlantedSettings()
    network, planted = mc.planted_case(settings, seed=0)
    base = network.task_scores()
    assert base == pytest.approx({"task0": 1.0, "task1": 1.0}, abs=1e-5)
    drops = mc.lesion_drops(network, planted, base)
    assert drops[0]["task0"] > 0.9 and drops[0]["task1"] == pytest.approx(0.0, abs=1e-6)
    assert drops[1]["task1"] > 0.9 and drops[1]["task0"] == pytest.approx(0.0, abs=1e-6)
    points = mc.lesion_mask_points(network, planted, base)
    assert len(points) == 4
    assert np.corrcoef([p["score_lost"] for p in points], [p["kept"] for p in points])[0, 1] > 0.9


def test_class_masks_hold_what_the_control_keeps_and_removing_the_class_drops():
    torch.manual_seed(0)
    model = mc.MLP(6, [8], 10)
    x, y = torch.randn(400, 6), torch.arange(400) % 10
    masks = mc.class_masks(model, x, y, mc.ClassMaskSettings(mask_steps=60, mask_lr=0.1), seed=0, progress=False)
    assert sorted(masks, key=int) == [str(c) for c in range(10)]
    assert len({tuple(m["layers.0.weight"].flatten().tolist()) for m in masks.values()}) > 1  # not all alike
    for mask in masks.values():
        assert set(mask.names) == {"layers.0.weight", "layers.1.weight"}


def test_a_class_specific_mask_by_hand():
    control = mc.Mask({"w": torch.tensor([[1, 1], [0, 1]])})
    without = {"3": mc.Mask({"w": torch.tensor([[1, 0], [1, 0]])})}
    assert mc.class_specific(control, without)["3"]["w"].tolist() == [[False, True], [False, True]]


@pytest.mark.parametrize("name", ["mnist_mlp", "mnist_mlp_pruned_dropout"])
def test_the_clusterability_chapters_mnist_mlps_are_compared_class_by_class(name, data_root_with_datasets):
    from modularity.experiments import clusterability as cl

    settings = (cl.Settings(hidden=[12, 12], epochs=1, prune_epochs=1, train_subset=600, test_subset=200),
                mc.ClassMaskSettings(mask_steps=30, mask_lr=0.1))
    result = mc.run(name, settings, mc.CompareSettings(n_permutations=10, n_random_sets=5, n_lesion_null=3),
                    seed=0, device=torch.device("cpu"), class_k=3)
    assert result["tasks"] == [str(c) for c in range(10)] and len(result["labels"]) == 4
    assert set(result["task_scores"]) == set(result["tasks"])


def test_the_cifar_chapters_cnn_is_compared_channel_by_channel(data_root_with_datasets):
    from modularity.experiments import cifar

    settings = cifar.Settings("cnn", base_steps=3, mask_steps=2, width=0.125, batch_size=8, mask_batch_size=8)
    result = mc.run("cifar_cnn", (settings, 40), mc.CompareSettings(n_permutations=5, n_random_sets=3, n_lesion_null=2),
                    seed=0, device=torch.device("cpu"), class_k=3)
    assert result["tasks"] == [str(c) for c in range(10)]
    assert [len(layer) for layer in result["labels"]] == [3, 4, 8, 16, 32, 10]  # colour, conv channels, logits
    assert set(result["kept"]["0"]) <= {0, 1, 2}
    per_class = torch.bincount(cifar.load_data("cnn", "cpu").y_eval[:40], minlength=10).numpy()
    scored = np.array([result["task_scores"][str(c)] for c in range(10)]) * per_class  # correct images per class
    assert np.allclose(scored, np.round(scored))  # accuracies over the first 40 evaluation images only
