"""Faint units (``modularity.faint_units``) of the clusterability chapter's networks, one network at a time.

A unit of its own beside ``clusterability.run_network`` (it reads the trained weights that unit stores), so
adding it re-measured nothing: the networks and their n-cuts keep their cache keys.
"""

from __future__ import annotations

from modularity import faint_units
from modularity.experiments import clusterability as cl
from modularity.experiments.networks import Settings


def run_network(kind: str, dataset: str, regulariser: str, seed: int, settings: Settings, device,
                stages: tuple[str, ...] = cl.STAGES) -> dict[str, dict[int, dict]]:
    """``{stage: {k: faint_units.report}}`` for one network, trained (or read from the store) exactly as
    ``clusterability.run_network_loading`` trains it."""
    data = (cl.data_for(dataset, regulariser, settings.train_subset, settings.test_subset, device) if kind == "mlp"
            else cl.load_dataset(dataset, settings.train_subset, settings.test_subset, device))
    states = cl.trained_states(kind, dataset, regulariser, seed, settings, data, device, prune="pruned" in stages)
    return {stage: faint_units.report(cl.graph_of(cl.trained_model(kind, dataset, regulariser, state, settings), kind),
                                      settings.ks, seed)
            for stage, state in states.items() if stage in stages}


def rows(results: dict) -> list[dict]:
    """One row per network × setting × k, keyed like ``clusterability.network_rows``."""
    out = []
    for (kind, dataset, regulariser, seed), stages in results.items():
        for stage, by_k in stages.items():
            setting = "plain" if regulariser == "none" else regulariser
            if stage == "pruned":
                setting = "pruned" if setting == "plain" else f"pruned_{setting}"
            out.extend({"kind": kind, "dataset": dataset, "setting": setting, "seed": seed, "k": k,
                        "faint_units": r["faint_units"], "faint_clusters": r["faint_clusters"],
                        "degree_histogram": r["degree_histogram"], "faint_check_ncut": r["ncut"]}
                       for k, r in by_k.items())
    return out
