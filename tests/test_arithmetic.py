"""The add/mul data against hand-encoded examples."""

import torch

from modularity.data import arithmetic as ar


def test_encoding_of_one_problem_by_hand():
    data = ar.ArithmeticSet(torch.tensor([57, 57]), torch.tensor([38, 38]), torch.tensor([0, 1]))
    x, y = data.encode()
    expected = torch.zeros(2, 42)
    for row in (0, 1):
        for slot, digit in enumerate([7, 5, 8, 3]):  # little-endian: a₀ a₁ b₀ b₁
            expected[row, 10 * slot + digit] = 1
    expected[0, 40] = expected[1, 41] = 1
    assert torch.equal(x, expected)
    assert y.tolist() == [[5, 9], [6, 6]]  # 57+38 = 95; 57·38 = 2166 ≡ 66


def test_generated_sets_are_fixed_and_balanced():
    a = ar.generate(10_000, ar.VALID_SEED)
    b = ar.valid_set()
    assert a.checksum() == b.checksum()
    assert a.a.min() >= 0 and a.a.max() <= 99
    assert 0.45 < a.op.float().mean() < 0.55
    assert set(a.only("add").op.tolist()) == {0}


def test_predictions_decode_little_endian_digits():
    logits = torch.zeros(1, 20)
    logits[0, 3] = logits[0, 10 + 4] = 5.0
    assert ar.predictions(logits).tolist() == [43]


def test_results_per_op():
    data = ar.ArithmeticSet(torch.tensor([99]), torch.tensor([99]), torch.tensor([1]))
    assert data.results(0).tolist() == [98] and data.results(1).tolist() == [1]
