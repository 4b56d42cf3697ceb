"""Masks against clusters on planted structure: two disjoint circuits are found by both methods and aligned;
a mask drawn at random is independent of the clusters. Hand-computed unit usage and kept shares."""

import numpy as np
import pytest
import torch

from modularity import alignment, clustering, verdicts
from modularity.mask_algebra import Mask

SIZES = [8, 12, 12, 4]  # inputs, two hidden layers, outputs; two circuits of half of every layer each
NAMES = ["0.weight", "2.weight", "4.weight"]


def planted(seed=0, leak=0.0):
    """Weights (out × in) of two disjoint circuits, and each circuit's mask."""
    rng = np.random.default_rng(seed)
    weights, masks = [], {0: {}, 1: {}}
    for name, n_in, n_out in zip(NAMES, SIZES[:-1], SIZES[1:]):
        module_in, module_out = np.arange(n_in) * 2 // n_in, np.arange(n_out) * 2 // n_out
        same = module_out[:, None] == module_in[None, :]
        weights.append(rng.uniform(0.5, 1.5, (n_out, n_in)) * np.where(same, 1.0, leak))
        for m in (0, 1):
            masks[m][name] = torch.from_numpy(same & (module_out[:, None] == m))
    return weights, Mask(masks[0]), Mask(masks[1])


def test_unit_usage_by_hand():
    mask = Mask({"a": torch.tensor([[1, 0, 0], [0, 0, 0]]), "b": torch.tensor([[0, 0], [0, 0]])})
    usage = alignment.unit_usage(mask, ["a", "b"])
    assert [u.tolist() for u in usage] == [[True, False, False], [True, False], [False, False]]
    with pytest.raises(ValueError, match="does not follow"):
        alignment.unit_usage(Mask({"a": torch.ones(2, 3), "b": torch.ones(2, 5)}), ["a", "b"])


def test_planted_circuits_are_found_by_masks_and_clusters_alike():
    weights, mask_a, mask_b = planted()
    graph = clustering.layered_graph([w.T for w in weights])
    labels, _ = clustering.spectral_clustering(graph, k=2, seed=0)
    per_layer = graph.expand_labels(labels)
    patterns = alignment.usage_patterns([mask_a, mask_b], NAMES)
    result = alignment.usage_alignment(per_layer, patterns, layers=[1, 2], n_permutations=200)
    assert result["ami"] == pytest.approx(1.0) and result["null_mean"] < 0.2 and result["p"] < 0.01
    assert verdicts.alignment_level(result["ami"], result["p"]) == "aligned"

    kept = alignment.kept_by_cluster(mask_a, NAMES, per_layer)
    shares = sorted(v["kept"] for v in kept.values())
    assert shares == [0.0, 1.0]  # all of its own cluster's internal weights, none of the other's
    assert all(v["chance"] == pytest.approx(mask_a.total() / sum(mask_a.sizes().values()), abs=0.1)
               for v in kept.values())

    cut = alignment.mask_ncut(weights, mask_a, NAMES, n_random=50)
    assert cut["cut"] == pytest.approx(0.0, abs=1e-9) and cut["null_mean"] > 0.5 and cut["p"] < 0.05


def test_a_random_mask_is_independent_of_the_clusters():
    weights, mask_a, _ = planted()
    rng = np.random.default_rng(1)
    # sparse enough that some units are used and some not (a denser one uses every unit: nothing to align)
    random_mask = Mask({n: torch.from_numpy(rng.random(mask_a[n].shape) < 0.04) for n in NAMES})
    graph = clustering.layered_graph([w.T for w in weights])
    per_layer = graph.expand_labels(clustering.spectral_clustering(graph, k=2, seed=0)[0])
    patterns = alignment.usage_patterns([random_mask], NAMES)
    assert 0 < np.concatenate(patterns[1:3]).mean() < 1
    result = alignment.usage_alignment(per_layer, patterns, layers=[1, 2], n_permutations=200)
    assert verdicts.alignment_level(result["ami"], result["p"]) == "independent"
    dense = Mask({n: torch.ones_like(mask_a[n]) for n in NAMES})
    result = alignment.usage_alignment(per_layer, alignment.usage_patterns([dense], NAMES), layers=[1, 2])
    assert verdicts.alignment_level(result["ami"], result["p"]) == "not measurable"


def test_usage_alignment_is_undefined_when_every_unit_is_used_alike():
    labels, patterns = [np.array([0, 0, 1, 1])], [np.array([3, 3, 3, 3])]
    assert np.isnan(alignment.usage_alignment(labels, patterns, layers=[0], n_permutations=10)["ami"])


def test_kept_share_and_its_chance_by_hand():
    mask = Mask({"a": torch.tensor([[1, 0], [0, 0]]), "b": torch.tensor([[1, 1], [0, 0]])})
    labels = [np.array([0, 1]), np.array([0, 1]), np.array([0, 0])]
    kept = alignment.kept_by_cluster(mask, ["a", "b"], labels)
    # cluster 0: a[0,0] (kept) and b[0,0], b[1,0] (one kept): 2 of 3; chance (1·0.25 + 2·0.5) / 3
    assert kept[0] == {"kept": 2 / 3, "chance": pytest.approx(1.25 / 3), "n_weights": 3}


def test_subgraph_cut_by_hand():
    weights = [np.array([[1.0, 3.0]]), np.array([[2.0]])]  # 2 inputs → 1 hidden → 1 output
    mask = Mask({"a": torch.tensor([[1, 0]]), "b": torch.tensor([[1]])})
    # the mask uses input 0, the hidden unit and the output: mass at them 1 + 3 + 2, outside the mask 3
    assert alignment.subgraph_cut(weights, mask, ["a", "b"]) == pytest.approx(3 / 6)


def test_rank_correlation_matches_scipy_and_refuses_constant_sides():
    a, b = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5]
    assert alignment.rank_correlation(a, b) == pytest.approx(0.8)  # 1 − 6·Σd²/(n(n²−1)) = 1 − 6·4/120
    assert np.isnan(alignment.rank_correlation([1, 2, 3], [5, 5, 5]))
    assert np.isnan(alignment.rank_correlation([1, 2], [1, 2]))


def test_recovered_modules_by_hand():
    planted = [np.array([0, 0, 1]), np.array([0, 0, 1, 1, 2])]
    found = [np.array([7, 7, 8]), np.array([7, 7, 8, 8, 8])]  # module 1 and 2 merged in the found grouping
    assert alignment.recovered_modules(planted, found, layers=[1]) == [True, False, False]
    assert alignment.recovered_modules(planted, found, layers=[0, 1], threshold=0.6) == [True, True, False]
    with pytest.raises(ValueError, match="same layers"):
        alignment.recovered_modules(planted, [np.array([0])], layers=[0])


def test_random_sets_keep_every_clusters_per_layer_size():
    labels = [np.array([0, 0, 1, 2]), np.array([1, 1, 1, 0, -1])]
    shuffled = alignment.shuffled_within_layers(labels, np.random.default_rng(0))
    assert [sorted(s.tolist()) for s in shuffled] == [sorted(s.tolist()) for s in labels]


@pytest.mark.parametrize("ami, p, level", [(0.5, 0.049, "aligned"), (0.499, 0.049, "partly aligned"),
                                           (0.9, 0.05, "independent"), (float("nan"), 0.01, "not measurable")])
def test_alignment_level_at_its_boundaries(ami, p, level):
    assert verdicts.alignment_level(ami, p) == level


@pytest.mark.parametrize("amis, ps, level", [
    ([0.5, 0.5], [0.049, 0.049], "aligned"),
    ([0.6, 0.399], [0.01, 0.01], "partly aligned"),  # mean 0.4995 < 0.5
    ([0.9, 0.9], [0.01, 0.05], "partly aligned"),  # one seed does not beat its null
    ([0.9, 0.9], [0.05, 0.2], "independent"),
    ([float("nan"), 0.6], [float("nan"), 0.01], "aligned"),  # a seed whose units are all used alike is left out
    ([float("nan")], [float("nan")], "not measurable"),
])
def test_alignment_over_seeds_at_its_boundaries(amis, ps, level):
    assert verdicts.alignment_over_seeds(amis, ps) == level


def test_a_convolution_becomes_a_matrix_between_channels():
    kernel = torch.zeros(2, 3, 2, 2)
    kernel[0, 1] = torch.tensor([[1.0, -2.0], [0.0, 0.5]])
    kernel[1, 2, 1, 1] = -4.0
    assert alignment.unit_matrix(kernel).tolist() == [[0.0, 3.5, 0.0], [0.0, 0.0, 4.0]]
    linear = torch.tensor([[1.0, -2.0]])
    assert alignment.unit_matrix(linear).tolist() == [[1.0, -2.0]]  # a Linear's weights stay as they are
    keeps = torch.zeros(2, 3, 2, 2, dtype=torch.bool)
    keeps[1, 0, 0, 1] = True
    mask = alignment.channel_level(Mask({"conv.weight": keeps, "conv.bias": torch.tensor([True, False])}))
    assert mask["conv.weight"].tolist() == [[False, False, False], [True, False, False]]
    assert mask["conv.bias"].tolist() == [True, False]
