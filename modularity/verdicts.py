"""The rules that turn a run's numbers into the words the book uses, written once.

Accuracy after a mask or its removal is judged by how much of a reference accuracy (the control mask's, on
the same task) it retains above the task's chance accuracy::

    retention = (accuracy − chance) / (reference − chance)
    kept: retention ≥ 0.8     partly kept: 0.2 < retention < 0.8     lost: retention ≤ 0.2

and cannot be judged (*undefined*) when the reference itself is less than 0.1 above chance.

Overlap (IoU, IoMin, shared fraction) is judged on its excess over two independent masks of the same
per-tensor densities (``modularity.chance``)::

    excess = (observed − chance) / (1 − chance)
    strong: excess ≥ 0.5     partial: 0.1 ≤ excess < 0.5     about chance: excess < 0.1

A share of units (or clusters) that pass a test each would pass by chance with probability p is *above
chance* when a one-sided binomial test rejects "no more than chance" at the 5% level.

Masks and clusters are *aligned* when the adjusted mutual information of cluster membership and mask usage
beats its permutation null at the 5% level and is at least 0.5, *partly aligned* when it beats the null but
is lower, and *independent* when it does not beat the null.

A lesioned sub-cluster (Filan et al.'s P1 taxonomy) is *complete* when it is its layer's every used unit,
*small* at 12 units or fewer, else judged by its accuracy drop (large: at least 1 percentage point) and
where it falls among random same-size lesions of its layer: *important* when it costs more than every one
and the drop is large, *prunable* / *least important* when every random lesion costs more and the drop is
small / large, *significant but small drop*, *large drop but not significant*, or *other*.

A network's n-cut is *degenerate* when at least one of its clusters is *faint*: its volume is below n-cut's
ε (``modularity.faint_units``), so its term adds ≈ 0 whatever the network's structure. Such a network's place
among its shuffles says nothing about modules, and the book does not count it as below every shuffle.

A chapter's claim is *reproduced* when every part of it holds, *partly reproduced* when some do, *not
reproduced* when none does, and *not measurable* when the run could not test it.
"""

from __future__ import annotations

import math
from typing import Iterable

__all__ = ["KEPT_AT", "LOST_AT", "STRONG_AT", "PARTIAL_AT", "PARTLY", "retention", "retention_level",
           "overlap_level", "matches", "independence", "above_chance", "claim_status", "loss_as_predicted",
           "claim_status_from_overlap", "percent", "alignment_level", "alignment_over_seeds", "agreement_with_authors",
           "ncut_degenerate", "ALIGNED_AT", "LESION_CATEGORIES", "lesion_category"]

KEPT_AT, LOST_AT = 0.8, 0.2
MIN_REFERENCE_ABOVE_CHANCE = 0.1
PARTLY = 0.5  # a part of a claim that holds in part (e.g. an accuracy partly lost where loss was predicted)
STRONG_AT, PARTIAL_AT = 0.5, 0.1
ALIGNED_AT, SIGNIFICANT_AT = 0.5, 0.05
MAJORITY = 0.5  # "most networks": a share of at least one half
CLAIM_STATUSES = ("reproduced", "partly reproduced", "not reproduced", "not measurable")


CLASS_DROP, OTHER_CLASS_SHARE = 0.5, 0.25  # CIFAR class removal: the removed class's drop, the others' share of it


def class_specific(removed_drop: float, other_ratio: float) -> bool | None:
    """Removing one class's mask is class-specific when that class loses at least half of its control accuracy
    (relative drop) and no other class loses more than a quarter of that; ``None`` when the drop is unknown."""
    if math.isnan(removed_drop):
        return None
    return removed_drop >= CLASS_DROP and other_ratio <= OTHER_CLASS_SHARE


BINARY_UNDECIDED = 0.01  # masks are effectively binary when at most 1% of every model's logits are undecided


def masks_binary(max_frac_undecided: float) -> bool:
    """The paper's claim that trained masks are (nearly) binary, judged on the worst model's share of undecided
    logits (0.05 < σ(logit) < 0.95)."""
    return max_frac_undecided <= BINARY_UNDECIDED


def masks_binary_beside(undecided: dict[str, float], undecided_before: dict[str, float], steps: int,
                        steps_before: int) -> str:
    """The binary-mask claim at two step counts, judged by ``masks_binary`` on each run's worst model (shares
    of undecided logits per model; the models both runs trained are compared)."""
    changes = ", ".join(f"{m} {undecided_before[m]:.0%} → {undecided[m]:.0%}"
                        for m in undecided if m in undecided_before)
    now, before = masks_binary(max(undecided.values())), masks_binary(max(undecided_before.values()))
    return (f"From {steps_before:,} to {steps:,} mask steps the share of undecided logits went {changes}: the masks "
            f"are {'' if now else 'not '}effectively binary at {steps:,} steps and were {'' if before else 'not '}at "
            f"{steps_before:,}.")


def retention(accuracy: float, reference: float, chance: float = 0.0) -> float:
    """Share of ``reference``'s accuracy above ``chance`` that ``accuracy`` keeps (1 = all, 0 = chance)."""
    if reference <= chance:
        return float("nan")  # the reference itself is at chance: nothing to retain
    return (accuracy - chance) / (reference - chance)


def retention_level(accuracy: float, reference: float, chance: float = 0.0) -> str:
    """``kept`` / ``partly kept`` / ``lost`` (``undefined`` when the reference is too close to chance)."""
    r = retention(accuracy, reference, chance)
    if math.isnan(r) or reference - chance < MIN_REFERENCE_ABOVE_CHANCE:
        return "undefined"
    if r >= KEPT_AT:
        return "kept"
    if r <= LOST_AT:
        return "lost"
    return "partly kept"


def overlap_level(excess: float) -> str:
    """``strong`` / ``partial`` / ``about chance`` overlap, from the excess over chance."""
    if excess is None or math.isnan(excess):
        return "undefined"
    if excess >= STRONG_AT:
        return "strong"
    if excess >= PARTIAL_AT:
        return "partial"
    return "about chance"


def matches(observed: Iterable[str], expected: Iterable[str]) -> bool | float | None:
    """Whether the observed accuracy levels are the expected ones: True when all are; ``PARTLY`` when every one
    that differs is *partly kept* (half-way between kept and lost); False otherwise; None when any could not be
    judged."""
    observed, expected = list(observed), list(expected)
    if "undefined" in observed:
        return None
    if observed == expected:
        return True
    return PARTLY if all(o == e or o == "partly kept" for o, e in zip(observed, expected)) else False


def independence(level: str) -> bool | float | None:
    """For a claim that two masks do not share weights: about chance → holds, partial → in part, strong → not."""
    return {"about chance": True, "partial": PARTLY, "strong": False}.get(level)


ALPHA = 0.05


def above_chance(count: int, n: int, chance: float, alpha: float = ALPHA) -> bool | None:
    """Whether ``count`` successes of ``n`` exceed what chance ``chance`` gives (one-sided binomial test);
    None when there is nothing to test."""
    from scipy.stats import binomtest

    if n <= 0:
        return None
    return bool(binomtest(int(count), int(n), chance, alternative="greater").pvalue < alpha)


def claim_status(parts: Iterable[bool | float | None]) -> str:
    """``reproduced`` when every part holds, ``not reproduced`` when none does, ``partly reproduced`` else
    (a part may hold ``PARTLY``); ``not measurable`` when any part could not be tested (None)."""
    parts = list(parts)
    if not parts or any(p is None for p in parts):
        return "not measurable"
    if all(p is True or p == 1 for p in parts):
        return "reproduced"
    if all(p is False or p == 0 for p in parts):
        return "not reproduced"
    return "partly reproduced"


def loss_as_predicted(level: str) -> bool | float | None:
    """For a claim that an accuracy is lost: lost → holds, partly kept → holds in part, kept → does not."""
    return {"lost": True, "partly kept": PARTLY, "kept": False}.get(level)


def claim_status_from_overlap(level: str) -> str:
    """For a claim that two masks overlap: strong → reproduced, partial → partly, about chance → not."""
    return {"strong": "reproduced", "partial": "partly reproduced", "about chance": "not reproduced"}.get(
        level, "not measurable")


def percent(value: float, digits: int = 1) -> str:
    return f"{value * 100:.{digits}f}%"


def alignment_level(ami: float, p: float) -> str:
    """``aligned`` / ``partly aligned`` / ``independent``: cluster membership against mask usage (``not
    measurable`` when the AMI is undefined)."""
    if math.isnan(ami):
        return "not measurable"
    if p >= SIGNIFICANT_AT:
        return "independent"
    return "aligned" if ami >= ALIGNED_AT else "partly aligned"


def alignment_over_seeds(amis: Iterable[float], ps: Iterable[float]) -> str:
    """One network over its seeds: ``aligned`` when every seed's AMI beats its null (p < 0.05) and the mean
    AMI is at least 0.5, ``partly aligned`` when at least one seed beats its null, else ``independent``; seeds
    whose AMI is undefined (NaN: every unit used alike) are left out, and with none left the network is ``not
    measurable``."""
    judged = [(a, p) for a, p in zip(amis, ps) if not math.isnan(a)]
    if not judged:
        return "not measurable"
    beaten = [p < SIGNIFICANT_AT for _, p in judged]
    if not any(beaten):
        return "independent"
    return "aligned" if all(beaten) and sum(a for a, _ in judged) / len(judged) >= ALIGNED_AT else "partly aligned"


def agreement_with_authors(z: float, below: float, authors_z: float | None, authors_below: float | None) -> str:
    """One row of a table beside the authors': do both runs put the networks on the same side of the shuffles
    (the sign of the mean z) and agree on whether most networks are below every shuffle (share ≥ 0.5)?
    ``agrees`` when every comparison the authors' numbers allow matches, ``partly`` when one of two does,
    ``disagrees`` when none does, ``not comparable`` when the authors give neither number."""
    matched = []
    if authors_z is not None:
        matched.append((z < 0) == (authors_z < 0))
    if authors_below is not None:
        matched.append((below >= MAJORITY) == (authors_below >= MAJORITY))
    if not matched:
        return "not comparable"
    return "agrees" if all(matched) else "partly" if any(matched) else "disagrees"


def ncut_degenerate(faint_clusters: int) -> bool:
    """Does one of the network's clusters have a volume below n-cut's ε (see the module docstring)?"""
    if faint_clusters < 0:
        raise ValueError(f"faint_clusters counts clusters: got {faint_clusters}")
    return faint_clusters >= 1


SMALL_SUB_CLUSTER = 12  # P1: about 5% of a 256-unit layer
LARGE_DROP = 0.01  # P1: one percentage point of accuracy
LESION_CATEGORIES = ("complete", "small", "important", "prunable", "least important", "significant but small drop",
                     "large drop but not significant", "other")


def lesion_category(n_units: int, layer_units: int, drop: float, p: float, n_random: int) -> str:
    """P1's category of one lesioned sub-cluster. ``p``: the lower-tail percentile of the lesioned accuracy among
    ``n_random`` random same-size lesions (``lesions.percentile``): 1/(n+1) when the sub-cluster costs more than
    every random set, 1 when every random set costs more. ``layer_units``: the layer's used units."""
    if n_units >= layer_units:
        return "complete"
    if n_units <= SMALL_SUB_CLUSTER:
        return "small"
    below_every, above_every = math.isclose(p, 1 / (n_random + 1)), math.isclose(p, 1.0)
    large = drop >= LARGE_DROP
    if below_every:
        return "important" if large else "significant but small drop"
    if above_every:
        return "least important" if large else "prunable"
    return "large drop but not significant" if large else "other"
