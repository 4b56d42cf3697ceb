"""SCAN (Lake & Baroni 2018): the grammar and its interpreter (an oracle for the official files), the
official splits, one vocabulary over all of them, and padded tensors for the seq2seq models.

Grammar: C → S | S and S | S after S; S → V | V twice | V thrice; V → u | x dir | x opposite dir |
x around dir, with u ∈ {walk, look, run, jump}, x ∈ u ∪ {turn}, dir ∈ {left, right}. It generates exactly
the 20,910 commands of ``tasks.txt``. The length, add-jump and add-turn-left splits follow from rules (the
data README gives them); the simple split is random and comes from the official files.
"""

from __future__ import annotations

import hashlib
import itertools
import tarfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from modularity.data import registry
from modularity.data.root import DataError, data_root, dataset_dir, verify
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

ARCHIVE = "scan_official_splits.tar.gz"
REPOSITORY = "https://raw.githubusercontent.com/brendenlake/SCAN/master/"  # where `data download` fetches from
OFFICIAL_FILES = {  # file of the official repository → sha256 (of the files the offline archive holds)
    "tasks.txt": "d824c7d9e9149ba497e25f701981dac79954e04bf670d22e5c209f076ac6c89f",
    "simple_split/tasks_train_simple.txt": "941bb8a088c5f53ceff12fde902dc008933cf0c4203cc672c47b5f79d73262dd",
    "simple_split/tasks_test_simple.txt": "1fe1c8f5a19d0dc40e41bab94278f45f66f3dc415a978bd29855a23440610fc6",
    "length_split/tasks_train_length.txt": "b034212dc7cf87ce62f3a067dd6ad49c4d5cd18d51d615d13825516bcb1ebbc2",
    "length_split/tasks_test_length.txt": "0760752ed34a75116ae11dcc1ee17526b7500060da1366540730fa24894d7db3",
    "add_prim_split/tasks_train_addprim_jump.txt": "e3c78485692e028eed4205e1b8b3fd0e785ef2c12d45b5b89204dadf5b239e23",
    "add_prim_split/tasks_test_addprim_jump.txt": "8147ae2651422c701162e174d9d66158daa57858a26b30317ac61797118ac7a5",
    "add_prim_split/tasks_train_addprim_turn_left.txt":
        "1b3fed86055dd7689d217f1b90cc8960aeb1cf200f4f209dc47935761b05304c",
    "add_prim_split/tasks_test_addprim_turn_left.txt":
        "15a82c2d25ac7c3c1fff7e18051fb085974ef3617de895c520d02144396a10e2",
}


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
    return folder / ARCHIVE


def _downloaded_files(files: tuple[str, ...]) -> list[str] | None:
    """The split files as ``data download`` leaves them (``<root>/scan/<path>``), verified; None when the data
    root holds the archive instead, or not every file."""
    folder = data_root() / "scan"
    if (folder / ARCHIVE).exists() or not all((folder / f).exists() for f in files):
        return None
    texts, checksums = [], {}
    for file in files:
        content = (folder / file).read_bytes()  # read once: hashed, then parsed
        checksums[file] = hashlib.sha256(content).hexdigest()
        if checksums[file] != OFFICIAL_FILES[file]:
            raise DataError(f"{folder / file} is not the official file (sha256 {checksums[file][:12]}… ≠ "
                            f"{OFFICIAL_FILES[file][:12]}…): run `python -m modularity data download scan` again")
        texts.append(content.decode())
    registry.record("scan", "official files (brendenlake/SCAN), downloaded", checksums)
    return texts


def load_split(name: str) -> tuple[list[Example], list[Example]]:
    """``(train, test)`` examples of an official split: simple, length, jump or turn_left."""
    if name not in SPLITS:
        raise DataError(f"unknown SCAN split {name!r}; known: {sorted(SPLITS)}")
    downloaded = _downloaded_files(SPLITS[name])
    if downloaded is not None:
        return parse_lines(downloaded[0].splitlines()), parse_lines(downloaded[1].splitlines())
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
