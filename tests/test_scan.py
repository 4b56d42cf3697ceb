"""SCAN: the grammar oracle against the official files, vocabularies, exact match and the summed loss."""

from collections import Counter

import pytest
import torch

from modularity.data import scan
from modularity.data.root import DataError
from modularity.models.seq2seq import exact_match, sequence_loss


def test_interpreter_by_hand():
    assert scan.interpret("jump") == "I_JUMP"
    assert scan.interpret("turn left") == "I_TURN_LEFT"
    assert scan.interpret("walk opposite right") == "I_TURN_RIGHT I_TURN_RIGHT I_WALK"
    assert scan.interpret("look around left twice") == " ".join(["I_TURN_LEFT I_LOOK"] * 8)
    assert scan.interpret("run after jump thrice") == "I_JUMP I_JUMP I_JUMP I_RUN"
    assert scan.interpret("turn opposite left and walk") == "I_TURN_LEFT I_TURN_LEFT I_WALK"


def test_the_grammar_regenerates_every_command_and_the_rule_splits(data_root_with_datasets):
    commands = scan.all_commands()
    assert len(commands) == len(set(commands)) == 20_910
    train, test = scan.load_split("simple")  # the random split: together, every command once
    assert Counter((c, scan.interpret(c)) for c in commands) == Counter(train + test)
    for name, (rule_train, rule_test) in scan.rule_splits().items():
        official_train, official_test = scan.load_split(name)
        assert Counter(rule_train) == Counter(official_train), name
        assert Counter(rule_test) == Counter(official_test), name
    assert [len(p) for p in scan.load_split("jump")] == [14_670, 7_706]


def test_bad_lines_and_unknown_splits_are_refused(data_root_with_datasets):
    with pytest.raises(DataError, match="line 1"):
        scan.parse_lines(["jump OUT: I_JUMP"])
    with pytest.raises(DataError, match="unknown SCAN split"):
        scan.load_split("around_right")


def test_encoding_appends_eos_and_pads():
    seqs = scan.Vocab().encode([("jump twice", "I_JUMP I_JUMP"), ("walk", "I_WALK")])
    eos_in, eos_out = len(scan.WORDS), len(scan.ACTIONS)
    assert seqs.src.tolist() == [[3, 9, eos_in], [0, eos_in, eos_in]]
    assert seqs.src_len.tolist() == [3, 2] and seqs.tgt_len.tolist() == [3, 2]
    assert seqs.tgt.tolist() == [[2, 2, eos_out], [3, eos_out, eos_out]]
    trimmed = seqs.batch(torch.tensor([1]))
    assert trimmed.src.tolist() == [[0, eos_in]] and trimmed.tgt.tolist() == [[3, eos_out]]


def test_exact_match_needs_every_token_and_the_right_length():
    eos = 6
    tgt = torch.tensor([[2, 2, eos], [3, eos, eos]])
    tgt_len = torch.tensor([3, 2])
    right = torch.tensor([[2, 2, eos, 0], [3, eos, 1, 1]])  # anything after the EOS is ignored
    assert exact_match(right, tgt, tgt_len).tolist() == [True, True]
    too_long = torch.tensor([[2, 2, 2, eos], [3, 3, eos, eos]])  # no EOS where the reference ends
    assert exact_match(too_long, tgt, tgt_len).tolist() == [False, False]
    assert exact_match(torch.tensor([[2, 2], [3, eos]]), tgt, tgt_len).tolist() == [False, False]  # too few steps


def test_sequence_loss_sums_over_positions_and_averages_over_sequences():
    logits = torch.zeros(2, 3, 4)  # uniform: each counted position costs log 4
    tgt = torch.tensor([[1, 2, 3], [1, 3, 3]])
    loss = sequence_loss(logits, tgt, torch.tensor([3, 2]))
    assert loss.item() == pytest.approx((3 + 2) * torch.log(torch.tensor(4.0)).item() / 2)


def test_length_buckets_keep_every_sequence_equally_likely_and_batches_short():
    from modularity.data.sequences import SeqSet
    from modularity.experiments import sequences

    n = 60
    lengths = torch.arange(1, n + 1)
    data = SeqSet(torch.zeros(n, 2, dtype=torch.long), torch.full((n,), 2), torch.zeros(n, n, dtype=torch.long),
                  lengths)
    draw = sequences.batches(data, 6, seed=0, n_buckets=3)
    seen = torch.zeros(n)
    for step in range(3000):
        _, (tgt, tgt_len) = draw(step)
        assert tgt_len.max() - tgt_len.min() < n // 3  # one bucket per batch
        assert tgt.shape[1] == int(tgt_len.max())  # padded only to the batch's longest sequence
        seen.index_add_(0, tgt_len - 1, torch.ones(len(tgt_len)))
    expected = 3000 * 6 / n
    assert (seen - expected).abs().max() < 0.35 * expected
    assert draw(5)[1][1].tolist() == sequences.batches(data, 6, seed=0, n_buckets=3)(5)[1][1].tolist()


def test_a_test_subset_is_a_seeded_random_sample_not_the_files_first_lines():
    import torch

    from modularity.data.sequences import SeqSet

    n = 100
    lengths = torch.ones(n, dtype=torch.long)
    data = SeqSet(torch.arange(n)[:, None], lengths, torch.arange(n)[:, None], lengths)
    sample = data.subset(10)
    picked = sample.src[:, 0].tolist()
    assert len(picked) == 10 and picked == sorted(picked) and picked != list(range(10))
    assert data.subset(10).src.tolist() == sample.src.tolist() and data.subset(0) is data
