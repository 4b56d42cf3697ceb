"""Estimated cost of a preset that has not been run: a measured run of its notebook, scaled by how much more
work the preset's parameters ask for. The reference is the fresh run that did the most work (a ``paper_mlp`` run
says more about ``paper`` than the ``cpu`` run does: it trained its networks instead of reading some from the
per-seed store), and its cost is counted in core-hours (wall time × the CPUs its Ray workers used).

Work is counted as units × examples × work per example: the independent units (seeds, networks, β values,
class pairs), the examples each trains on (steps × batch size, summed over base training and mask stages; epochs
where the clusterability chapters count them), and the work each example costs (a layer list's weight count, a
width squared; across architectures, the network's multiply-adds). The ratio between the preset and the
reference run multiplies the reference's core-hours; where a notebook trains several kinds of network, their
work is summed. It is a planning number (the time per unit of work is the one measured on this CPU, per-step
overheads are taken to scale like the arithmetic), not a measurement; parts that the reference skips entirely
(e.g. CNNs with ``cnn_networks`` 0) have no time to scale and are named instead.
"""

from __future__ import annotations

import functools
import re

from modularity import runner


def _mlp(hidden: list[int]) -> float:
    """Weights of a hidden-layer stack, counted between hidden layers and at both ends."""
    return float(sum(a * b for a, b in zip(hidden, hidden[1:])) + hidden[0] + hidden[-1])


def _hidden_of(name: str) -> list[int]:
    """A network named "WxL" (L layers of W) or "W_W_W"."""
    match = re.fullmatch(r"(\d+)x(\d+)", name)
    return [int(match[1])] * int(match[2]) if match else [int(part) for part in name.split("_")]


def _fnn_or_lstm(p: dict, model: str) -> float:
    if model == "fnn_800x4":
        return _mlp([800] * 4)
    return _mlp(p["fnn_hidden"]) if "fnn" in model else float(p["lstm_hidden"]) ** 2


# One clustering of a shuffled 4 × 256 MLP graph, in epochs of training that MLP on MNIST (both on one core of this
# CPU, ≈ 3 s an epoch): its spectral embedding ≈ 0.07 s whatever k, k-means ≈ 0.011 s per cluster (0.21 s in all
# at k = 12, 0.09 s at k = 2). The clusterability presets differ as much in shuffles, k and null models (P1:
# 320 × k ∈ {10, 7, 2} × 2) as in training.
EMBEDDING_IN_EPOCHS, KMEANS_PER_CLUSTER_IN_EPOCHS = 0.025, 0.0037


def _clusterability_epochs(p: dict) -> float:
    """Every network the run trains (each (dataset, factor) the papers train, × networks): its training and, if
    a pruned setting asks for it, pruning epochs, plus the clusterings of each stage shown, in epochs."""
    from modularity.experiments import mlp_schedules
    from modularity.experiments.clusterability import stages_for
    from modularity.experiments.networks import applies, regulariser_of

    per_shuffle = EMBEDDING_IN_EPOCHS + KMEANS_PER_CLUSTER_IN_EPOCHS * sum(p["ks"])  # one embedding serves every k
    clusterings = (p["n_shuffles"] + 1) * len(p["shuffle_methods"]) * per_shuffle
    total = 0.0
    for factor in {regulariser_of(s) for s in p["settings"]}:
        stages = stages_for(factor, p["settings"])
        for dataset in [d for d in p["datasets"] if applies(d, factor)]:
            trained, pruned = mlp_schedules.epochs(p, dataset, factor)
            total += trained + pruned * ("pruned" in stages) + len(stages) * clusterings
    return total * p["networks"]


def _cifar_stage_examples(p: dict) -> float:
    """Base training, then the control mask and one mask per removed class: examples seen in all."""
    return p["base_steps"] * p["batch_size"] + p["mask_steps"] * p["mask_batch_size"] * (1 + len(p["classes"]))


def _dm_math_examples(p: dict) -> float:
    """Per module its base training and two masks (control, easy only), from the paper's table when asked."""
    from modularity.experiments import dm_math

    total = 0.0
    for module in p["modules"]:
        s = dm_math.Settings(module, p["base_steps"], p["mask_steps"], batch_size=p["batch_size"],
                             mask_batch_size=p["mask_batch_size"])
        s = dm_math.with_paper_table(s) if p.get("paper_table") else s
        total += s.base_steps * s.batch_size + 2 * s.mask_steps * s.mask_batch_size
    return total


@functools.lru_cache(maxsize=None)
def _multiply_adds(model: str, width: float, depth: int) -> float:
    """Multiply-adds of one CIFAR-10 image through the CIFAR network (convolutions and linear layers)."""
    from modularity.experiments import cifar

    return _count_multiply_adds(cifar.build_model(cifar.Settings(model, 1, 1, width=width, depth=depth)), (3, 32, 32))


@functools.lru_cache(maxsize=None)
def _channel_network_multiply_adds(kind: str, dataset: str, width: float) -> float:
    """Multiply-adds of one image through the clustering chapters' small CNN or VGG."""
    from modularity.experiments import networks

    settings = networks.VGGSettings(width=width) if kind == "vgg" else networks.Settings()
    shape = (3, 32, 32) if dataset == "cifar10" else (1, 28, 28)
    return _count_multiply_adds(networks.build(kind, dataset, settings, "plain"), shape)


def _count_multiply_adds(network, shape: tuple[int, ...]) -> float:
    import torch

    network = network.eval()
    total = [0.0]

    def count(layer, _inputs, output):
        weight = layer.weight
        per_output = weight[0].numel() if isinstance(layer, torch.nn.Conv2d) else weight.shape[1]
        total[0] += per_output * output[0].numel()

    hooks = [m.register_forward_hook(count) for m in network.modules()
             if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        network(torch.zeros(1, *shape))
    for hook in hooks:
        hook.remove()
    return total[0]


def _cifar_work_per_example(p: dict) -> list[float]:
    return [_multiply_adds(p["model"], float(p["width"]), int(p["depth"]))]


# notebook → (units, examples, work per example of each network the run trains): units are parameter names (their
# counts multiplied); examples are phases (a steps parameter, or (steps, batch size) where presets change the
# batch), summed, or a function of the parameters; work per example is a weight count (the same arithmetic per
# weight) or, across architectures, multiply-adds
BATCH = "batch_size"
DRIVERS = {
    "add_mul": (["seeds"], [("fnn_base_steps", BATCH), ("lstm_base_steps", BATCH), ("mask_steps", BATCH)],
                lambda p: [_fnn_or_lstm(p, m) for m in p["models"]]),
    "double_add": (["seeds"], [("fnn_base_steps", BATCH), ("lstm_base_steps", BATCH), ("mask_steps", BATCH)],
                   lambda p: [_fnn_or_lstm(p, m) for m in p["models"]]),
    "mask_diagnostics": (["seeds"], [("base_steps", BATCH), ("mask_steps", BATCH)],
                         lambda p: [_fnn_or_lstm(p, m) for m in p["models"]]),
    "sharing_vs_size": (["seeds"], [("base_steps", BATCH), ("mask_steps", BATCH)],
                        lambda p: [_mlp(_hidden_of(n)) for n in p["networks"]]),
    "beta_sensitivity": (["seeds", "betas"], [("base_steps", BATCH), ("mask_steps", BATCH)],
                         lambda p: [_mlp(_hidden_of(n)) for n in p["networks"]]),
    "permuted_mnist_transfer": (["seeds", "mask_new_inits", "n_tasks"], [("steps_per_task", BATCH)],
                                lambda p: [_mlp(p["hidden"])]),
    "cifar_class_removal": (["seeds"], _cifar_stage_examples, _cifar_work_per_example),
    "cifar_mask_stability": (["seeds", "n_pairs"], [("base_steps", BATCH), ("mask_steps", "mask_batch_size")],
                             lambda p: [p["width"] ** 2]),
    "scan": (["seeds"], [("lstm_base_steps", BATCH), ("transformer_base_steps", BATCH), ("mask_steps", BATCH)],
             lambda p: [float(p["lstm_hidden"] if m == "lstm" else p["transformer_d"]) ** 2 for m in p["models"]]),
    "dm_math": (["seeds"], _dm_math_examples, lambda p: [p["d_model"] ** 2 * p["n_layers"]]),
    "masks_vs_clusters": (["seeds"], ["addmul_base_steps", "addmul_mask_steps", "doubleadd_base_steps",
                                      "doubleadd_mask_steps"], lambda p: [_mlp(p["fnn_hidden"])]),
    "clusterability": ([], _clusterability_epochs, lambda p: [_mlp(p["hidden"])]),  # its epochs count the networks
    "importance_coherence": (["networks"], ["epochs", "prune_epochs"], lambda p: [_mlp(p["hidden"])]),
    "imagenet_models": (["models"], ["n_shuffles"], lambda p: [1.0]),  # one clustering per shuffle
}
# notebooks whose work per example is the network's multiply-adds, so that one architecture's run scales to another
ACROSS_ARCHITECTURES = {"cifar_class_removal"}
# Parts of the clustering chapters that a run may leave out altogether (their count parameter 0, as at cpu): the
# network kind their units are recorded under (``cache.unit_label``) and the README's name for them. Each part is
# estimated on its own from the fresh run whose units of that kind did the most work; the small CNNs, before any
# run has trained one, from such a run's VGGs, by multiply-adds.
OPTIONAL_PARTS = {"cnn_networks": ("cnn", "the small CNNs"), "vgg_networks": ("vgg", "the VGGs")}
TRAIN_IMAGES = {"mnist": 60_000, "fashion_mnist": 60_000, "cifar10": 50_000}


def _count(value) -> float:
    return float(len(value)) if isinstance(value, list) else float(value)


def work(name: str, params: dict) -> float:
    """Units × examples × work per example of a run of ``name`` with these parameters (a relative measure)."""
    units, examples, weights = DRIVERS[name]
    total = sum(weights(params)) * (examples(params) if callable(examples) else sum(
        params[phase[0]] * params[phase[1]] if isinstance(phase, tuple) else params[phase] for phase in examples))
    for p in units:
        total *= _count(params[p])
    return total


def made_in_parts(manifest: dict) -> str | None:
    """Words for a run whose last part did not compute all of its work (None when it did, or when the run
    predates the record): how many per-seed units it computed, how many finished stages (tasks, base networks,
    masks) those units read from the per-seed cache, and what all units cost where they were timed."""
    units = manifest.get("units")
    reused = (units or {}).get("reused_stages", 0)
    if not units or (units["computed_here"] >= units["count"] and not reused):
        return None
    parts = []
    if units["computed_here"] < units["count"]:
        parts.append(f"{units['computed_here']} of its {units['count']} per-seed units computed in the last part, "
                     "the others read from the per-seed cache")
    if reused:
        parts.append(f"{reused} finished stage{'s' if reused != 1 else ''} of the units it computed read from the "
                     "per-seed cache")
    text = "made in parts: " + "; ".join(parts)
    if units["timed"]:
        which = "all units" if units["timed"] == units["count"] else \
            f"the {units['timed']} timed unit{'s' if units['timed'] != 1 else ''}"
        text += f"; {which} took {units['core_s'] / 3600:.1f} core-hours"
    untimed = units["count"] - units["timed"]
    if untimed:
        text += (f"; what {'all' if untimed == units['count'] else untimed} of its units cost is unknown (made "
                 "before units, or the stages they read, recorded their cost)")
    return text


def units_core_hours(manifest: dict) -> float | None:
    """What a run made in parts took, counted by its per-seed units when every one was timed (its wall time is
    only its last part's); None for a run made at once, or with units made before they were timed."""
    units = manifest.get("units") or {}
    if made_in_parts(manifest) and units["timed"] == units["count"]:
        return units["core_s"] / 3600
    return None


def cost_known(manifest: dict) -> bool:
    """Whether a run's core-hours are known: made at once, or in parts with every unit timed (a unit that read
    stages stored before stages recorded their cost took an unknown time, and the last part's wall time is only
    what the last sitting took, so such a run is no reference for an estimate)."""
    return made_in_parts(manifest) is None or units_core_hours(manifest) is not None


def core_hours(manifest: dict) -> float:
    """A run's wall time × the CPUs it computed on: its Ray workers' (all the machine's when the count was not
    recorded), else one; a run made in parts, what its units took (``units_core_hours``)."""
    in_parts = units_core_hours(manifest)
    if in_parts is not None:
        return in_parts
    executor = manifest.get("executor", {})
    cpus = 1
    if executor.get("name") == "ray":
        workers = executor.get("workers") or manifest.get("hardware", {}).get("cores") or 1
        cpus = workers * executor.get("task_cpus", 1)
    return manifest.get("wall_time_s", 0) / 3600 * cpus


def _channel_networks(name: str, p: dict, kind: str) -> list[tuple[str, int]]:
    """``(dataset, epochs)`` of every small CNN or VGG a run trains, pruning epochs included where it prunes."""
    if name == "importance_coherence":  # P2's unpruned MNIST CNNs and dropout + L2 VGGs
        dataset, epochs = ("mnist", p["cnn_epochs"]) if kind == "cnn" else ("cifar10", p["vgg_epochs"])
        return [(dataset, epochs)] * p[f"{kind}_networks"]
    from modularity.experiments.clusterability import stages_for
    from modularity.experiments.networks import applies, regulariser_of

    settings, found = p[f"{kind}_settings"], []
    for dataset in p["cnn_datasets"] if kind == "cnn" else ["cifar10"]:
        for regulariser in sorted({regulariser_of(s) for s in settings}):
            if applies(dataset, regulariser, kind=kind):
                pruned = "pruned" in stages_for(regulariser, settings)
                found += [(dataset, p[f"{kind}_epochs"] + pruned * p[f"{kind}_prune_epochs"])] * p[f"{kind}_networks"]
    return found


def part_work(name: str, params: dict, kind: str) -> float:
    """Training work of a run's small CNNs or VGGs: epochs × training images × multiply-adds per image."""
    width = float(params.get("vgg_width", 1.0)) if kind == "vgg" else 1.0
    return sum(epochs * (params.get("train_subset") or TRAIN_IMAGES[dataset])
               * _channel_network_multiply_adds(kind, dataset, width)
               for dataset, epochs in _channel_networks(name, params, kind))


def part_core_hours(manifest: dict, kind: str) -> float | None:
    """What a run's units of one network kind took (None when it recorded none)."""
    by_label = (manifest.get("units") or {}).get("by_label") or {}
    seconds = [cost["core_s"] for label, cost in by_label.items() if label.endswith(f"({kind})")]
    return sum(seconds) / 3600 if seconds else None


def _priced_runs(name: str, besides: str | None = None):
    """``(preset, manifest)`` of every fresh book run of ``name`` (other than ``besides``) whose cost is known:
    the runs an estimate may scale from."""
    for preset in runner.presets_of(name):
        if preset in (besides, runner.TEST_PRESET) or runner.status(name, preset)[0] not in runner.CURRENT_STATES:
            continue
        manifest = runner.read_manifest(name, preset)
        if cost_known(manifest):
            yield preset, manifest


def _part_reference(name: str, kind: str) -> tuple[str, dict, float] | None:
    """``(preset, parameters, core-hours of its units of this kind)`` of the fresh run whose small CNNs or VGGs
    did the most work."""
    candidates = []
    for preset, manifest in _priced_runs(name):
        hours = part_core_hours(manifest, kind)
        if hours:
            params = runner.resolved_parameters(name, preset)
            candidates.append((part_work(name, params, kind), preset, params, hours))
    return max(candidates, key=lambda c: c[0])[1:] if candidates else None


def _part_estimate(name: str, target: dict, kind: str) -> tuple[float, str] | None:
    """``(core-hours, where from)`` of a preset's small CNNs or VGGs; small CNNs from a VGG's time before any
    small CNN was measured."""
    names = dict(OPTIONAL_PARTS.values())
    for measured in dict.fromkeys((kind, "vgg")):
        found = _part_reference(name, measured)
        if found is not None:
            preset, params, hours = found
            ratio = part_work(name, target, kind) / part_work(name, params, measured)
            across = f" {names[measured][4:]} by multiply-adds" if measured != kind else ""
            return hours * ratio, f"{names[kind]} scaled from the `{preset}` run's{across}"
    return None


def _references(name: str, preset: str) -> list[tuple[str, dict]]:
    """The fresh runs of the other book presets of ``name`` (same architecture) whose cost is known, the one that
    did the most work first."""
    target = runner.resolved_parameters(name, preset)
    candidates = []
    for other, _ in _priced_runs(name, besides=preset):
        params = runner.resolved_parameters(name, other)
        # another architecture's time says nothing about this one, unless work counts multiply-adds
        if params.get("model") == target.get("model") or name in ACROSS_ARCHITECTURES:
            candidates.append((work(name, params), other, params))
    candidates.sort(key=lambda c: -c[0])  # stable: among equal work, the first preset
    return [(other, params) for _, other, params in candidates]


def reference_run(name: str, preset: str) -> tuple[str, dict] | None:
    """The fresh run of another book preset of ``name`` (same architecture) that did the most work."""
    found = _references(name, preset)
    return found[0] if found else None


def _scaled_hours(name: str, target: dict, reference: str, params: dict) -> float:
    """The reference run's core-hours (its small CNNs and VGGs apart) × the work ratio of ``target`` to it."""
    manifest = runner.read_manifest(name, reference)
    its_parts = sum(part_core_hours(manifest, kind) or 0.0 for kind, _ in OPTIONAL_PARTS.values())
    return (core_hours(manifest) - its_parts) * work(name, target) / work(name, params)


def estimate(name: str, preset: str) -> tuple[float, list[str], str, list[str]] | None:
    """``(core-hours, parts not estimated, reference preset, where each estimated part's time comes from)`` for a
    preset not yet run, else None. The small CNNs and VGGs (``OPTIONAL_PARTS``) are estimated apart from the rest."""
    if name not in DRIVERS or preset == runner.TEST_PRESET:
        return None
    found = reference_run(name, preset)
    if found is None:
        return None
    reference, params = found
    other = runner.resolved_parameters(name, preset)
    hours = _scaled_hours(name, other, reference, params)
    left_out, sources = [], []
    for count, (kind, what) in OPTIONAL_PARTS.items():
        if other.get(count):
            part = _part_estimate(name, other, kind)
            if part is None:
                left_out.append(what)
            else:
                hours, sources = hours + part[0], sources + [part[1]]
    return hours, left_out, reference, sources


# Two runs' scalings that differ by more than this are both shown: work is counted as arithmetic, so per-step
# overheads, and work a run read from the per-seed cache instead of computing (a base network another chapter
# trained, a stage an earlier sitting finished), are not in it
DISAGREEMENT = 1.5


def disagreeing_scalings(name: str, preset: str) -> tuple[float, list[tuple[str, float]]]:
    """The reference run's core-hours for the preset's networks (its small CNNs and VGGs apart), and ``(preset,
    core-hours)`` of the other fresh runs whose scaling of them differs from it by more than ``DISAGREEMENT`` times
    either way."""
    found = _references(name, preset) if name in DRIVERS and preset != runner.TEST_PRESET else []
    if not found:
        return 0.0, []
    target = runner.resolved_parameters(name, preset)
    (reference, params), others = found[0], found[1:]
    base = _scaled_hours(name, target, reference, params)
    scaled = [(other, _scaled_hours(name, target, other, p)) for other, p in others]
    return base, [(other, h) for other, h in scaled if max(h, base) > DISAGREEMENT * max(min(h, base), 1e-9)]


def _size(hours: float) -> str:
    return f"{hours:,.0f} h" if hours >= 1 else f"{hours * 60:.0f} min"


def describe(name: str, preset: str) -> str | None:
    """The README's words for an estimate, or None."""
    found = estimate(name, preset)
    if found is None:
        return None
    hours, left_out, reference, sources = found
    size = f"{_size(hours)} on one CPU core" if hours >= 1 else _size(hours)
    ours, theirs = (runner.resolved_parameters(name, p).get("model") for p in (preset, reference))
    across = f" of the `{theirs}` model, scaled by multiply-adds per image" if ours != theirs else ""
    base, disagreeing = disagreeing_scalings(name, preset)
    others = ", ".join(f"≈ {_size(h)} from the `{other}` run" for other, h in disagreeing)
    if others and (sources or left_out):  # the scalings disagree on the networks other than the CNNs and VGGs
        others = f"; its MLPs ≈ {_size(base)} from it, {others}"
    elif others:
        others = f"; {others}"
    text = f"≈ {size} (estimated from the `{reference}` run{across}{others}{''.join('; ' + s for s in sources)})"
    if left_out:
        text += f", plus {' and '.join(left_out)} (not estimated: no run has trained any to scale from)"
    return text
