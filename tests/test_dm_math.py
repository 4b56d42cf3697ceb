"""Mathematics data: the generator is deterministic, the v1.0 reader and the de-duplicated hold-out split."""

import os
import subprocess
import sys

import pytest

from modularity.data import dm_math
from modularity.data.root import DataError


def shard(module, regime, n, seed):
    command = [sys.executable, "-m", "modularity.data.dm_math", module, regime, str(n), str(seed)]
    return subprocess.run(command, env=dict(os.environ, PYTHONHASHSEED="0"), capture_output=True, text=True,
                          check=True).stdout


def test_generator_is_deterministic_and_seed_dependent():
    first = shard("arithmetic__add_or_sub", "train-hard", 5, 7)
    assert first == shard("arithmetic__add_or_sub", "train-hard", 5, 7)
    assert first != shard("arithmetic__add_or_sub", "train-hard", 5, 8)
    lines = first.splitlines()
    assert len(lines) == 10 and all(lines[1::2])  # alternating questions and answers


def test_polynomial_modules_generate_on_numpy_2():
    """collect and differentiate use ndarray.itemset, gone in numpy 2: the import shim rewrites it."""
    assert len(shard("polynomials__collect", "train-easy", 2, 1).splitlines()) == 4


def write_v1(folder, module, regimes):
    for regime, pairs in regimes.items():
        (folder / regime).mkdir(parents=True, exist_ok=True)
        (folder / regime / f"{module}.txt").write_text("".join(f"{q}\n{a}\n" for q, a in pairs))


def test_v1_reader_deduplicates_in_order_and_holds_out_per_difficulty(tmp_path):
    module = "comparison__sort"
    write_v1(tmp_path, module, {
        "train-easy": [(f"e{i}", "1") for i in range(10)] + [("dup", "easy")],
        "train-medium": [(f"m{i}", "2") for i in range(10)] + [("dup", "medium")],
        "train-hard": [(f"h{i}", "3") for i in range(10)],
        "interpolate": [("e0", "x"), ("new", "4")],
    })
    splits = dm_math.split(dm_math.read_v1(tmp_path, module), holdout=4)
    assert len(splits["test_easy"]) == 4 and len(splits["train_easy"]) == 7  # 11 unique easy questions
    assert len(splits["train_medium"]) + len(splits["test_medium"]) == 10  # "dup" kept where it came first
    assert ("dup", "easy") in splits["train_easy"] + splits["test_easy"]
    assert splits["interpolate"] == [("new", "4")]  # e0 appeared earlier
    assert not set(splits["test_hard"]) & set(splits["train_hard"])
    again = dm_math.split(dm_math.read_v1(tmp_path, module), holdout=4)
    assert again == splits  # RandomState(1234): the same hold-out every time


def test_broken_files_are_refused(tmp_path):
    (tmp_path / "train-easy").mkdir()
    (tmp_path / "train-easy" / "comparison__sort.txt").write_text("question without answer\n")
    with pytest.raises(DataError, match="odd number of lines"):
        dm_math.read_v1(tmp_path, "comparison__sort")
    with pytest.raises(DataError, match="no training files"):
        dm_math.read_v1(tmp_path, "algebra__linear_1d")


def test_character_vocabulary_round_trip():
    vocab = dm_math.CharVocab.of(["ab", "b1"])
    seqs = vocab.encode([("ab", "1")])
    assert len(vocab) == 3 + 3 and seqs.src.tolist() == [[4, 5, 2]] and seqs.tgt.tolist() == [[3, 2]]
