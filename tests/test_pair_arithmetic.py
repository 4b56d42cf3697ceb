"""Double-addition encodings by hand, the twice-run FNN, the LSTM modes and the copy-weight surgery."""

import torch

from modularity.data import pair_arithmetic as pa
from modularity.experiments import doubleadd
from modularity.models.pairs import PairLSTM, TwicePairMLP, copy_pair2_onto_pair1


def test_encoding_by_hand():
    data = pa.PairSet(torch.tensor([[37, 5]]), torch.tensor([[68, 99]]))
    x, y = data.encode()
    # pair 1: a = 37 → digits 7, 3; b = 68 → 8, 6. pair 2: a = 5 → 5, 0; b = 99 → 9, 9
    expected = [0 + 7, 10 + 3, 20 + 8, 30 + 6, 40 + 5, 50 + 0, 60 + 9, 70 + 9]
    assert torch.nonzero(x[0]).ravel().tolist() == expected
    assert y.tolist() == [[[5, 0], [4, 0]]]  # (37+68) mod 100 = 5; (5+99) mod 100 = 4


def test_only_pair_zeroes_the_other_pair():
    x, _ = pa.PairSet(torch.tensor([[1, 2]]), torch.tensor([[3, 4]])).encode()
    assert pa.only_pair(x, 0)[0, 40:].sum() == 0 and pa.only_pair(x, 0)[0, :40].sum() == 4
    assert pa.only_pair(x, 1)[0, :40].sum() == 0 and pa.only_pair(x, 1)[0, 40:].sum() == 4


def test_pair_loss_and_correctness_by_hand():
    targets = torch.tensor([[[1, 2], [3, 4]]])
    logits = torch.full((1, 2, 2, 10), -10.0)
    for pair, digit, value in [(0, 0, 1), (0, 1, 2), (1, 0, 3), (1, 1, 0)]:
        logits[0, pair, digit, value] = 10
    assert pa.pair_correct(logits.reshape(1, 40), targets).tolist() == [[True, False]]
    assert pa.pair_loss(logits.reshape(1, 40), targets, (0,)) < 1e-6 < pa.pair_loss(logits.reshape(1, 40), targets)


def test_twice_run_fnn_reads_each_pair_from_its_own_run():
    torch.manual_seed(0)
    model = TwicePairMLP([16])
    x, _ = pa.generate(5, 1).encode()
    out = model(x)
    assert torch.allclose(out[:, :20], model.net(pa.only_pair(x, 0))[:, :20])
    assert torch.allclose(out[:, 20:], model.net(pa.only_pair(x, 1))[:, 20:])


def test_copyweight_makes_the_two_pairs_the_same_function():
    torch.manual_seed(0)
    model = TwicePairMLP([16, 8])
    copy_pair2_onto_pair1(model)
    data = pa.generate(50, 2)
    swapped = pa.PairSet(data.a.flip(1), data.b.flip(1))  # pair 1 gets pair 2's operands and vice versa
    out, out_swapped = model(data.encode()[0]), model(swapped.encode()[0])
    assert torch.allclose(out[:, :20], out_swapped[:, 20:], atol=1e-6)
    assert torch.allclose(out[:, 20:], out_swapped[:, :20], atol=1e-6)


def test_lstm_only_one_io_answers_each_pair_from_its_own_half():
    torch.manual_seed(0)
    model = PairLSTM(8, mode="only_one_io")
    data = pa.generate(4, 3)
    changed = pa.PairSet(torch.stack([data.a[:, 0], (data.a[:, 1] + 1) % 100], 1), data.b)
    out, out_changed = model(data.encode()[0]), model(changed.encode()[0])
    assert torch.allclose(out[:, :20], out_changed[:, :20])  # pair 1 is read before pair 2 is seen
    assert not torch.allclose(out[:, 20:], out_changed[:, 20:])


def test_first_full_mask_keeps_the_control_mask_on_io_layers():
    torch.manual_seed(0)
    model = TwicePairMLP([8])
    names = ["net.layers.0.weight", "net.layers.1.weight"]
    assert doubleadd.io_names(model, names) == names
    lstm = PairLSTM(4)
    lstm_names = ["cells.0.weight_ih", "cells.0.weight_hh", "cells.1.weight_ih", "output_projection.weight"]
    assert doubleadd.io_names(lstm, lstm_names) == ["cells.0.weight_ih", "output_projection.weight"]
