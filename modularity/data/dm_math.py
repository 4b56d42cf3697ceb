"""DeepMind Mathematics (Saxton et al. 2019) for the weight-mask paper.

Reads the v1.0 text layout (``<regime>/<module>.txt``, question and answer on alternating lines), so a user
who has the official files can drop them into ``<data root>/dm_math/v1.0``. Without them, the files are
generated with the PyPI ``mathematics-dataset`` package — deterministically: each shard of a file is made in
its own process with ``PYTHONHASHSEED=0`` and seeds derived from (module, regime, shard) — and cached in
``<data root>/dm_math/generated-<size>``. The package needs three shims on current numpy and sympy (the data
README): ``np.object``, a sympy function that moved, and ``ndarray.itemset`` (removed in numpy 2), which is
rewritten to item assignment in the one module that uses it.

Splits as in the original: exact duplicate questions dropped (first occurrence kept, in the order easy →
medium → hard → interpolate → extrapolate), 10,000 random examples of each difficulty held out
(``RandomState(1234)``) as test_easy / test_medium / test_hard, the rest training data.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import random
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modularity.data import registry
from modularity.data.root import DataError, data_root
from modularity.data.sequences import SeqSet, lengths, pad

MODULES = ("arithmetic__add_or_sub", "algebra__linear_1d", "calculus__differentiate", "comparison__sort",
           "polynomials__collect")
DIFFICULTIES = ("easy", "medium", "hard")
REGIMES = ("train-easy", "train-medium", "train-hard", "interpolate", "extrapolate")
HOLDOUT_SEED = 1234
SHARD = 5000  # examples per generated shard (one process each)


# --- generating v1.0-layout files with the PyPI package ---------------------------------------------------

def import_generator():
    """``mathematics_dataset.modules.modules`` importable on numpy 2 and sympy ≥ 1.7."""
    if np.__dict__.get("object") is not object:
        np.object = object  # removed in numpy 1.24; the package uses it as a dtype
    from sympy.solvers.diophantine.diophantine import base_solution_linear

    # moved in sympy 1.7; ``sympy.solvers.diophantine`` as an attribute is the function, so use the module
    sys.modules["sympy.solvers.diophantine"].base_solution_linear = base_solution_linear
    name = "mathematics_dataset.sample.polynomials"
    if name not in sys.modules:  # ndarray.itemset(i, v) (removed in numpy 2) → item assignment
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise DataError("the package mathematics-dataset is not installed: pip install mathematics-dataset==1.0.1")
        source = Path(spec.origin).read_text()
        source = re.sub(r"(\w+)\.itemset\((\w+), (\w+)\)", r"\1[\2] = \3", source)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        exec(compile(source, spec.origin, "exec"), module.__dict__)
    from mathematics_dataset.modules import modules

    return modules


def _entropy_fn(level: int, n_levels: int):
    def restrict(range_):
        low, high = range_
        return low + level / n_levels * (high - low), low + (level + 1) / n_levels * (high - low)

    return restrict


def generate_shard(module: str, regime: str, n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (question, answer) pairs of one module and regime (run with PYTHONHASHSEED=0 to be repeatable)."""
    from mathematics_dataset import generate_settings

    modules = import_generator()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if regime.startswith("train-"):
        table = modules.train(_entropy_fn(DIFFICULTIES.index(regime.split("-")[1]), 3))
    else:
        table = modules.test() if regime == "interpolate" else modules.test_extra()
    group, name = module.split("__", 1)
    if name not in table.get(group, {}):
        return []
    make = table[group][name]
    pairs = []
    while len(pairs) < n:
        problem = make()
        question, answer = str(problem.question), str(problem.answer)
        fits = len(question) <= generate_settings.MAX_QUESTION_LENGTH
        if fits and len(answer) <= generate_settings.MAX_ANSWER_LENGTH:  # the package's own length filter
            pairs.append((question, answer))
    return pairs


def shard_seed(module: str, regime: str, shard: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{module}/{regime}/{shard}".encode()).digest()[:4], "big")


def generated_folder(per_difficulty: int, per_test: int) -> Path:
    return data_root() / "dm_math" / f"generated-{per_difficulty}-{per_test}"


def ensure_generated(modules: list[str], per_difficulty: int, per_test: int, workers: int | None = None) -> Path:
    """Generate (once) ``per_difficulty`` examples of each train regime and ``per_test`` of interpolate and
    extrapolate for each module, in the v1.0 layout, one process per shard; returns the folder."""
    folder = generated_folder(per_difficulty, per_test)
    files = {}
    for module in modules:
        for regime in REGIMES:
            path = folder / regime / f"{module}.txt"
            if not path.exists():
                n = per_difficulty if regime.startswith("train-") else per_test
                files[path] = [(module, regime, min(SHARD, n - start), shard_seed(module, regime, shard))
                               for shard, start in enumerate(range(0, n, SHARD))]
    env = dict(os.environ, PYTHONHASHSEED="0")

    def run(job) -> str:
        module, regime, size, seed = job
        command = [sys.executable, "-m", "modularity.data.dm_math", module, regime, str(size), str(seed)]
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode:
            raise DataError(f"generating {module} {regime} failed: {result.stderr.strip().splitlines()[-1:]}")
        return result.stdout

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        outputs = {path: pool.map(run, jobs) for path, jobs in files.items()}
        for path, shards in outputs.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text("".join(shards))
            os.replace(tmp, path)
    return folder


def _main() -> None:
    parser = argparse.ArgumentParser(description="print one shard of generated DM-math pairs (v1.0 layout)")
    parser.add_argument("module")
    parser.add_argument("regime")
    parser.add_argument("n", type=int)
    parser.add_argument("seed", type=int)
    args = parser.parse_args()
    for question, answer in generate_shard(args.module, args.regime, args.n, args.seed):
        sys.stdout.write(f"{question}\n{answer}\n")


# --- reading and splitting ---------------------------------------------------------------------------------

def read_v1(folder: Path, module: str) -> dict[str, list[tuple[str, str]]]:
    """regime → (question, answer) pairs of one module; regimes without a file are left out."""
    regimes = {}
    for regime in REGIMES:
        path = Path(folder) / regime / f"{module}.txt"
        if not path.exists():
            continue
        lines = path.read_text().splitlines()
        if len(lines) % 2:
            raise DataError(f"{path} has an odd number of lines: questions and answers must alternate")
        regimes[regime] = list(zip(lines[0::2], lines[1::2]))
    if not any(r.startswith("train-") for r in regimes):
        raise DataError(f"no training files for {module} under {folder}")
    return regimes


def split(regimes: dict[str, list[tuple[str, str]]], holdout: int = 10_000) -> dict[str, list[tuple[str, str]]]:
    """De-duplicate questions across regimes (first occurrence wins, easy → … → extrapolate), then hold
    out ``holdout`` random examples of each difficulty as its test set."""
    seen, unique = set(), {}
    for regime in REGIMES:
        kept = []
        for question, answer in regimes.get(regime, []):
            if question not in seen:
                seen.add(question)
                kept.append((question, answer))
        unique[regime] = kept
    rng = np.random.RandomState(HOLDOUT_SEED)
    out = {}
    for difficulty in DIFFICULTIES:
        pairs = unique[f"train-{difficulty}"]
        order = rng.permutation(len(pairs))
        n_test = min(holdout, len(pairs) // 2)
        out[f"test_{difficulty}"] = [pairs[i] for i in order[:n_test]]
        out[f"train_{difficulty}"] = [pairs[i] for i in sorted(order[n_test:])]
    out["interpolate"], out["extrapolate"] = unique["interpolate"], unique["extrapolate"]
    return out


@dataclass
class CharVocab:
    """Characters of every question and answer; 0 pads, 1 starts and 2 ends a sequence."""

    chars: str

    @classmethod
    def of(cls, texts) -> "CharVocab":
        return cls("".join(sorted({c for text in texts for c in text})))

    def __len__(self) -> int:
        return len(self.chars) + 3

    def encode(self, pairs: list[tuple[str, str]]) -> SeqSet:
        """Questions and answers as padded index tensors, each with the end marker."""
        index = {c: i + 3 for i, c in enumerate(self.chars)}
        src = [[index[c] for c in q] + [2] for q, _ in pairs]
        tgt = [[index[c] for c in a] + [2] for _, a in pairs]
        return SeqSet(pad(src, 0), lengths(src), pad(tgt, 0), lengths(tgt))


def load(module: str, per_difficulty: int, per_test: int, holdout: int) -> dict[str, list[tuple[str, str]]]:
    """One module's splits: from the official v1.0 files when present, else generated (and cached)."""
    official = data_root() / "dm_math" / "v1.0"
    if (official / "train-easy" / f"{module}.txt").exists():
        folder, source = official, "official v1.0 files"
    else:
        folder = ensure_generated([module], per_difficulty, per_test)
        source = (f"generated with mathematics-dataset 1.0.1 ({per_difficulty:,} per difficulty, "
                  f"{per_test:,} per test regime)")
    files = {f"{r}/{module}.txt": _sha256(folder / r / f"{module}.txt") for r in REGIMES
             if (folder / r / f"{module}.txt").exists()}
    registry.record(f"dm_math/{module}", source, files)
    return split(read_v1(folder, module), holdout)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    _main()
