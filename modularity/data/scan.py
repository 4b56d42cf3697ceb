"""SCAN (Lake & Baroni 2018): the grammar and its interpreter (an oracle for the official files), the
official splits, one vocabulary over all of them, and padded tensors for the seq2seq models.

Grammar: C → S | S and S | S after S; S → V | V twice | V thrice; V → u | x dir | x opposite dir |
x around dir, with u ∈ {walk, look, run, jump}, x ∈ u ∪ {turn}, dir ∈ {left, right}. It generates exactly
the 20,910 commands of ``tasks.txt``. The length, add-jump and add-turn-left splits follow from rules (the
data README gives them); the simple split is random and comes from the official files.
"""

from __future__ import annotations

import itertools
import tarfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from modularity.data import registry
from modularity.data.root import DataError, dataset_dir, verify
from modularity.data.sequences import SeqSet, lengths, pad

ACTIONS = ("I_TURN_LEFT", "I_TURN_RIGHT", "I_JUMP", "I_WALK", "I_RUN", "I_LOOK")
WORDS = ("walk", "look", "run", "jump", "turn", "left", "right", "opposite", "around", "twice", "thrice", "and",
         "after")
PRIMITIVES = ("walk", "look", "run", "jump")
SPLITS = {  # split → (train file, test file) inside the official archive
    "simple": ("simple_split/tasks_train_simple.txt", "simple_split/tasks_test_simple.txt"),
    "length": ("length_split/tasks_train_length.txt", "length_split/tasks_test_length.txt"),
    "jump": ("add_prim_split/tasks_train_addprim_jump.txt", "add_prim_split/tasks_test_addprim_jump.txt"),
    "turn_left": ("add_prim_split/tasks_train_addprim_turn_left.txt",
                  "add_prim_split/tasks_test_addprim_turn_left.txt"),
}

Example = tuple[str, str]  # (command, actions), words separated by single spaces


# --- the grammar and its meaning ---------------------------------------------------------------------------

def verb_phrases() -> list[str]:
    phrases = list(PRIMITIVES)
    for x in (*PRIMITIVES, "turn"):
        for direction in ("left", "right"):
            phrases += [f"{x} {direction}", f"{x} opposite {direction}", f"{x} around {direction}"]
    return phrases


def all_commands() -> list[str]:
    """Every command the grammar generates (20,910)."""
    sentences = [f"{v}{r}" for v in verb_phrases() for r in ("", " twice", " thrice")]
    return sentences + [f"{a} {joint} {b}" for joint in ("and", "after") for a, b in
                        itertools.product(sentences, repeat=2)]


def interpret(command: str) -> str:
    """The action sequence a command denotes."""
    return " ".join(_meaning(command.split()))


def _meaning(words: list[str]) -> list[str]:
    for joint in ("and", "after"):
        if joint in words:
            i = words.index(joint)
            first, second = _meaning(words[:i]), _meaning(words[i + 1:])
            return first + second if joint == "and" else second + first
    if words[-1] in ("twice", "thrice"):
        return _meaning(words[:-1]) * (2 if words[-1] == "twice" else 3)
    action = [] if words[0] == "turn" else [f"I_{words[0].upper()}"]
    if len(words) == 1:
        return action
    turn = f"I_TURN_{words[-1].upper()}"
    if len(words) == 2:
        return [turn, *action]
    if words[1] == "opposite":
        return [turn, turn, *action]
    if words[1] == "around":
        return [turn, *action] * 4
    raise ValueError(f"not a SCAN command: {' '.join(words)!r}")


def rule_splits() -> dict[str, tuple[list[Example], list[Example]]]:
    """The length, add-jump and add-turn-left splits from their rules (as multisets of the official files)."""
    examples = [(c, interpret(c)) for c in all_commands()]
    length = ([e for e in examples if len(e[1].split()) <= 22], [e for e in examples if len(e[1].split()) >= 24])

    def add_primitive(contains, primitive: str):
        test = [e for e in examples if contains(e[0]) and e[0] != primitive]
        rest = [e for e in examples if not contains(e[0])]
        bare = (primitive, interpret(primitive))
        copies = round(len(rest) / 0.9 * 0.1)  # bare primitive repeated until it is 10% of train
        return rest + [bare] * copies, test

    jump = add_primitive(lambda c: "jump" in c.split(), "jump")
    turn_left = add_primitive(lambda c: "turn left" in c, "turn left")
    return {"length": length, "jump": jump, "turn_left": turn_left}


# --- the official files ------------------------------------------------------------------------------------

def parse_lines(lines) -> list[Example]:
    examples = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        if not line.startswith("IN: ") or " OUT: " not in line:
            raise DataError(f"line {number} is not 'IN: … OUT: …': {line[:60]!r}")
        command, actions = line[4:].split(" OUT: ", 1)
        examples.append((command.strip(), actions.strip()))
    return examples


def _archive() -> Path:
    folder = dataset_dir("scan")
    checksums = verify("scan", folder)
    registry.record("scan", "official files (brendenlake/SCAN)", checksums)
    return folder / "scan_official_splits.tar.gz"


def load_split(name: str) -> tuple[list[Example], list[Example]]:
    """``(train, test)`` examples of an official split: simple, length, jump or turn_left."""
    if name not in SPLITS:
        raise DataError(f"unknown SCAN split {name!r}; known: {sorted(SPLITS)}")
    with tarfile.open(_archive(), "r:gz") as tar:
        members = {m.name.lstrip("./"): m for m in tar.getmembers()}
        parts = []
        for file in SPLITS[name]:
            member = next((m for path, m in members.items() if path.endswith(file)), None)
            if member is None:
                raise DataError(f"the SCAN archive lacks {file}; prepare the data root again")
            parts.append(parse_lines(tar.extractfile(member).read().decode().splitlines()))
    return parts[0], parts[1]


def as_multiset(examples: list[Example]) -> Counter:
    return Counter(examples)


# --- vocabularies and tensors ------------------------------------------------------------------------------

@dataclass
class Vocab:
    """Word and action indices; index ``len(words)`` is the encoder's EOS, ``len(actions)`` the decoder's
    SOS and EOS."""

    words: tuple[str, ...] = WORDS
    actions: tuple[str, ...] = ACTIONS

    @property
    def src_eos(self) -> int:
        return len(self.words)

    @property
    def tgt_eos(self) -> int:
        return len(self.actions)

    def encode(self, examples: list[Example]) -> "SeqSet":
        """Padded tensors: commands + EOS, actions + EOS, and their lengths (EOS included)."""
        word_index = {w: i for i, w in enumerate(self.words)}
        action_index = {a: i for i, a in enumerate(self.actions)}
        try:
            src = [[word_index[w] for w in c.split()] + [self.src_eos] for c, _ in examples]
            tgt = [[action_index[a] for a in o.split()] + [self.tgt_eos] for _, o in examples]
        except KeyError as error:
            raise DataError(f"token {error} is not in the SCAN vocabulary") from None
        return SeqSet(pad(src, self.src_eos), lengths(src), pad(tgt, self.tgt_eos), lengths(tgt))
