"""P1's lesion analysis on a planted network: one block of units carries the task through both hidden layers,
another block is read by nothing. Spectral clustering must find the two blocks; the carrying block's
sub-clusters must be *important* and depend on each other, the unread block's *prunable* and independent."""

import numpy as np
import torch

from modularity import verdicts
from modularity.experiments import p1_lesions
from modularity.models.mlp import MLP


def planted_blocks() -> tuple[MLP, torch.Tensor, torch.Tensor]:
    """Units 0-15 of both hidden layers carry x0's sign, each unit one copy of relu(±x0); units 16-31 carry x1
    and feed nothing. Class 1 wins when the kept '+' copies outweigh class 2's constant logit, class 0 likewise
    with the '−' copies, so every lesioned copy costs a little accuracy and losing the block costs it all."""
    model = MLP(4, [32, 32], 10)
    sign = torch.tensor([1.0, -1.0] * 8)
    with torch.no_grad():
        for layer in model.layers:
            layer.weight.zero_()
            layer.bias.zero_()
        model.layers[0].weight[:16, 0] = sign
        model.layers[0].weight[16:, 1] = 1.0
        model.layers[1].weight[:16, :16] = torch.outer(sign, sign) / 8
        model.layers[1].weight[16:, 16:] = 1 / 16
        model.layers[2].weight[1, 0:16:2] = 1.0
        model.layers[2].weight[0, 1:16:2] = 1.0
        model.layers[2].bias[2] = 1.0  # a class no example has: the bar the '+' or '−' copies must clear
    x = torch.randn(2000, 4, generator=torch.Generator().manual_seed(0))
    return model.eval(), x, (x[:, 0] > 0).long()


def test_the_carrying_block_is_important_and_dependent_and_the_unread_block_is_neither():
    model, x, y = planted_blocks()
    settings = p1_lesions.LesionSettings(k=2, n_single=40, n_double=20, test_subset=0)
    result = p1_lesions.analyse(model, x, y, settings, seed=0)
    by_block = {}
    for record in result["singles"]:
        units = np.flatnonzero(p1_lesions.importance.weight_partition(model, 2, local=False)[record["layer"] - 1]
                               == record["label"])
        by_block[("carrying" if units.max() < 16 else "unread", record["layer"])] = record
        assert record["size"] == 16 and record["layer_units"] == 32
    category = {key: verdicts.lesion_category(r["size"], r["layer_units"], r["drop"], r["p"], r["n_random"])
                for key, r in by_block.items()}
    assert category == {("carrying", 1): "important", ("carrying", 2): "important",
                        ("unread", 1): "prunable", ("unread", 2): "prunable"}
    index = {("carrying" if by_block[("carrying", layer)]["label"] == label else "unread", layer): i
             for i, (layer, label) in enumerate(result["paired"])}
    carrying = index[("carrying", 1)], index[("carrying", 2)]
    unread = index[("unread", 1)], index[("unread", 2)]
    assert result["departs"][carrying] and result["departs"][carrying[::-1]]
    assert not result["departs"][unread] and not result["departs"][unread[::-1]]
    assert not any(layer._forward_hooks for layer in model.layers)  # every lesion was undone


def test_pairs_leave_out_small_sub_clusters_and_whole_layers():
    assert p1_lesions.LesionSettings().min_pair_units == verdicts.SMALL_SUB_CLUSTER + 1
    model, x, y = planted_blocks()
    result = p1_lesions.analyse(model, x, y, p1_lesions.LesionSettings(k=2, n_single=5, n_double=3,
                                                                         min_pair_units=17), seed=0)
    assert result["paired"] == [] and np.isnan(result["frac_dependent"])


def test_dependence_is_split_by_how_many_of_the_pair_are_important_alone():
    result = {"paired": [(1, 0), (1, 1), (2, 0)],
              "departs": np.array([[False, True, True], [True, False, False], [False, False, False]])}
    split = p1_lesions.dependence_by_importance(result, important={(1, 0)})
    # pairs with (1, 0): (0,1) T, (0,2) T, (1,0) T, (2,0) F → 3/4; without: (1,2) F, (2,1) F → 0/2
    assert split["frac_dependent_1_important"] == 0.75 and split["frac_dependent_0_important"] == 0.0
    assert split["n_pairs_1_important"] == 4 and split["n_pairs_0_important"] == 2
    assert np.isnan(split["frac_dependent_2_important"]) and split["n_pairs_2_important"] == 0
