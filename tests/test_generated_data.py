"""The generated datasets of Filan et al. and the clusterable initialisation, against hand computations."""

import numpy as np
import pytest
import torch
from torch import nn

from modularity.clusterable_init import clusterable_init_
from modularity.data import generated
from modularity.data.images import ImageSet


def test_lines_have_label_plus_one_distinct_full_height_lines():
    data = generated.lines(300, 50)
    assert data.x_train.shape == (300, 1, 28, 28) and data.x_test.shape == (50, 1, 28, 28)
    assert set(data.y_train.unique().tolist()) == set(range(10))
    for image, label in zip(data.x_train[:, 0], data.y_train):
        lit = (image == 255).all(dim=0)  # full-height columns
        assert int(lit.sum()) == int(label) + 1
        assert set(image.unique().tolist()) <= {0, 255} and ((image == 255).any(dim=0) == lit).all()


def test_poly_targets_by_hand():
    x = np.array([[2.0, 3.0]])
    targets = generated.poly_targets(x)
    assert targets.shape == (1, 512)
    # coefficient vector j = 0b000000001 selects the last monomial, x1² x2² = 36; all ones: Σ of all nine
    monomials = [2.0 ** a * 3.0 ** b for a, b in generated.POLY_MONOMIALS]
    assert targets[0, 1] == monomials[-1] == 36.0
    assert targets[0, 511] == sum(monomials) and targets[0, 0] == 0
    data = generated.poly(100, 20)
    assert data.x_train.shape == (100, 2) and data.y_test.shape == (20, 512)
    expected = generated.poly_targets(data.x_train.double().numpy())
    torch.testing.assert_close(data.y_train, torch.from_numpy(expected).float())


def fake_mnist(n=200):
    rng = np.random.RandomState(0)
    x = torch.from_numpy(rng.randint(0, 256, (n, 1, 28, 28)).astype(np.uint8))
    y = torch.arange(n) % 10
    return ImageSet(x, y, x[:50], y[:50], "fake")


@pytest.mark.parametrize("same", [True, False])
def test_halves_put_two_shrunk_images_side_by_side(same):
    base = fake_mnist()
    data = generated.halves(base, same=same, seed=1)
    assert data.x_train.shape == (200, 1, 28, 28) and data.x_test.shape == (50, 1, 28, 28)
    shrunk = base.x_train.float().reshape(200, 1, 28, 14, 2).mean(-1).round().to(torch.uint8)
    for image, label in zip(data.x_train[:20], data.y_train[:20]):
        left = [i for i in range(200) if torch.equal(shrunk[i], image[..., :14])]
        right = [i for i in range(200) if torch.equal(shrunk[i], image[..., 14:])]
        assert left and right
        y_left, y_right = int(base.y_train[left[0]]), int(base.y_train[right[0]])
        if same:
            assert y_left == y_right == int(label)
        else:
            assert int(label) == (y_left + y_right) % 10


@pytest.mark.parametrize("make", [generated.lines, generated.random_images, generated.poly])
def test_generated_data_depends_on_the_seed_alone(make):
    a, b, c = make(50, 10, seed=3), make(50, 10, seed=3), make(50, 10, seed=4)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)


def test_random_images_have_nothing_to_learn():
    data = generated.random_images(5000, 10)
    assert abs(data.x_train.float().mean().item() - 127.5) < 1 and set(data.y_train.unique().tolist()) == set(range(10))


def test_clusterable_init_scales_within_and_between_modules():
    torch.manual_seed(0)
    layers = [nn.Linear(6, 8), nn.Linear(8, 8), nn.Linear(8, 10)]
    before = [layer.weight.detach().clone() for layer in layers]
    modules = clusterable_init_(layers, n_modules=10, down=0.6)
    assert torch.equal(layers[0].weight, before[0])  # the first layer is left alone
    assert torch.equal(modules[-1], torch.arange(10))  # output unit c is in module c
    for index in (1, 2):
        same = modules[index + 1][:, None] == modules[index][None, :]
        ratio = layers[index].weight / before[index]
        torch.testing.assert_close(ratio[same], torch.full_like(ratio[same], 4.6))
        torch.testing.assert_close(ratio[~same], torch.full_like(ratio[~same], 0.6))


def test_clusterable_init_of_conv_channels():
    convs = [nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 3)]
    before = convs[1].weight.detach().clone()
    modules = clusterable_init_(convs, down=0.8, last_is_output=False)
    same = modules[2][:, None] == modules[1][None, :]
    ratio = (convs[1].weight / before).flatten(2)
    assert torch.allclose(ratio[same], torch.tensor(2.8)) and torch.allclose(ratio[~same], torch.tensor(0.8))
    with pytest.raises(ValueError, match="0 < down"):
        clusterable_init_(convs, down=0)


def test_the_clusterability_factors_of_p1b():
    from modularity.experiments import networks as cl

    assert cl.regulariser_of("pruned") == "none" and cl.regulariser_of("pruned_l2") == "l2"
    assert cl.regulariser_of("halves_diff") == "halves_diff"
    with pytest.raises(ValueError, match="unknown setting 'l3'"):
        cl.regulariser_of("l3")
    # L2 with the authors' quirk: the first kernel keeps an L1 term
    weights = [torch.tensor([[1.0, -2.0]]), torch.tensor([[3.0]])]
    assert cl.l2_penalty(weights, 0.5).item() == pytest.approx(0.5 * 3 + 0.5 * 9)
    settings = cl.Settings(hidden=[16, 16])
    torch.manual_seed(4)
    plain = cl.build("mlp", "mnist", settings, "none", seed=4)
    torch.manual_seed(4)
    planted = cl.build("mlp", "mnist", settings, "clusterable_init", seed=4)
    assert torch.equal(plain.layers[0].weight, planted.layers[0].weight)
    ratios = (planted.layers[1].weight / plain.layers[1].weight).round(decimals=4).unique()
    torch.testing.assert_close(ratios.sort().values, torch.tensor([0.6, 4.6]))


def test_halves_and_generated_datasets_feed_the_clusterability_experiment(data_root_with_datasets):
    from modularity.experiments import clusterability as cl

    x_train, y_train, x_test, y_test = cl.data_for("mnist", "halves_diff", 500, 100, "cpu")
    assert x_train.shape == (500, 1, 28, 28) and y_test.shape == (100,) and float(x_train.max()) <= 1.0
    x_train, y_train, _, _ = cl.load_dataset("lines", 300, 50, "cpu")
    assert set(y_train.unique().tolist()) <= set(range(10)) and x_train.shape == (300, 1, 28, 28)


def test_poly_and_small_mnist_networks_train_and_report_what_applies(data_root_with_datasets):
    from modularity.experiments import clusterability as cl

    settings = cl.Settings(hidden=[8, 8], epochs=1, prune_epochs=1, train_subset=256, test_subset=64, ks=[3],
                           n_shuffles=2)
    poly = cl.load_dataset("poly", 256, 64, "cpu")
    assert poly[0].shape == (256, 2) and poly[1].shape == (256, 512)
    with pytest.warns(Warning):  # two shuffles: 'below every shuffle' is no 5% test
        out = cl.run_network("mlp", "poly", "l2", 0, settings, poly, "cpu")
    assert np.isnan(out["unpruned"]["test_acc"]) and out["pruned"]["test_mse"] > 0
    small = cl.load_dataset("mnist_7x7", 256, 64, "cpu")
    assert small[0].shape == (256, 1, 7, 7) and float(small[0].max()) <= 1.0
    model = cl.build("mlp", "mnist_7x7", settings, "cluster_grad")
    assert model.layers[0].in_features == 49
    with pytest.warns(Warning):
        out = cl.run_network("mlp", "mnist_7x7", "cluster_grad", 0, settings, small, "cpu")
    assert 0 <= out["pruned"]["test_acc"] <= 1 and "test_mse" not in out["pruned"]
    assert out["pruned"]["sparsity"] > 0.85  # pruned to 90% while the units were rebalanced every step


def test_a_network_measures_only_the_stages_its_settings_show(data_root_with_datasets):
    from modularity.cache import SeedStore
    from modularity.experiments import clusterability as cl
    from modularity.experiments import networks

    assert cl.stages_for("none", ["plain", "pruned", "dropout"]) == ("unpruned", "pruned")
    assert cl.stages_for("none", ["pruned", "pruned_dropout"]) == ("pruned",)  # P1's settings
    assert cl.stages_for("dropout", ["plain", "dropout", "pruned"]) == ("unpruned",)
    settings = cl.Settings(hidden=[8, 8], epochs=1, prune_epochs=1, train_subset=256, test_subset=64, ks=[3],
                           n_shuffles=2)
    data = cl.load_dataset("mnist", 256, 64, "cpu")
    with pytest.warns(Warning):  # two shuffles
        trained_only = cl.run_network("mlp", "mnist", "l1", 0, settings, data, "cpu", stages=("unpruned",))
        pruned_only = cl.run_network("mlp", "mnist", "l2", 0, settings, data, "cpu", stages=("pruned",))
    assert set(trained_only) == {"unpruned"} and set(pruned_only) == {"pruned"}
    store = SeedStore("clusterability_mlp", {"kind": "mlp", "dataset": "mnist", "regulariser": "l1", **{
        k: v for k, v in vars(settings).items() if k not in networks.MEASUREMENT_FIELDS}}, 0, scope=networks.__name__)
    assert store.load("base") is not None and store.load("pruned") is None  # never pruned: no one asked


def test_each_dataset_runs_the_factors_p1b_trains_on_it():
    from modularity.experiments import clusterability as cl

    assert cl.applies("mnist", "halves_diff") and not cl.applies("cifar10_gray", "halves_same")
    assert cl.applies("mnist_7x7", "cluster_grad") and cl.applies("mnist_7x7", "none")
    assert not cl.applies("mnist", "cluster_grad") and not cl.applies("mnist_7x7", "l1")
    assert cl.applies("poly", "l2") and not cl.applies("poly", "dropout") and cl.applies("lines", "none")
    # the authors' scripts: POLY plain, L1, L2 only; LINES and RANDOM plain (P1's controls); greyscale CIFAR-10 P1's two
    assert not cl.applies("poly", "clusterable_init") and not cl.applies("lines", "dropout")
    assert [r for r in ("none", "dropout", "l1", "l2", "clusterable_init") if cl.applies("random", r)] == ["none"]
    assert cl.applies("cifar10_gray", "dropout") and not cl.applies("cifar10_gray", "l1")
    assert all(cl.applies(d, r) for d in ("mnist", "fashion_mnist")
               for r in ("none", "dropout", "l1", "l2", "clusterable_init", "halves_same", "halves_diff"))
    assert cl.applies("cifar10", "l2", kind="cnn") and not cl.applies("cifar10", "none")  # colour: CNN only
    assert not cl.applies("mnist", "halves_diff", kind="cnn") and not cl.applies("cifar10_gray", "none", kind="cnn")
    colour = cl.build("cnn", "cifar10", cl.Settings(), "none")
    assert colour.conv1.in_channels == 3 and colour.dense.in_features == 64 * 8 * 8


def test_the_cifar_vgg_trains_prunes_and_is_clustered_by_its_channels(data_root):
    from modularity.experiments import clusterability as cl

    assert cl.applies("cifar10", "dropout_l2", kind="vgg") and not cl.applies("mnist", "none", kind="vgg")
    assert not cl.applies("mnist", "dropout_l2") and not cl.applies("cifar10", "dropout_l2", kind="cnn")
    assert cl.regulariser_of("pruned_dropout_l2") == "dropout_l2"
    settings = cl.VGGSettings(width=0.0625, epochs=1, prune_epochs=1, batch_size=16, ks=[3], n_shuffles=2)
    assert settings.l1 == 5e-4 and settings.augment  # P1b's VGG: rate 5e-4, augmented images
    torch.manual_seed(0)
    x, y = torch.rand(48, 3, 32, 32), torch.randint(0, 10, (48,))
    with pytest.warns(Warning):  # two shuffles
        out = cl.run_network("vgg", "cifar10", "dropout_l2", 0, settings, (x, y, x[:16], y[:16]), "cpu")
    assert out["pruned"]["sparsity"] > 0.85 and 0 <= out["unpruned"]["test_acc"] <= 1
    model = cl.build("vgg", "cifar10", settings, "clusterable_init", seed=0)
    graph = cl.graph_of(model, "vgg")
    assert sum(graph.layer_sizes) == sum(m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d))
