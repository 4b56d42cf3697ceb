"""Estimated costs of presets not yet run: work counted by hand, and the README's words."""

import pytest

from modularity import costs


def test_work_is_units_times_steps_times_weights():
    params = {"seeds": 2, "models": ["fnn", "lstm"], "fnn_hidden": [10, 10], "lstm_hidden": 4,
              "fnn_base_steps": 100, "lstm_base_steps": 100, "mask_steps": 50}
    # fnn: 10·10 + 10 + 10 = 120 weights, lstm: 4² = 16; steps 100 + 100 + 50 of batch 8; 2 seeds
    assert costs.work("add_mul", params | {"batch_size": 8}) == pytest.approx((120 + 16) * 250 * 8 * 2)
    assert costs.work("add_mul", params | {"batch_size": 8, "models": ["fnn"]}) == pytest.approx(120 * 250 * 8 * 2)


def test_permuted_mnist_counts_every_task_it_trains():
    params = {"seeds": 2, "mask_new_inits": [2.0], "hidden": [10], "steps_per_task": 100, "batch_size": 8}
    # a one-layer stack counts 10 + 10 weights (``_mlp``); every task trains 100 steps of 8 examples, 2 seeds
    assert costs.work("permuted_mnist_transfer", params | {"n_tasks": 2}) == pytest.approx(20 * 100 * 8 * 2 * 2)
    assert costs.work("permuted_mnist_transfer", params | {"n_tasks": 11}) == pytest.approx(20 * 100 * 8 * 2 * 11)


def test_a_larger_batch_is_more_work_phase_by_phase():
    params = {"seeds": 1, "models": ["lstm"], "lstm_hidden": 2, "lstm_base_steps": 10, "transformer_base_steps": 0,
              "mask_steps": 5, "batch_size": 64}
    assert costs.work("scan", params | {"batch_size": 256}) == pytest.approx(4 * costs.work("scan", params))
    cifar = {"seeds": 1, "model": "cnn", "width": 0.5, "depth": 110, "classes": [0, 1, 2], "base_steps": 100,
             "batch_size": 64, "mask_steps": 10, "mask_batch_size": 32}
    # base 100 × 64, then the control mask and one per removed class: 4 × 10 × 32
    assert costs._cifar_stage_examples(cifar) == 100 * 64 + 4 * 10 * 32


def test_multiply_adds_match_the_published_counts_of_the_cifar_resnets():
    # He et al.'s CIFAR ResNets as usually quoted: ResNet-20 ≈ 41 M and ResNet-110 ≈ 253 M multiply-adds an image
    assert costs._multiply_adds("resnet", 1.0, 20) == pytest.approx(40.8e6, rel=0.01)
    assert costs._multiply_adds("resnet", 1.0, 110) == pytest.approx(253e6, rel=0.01)
    # dropout adds no arithmetic; half the channels is about a quarter of it
    assert costs._multiply_adds("cnn_nodropout", 1.0, 110) == costs._multiply_adds("cnn", 1.0, 110)
    assert costs._multiply_adds("cnn", 0.5, 110) == pytest.approx(costs._multiply_adds("cnn", 1.0, 110) / 4, rel=0.1)


def test_the_mathematics_paper_table_sets_each_modules_steps_and_batches():
    params = {"seeds": 1, "modules": ["arithmetic__add_or_sub", "algebra__linear_1d"], "base_steps": 10,
              "mask_steps": 5, "batch_size": 4, "mask_batch_size": 2, "d_model": 2, "n_layers": 1}
    assert costs._dm_math_examples(params) == 2 * (10 * 4 + 2 * 5 * 2)
    # the original code's table: 30,000 steps of 256 and two masks of 30,000 × 256; 200,000 × 512, masks 50,000 × 400
    assert costs._dm_math_examples(params | {"paper_table": True}) == (30000 * 256 + 2 * 30000 * 256
                                                                      + 200000 * 512 + 2 * 50000 * 400)


def test_network_names_and_the_half_mask_network_count_their_own_weights():
    assert costs._hidden_of("800x4") == [800] * 4 and costs._hidden_of("400_400_200") == [400, 400, 200]
    assert costs._fnn_or_lstm({"fnn_hidden": [1]}, "fnn_800x4") == 3 * 800 * 800 + 1600


def test_every_driver_names_parameters_its_notebook_declares():
    from modularity import runner

    for name, (units, examples, weights) in costs.DRIVERS.items():
        params = runner.resolved_parameters(name, "cpu")
        named = {p for part in (units, examples) if not callable(part) for entry in part
                 for p in (entry if isinstance(entry, tuple) else (entry,))}
        assert named <= set(params), name
        assert all(w > 0 for w in weights(params)) and costs.work(name, params) > 0, name


def test_clusterability_counts_the_networks_it_trains_and_its_clusterings():
    p = {"datasets": ["mnist", "poly"], "settings": ["plain", "pruned", "l1", "pruned_l1", "dropout"], "networks": 2,
         "epochs": 10, "prune_epochs": 5, "n_shuffles": 49, "ks": [12, 7], "shuffle_methods": ["layer"],
         "hidden": [10]}
    # per stage: (49 shuffles + the network itself) × 1 null model, clustered at k = 12 and k = 7
    stage = 50 * (costs.EMBEDDING_IN_EPOCHS + 19 * costs.KMEANS_PER_CLUSTER_IN_EPOCHS)  # one embedding, both k
    # MNIST trains none and l1 (both stages: trained and pruned) and dropout (no pruned setting: trained only);
    # POLY none and l1 (no dropout there); 2 networks each
    expected = 2 * (2 * 2 * (15 + 2 * stage) + 1 * (10 + stage))
    assert costs._clusterability_epochs(p) == pytest.approx(expected)
    assert costs.work("clusterability", p) == pytest.approx(20 * expected)


def test_core_hours_count_the_cpus_of_ray_workers():
    local = {"wall_time_s": 3600, "executor": {"name": "local"}}
    assert costs.core_hours(local) == pytest.approx(1.0)
    ray = {"wall_time_s": 1800, "executor": {"name": "ray", "workers": 2, "task_cpus": 3}}
    assert costs.core_hours(ray) == pytest.approx(3.0)
    unrecorded = {"wall_time_s": 1800, "executor": {"name": "ray", "task_cpus": 1}, "hardware": {"cores": 4}}
    assert costs.core_hours(unrecorded) == pytest.approx(2.0)


def test_a_run_made_in_parts_says_so_and_counts_what_all_its_units_took():
    whole = {"wall_time_s": 3600, "executor": {"name": "local"},
             "units": {"count": 4, "computed_here": 4, "timed": 4, "core_s": 7200.0}}
    assert costs.made_in_parts(whole) is None and costs.core_hours(whole) == pytest.approx(1.0)
    parts = {**whole, "units": {"count": 4, "computed_here": 1, "timed": 4, "core_s": 36000.0}}
    assert costs.made_in_parts(parts) == ("made in parts: 1 of its 4 per-seed units computed in the last part, the "
                                          "others read from the per-seed cache; all units took 10.0 core-hours")
    assert costs.core_hours(parts) == pytest.approx(10.0)
    untimed = {**whole, "units": {"count": 4, "computed_here": 1, "timed": 1, "core_s": 3600.0}}
    assert costs.made_in_parts(untimed).endswith("; the 1 timed unit took 1.0 core-hours; what 3 of its units cost "
                                                 "is unknown (made before units, or the stages they read, recorded "
                                                 "their cost)")
    none_timed = {**whole, "units": {"count": 2, "computed_here": 2, "reused_stages": 8, "timed": 0, "core_s": 0.0}}
    assert costs.made_in_parts(none_timed) == (
        "made in parts: 8 finished stages of the units it computed read from the per-seed cache; what all of its "
        "units cost is unknown (made before units, or the stages they read, recorded their cost)")
    assert costs.core_hours(untimed) == pytest.approx(1.0)  # not all timed: the last part's wall time
    assert costs.units_core_hours(parts) == pytest.approx(10.0)
    assert costs.units_core_hours(untimed) is None and costs.units_core_hours(whole) is None
    assert costs.made_in_parts({"wall_time_s": 60}) is None  # made before units were recorded


def test_the_estimate_scales_from_the_fresh_run_that_did_the_most_work(monkeypatch):
    presets = {"smoke": {"networks": 1}, "cpu": {"networks": 2}, "big": {"networks": 8}, "paper": {"networks": 16},
               "stale": {"networks": 12}}
    params = {"hidden": [10], "epochs": 1, "prune_epochs": 1}
    manifests = {"cpu": {"wall_time_s": 3600, "executor": {"name": "local"}},
                 "big": {"wall_time_s": 3600, "executor": {"name": "ray", "workers": 2, "task_cpus": 1}},
                 "stale": {"wall_time_s": 60, "executor": {"name": "local"}}}
    monkeypatch.setattr(costs.runner, "presets_of", lambda name: presets)
    monkeypatch.setattr(costs.runner, "resolved_parameters", lambda name, p: params | presets[p])
    monkeypatch.setattr(costs.runner, "read_manifest", lambda name, p: manifests.get(p))
    monkeypatch.setattr(costs.runner, "status", lambda name, p: (
        "missing" if p not in manifests else "stale" if p == "stale" else "fresh", ""))
    hours, left_out, reference, _ = costs.estimate("importance_coherence", "paper")
    # "big" did 4× cpu's work, on 2 cores for an hour: 2 core-hours, × 16/8 for paper; the stale run is ignored
    assert reference == "big" and hours == pytest.approx(4.0) and left_out == []
    described = costs.describe("importance_coherence", "paper")
    assert described.startswith("≈ 4 h on one CPU core (estimated from the `big` run")
    # made in parts from stages stored before they were timed: its cost is unknown, so it is no reference
    manifests["big"] |= {"units": {"count": 2, "computed_here": 2, "reused_stages": 4, "timed": 0, "core_s": 0.0}}
    assert costs.estimate("importance_coherence", "paper")[:3:2] == (pytest.approx(8.0), "cpu")
    manifests.pop("big")
    assert costs.estimate("importance_coherence", "paper")[:3:2] == (pytest.approx(8.0), "cpu")


def test_another_architecture_scales_by_multiply_adds_only_where_work_counts_them(monkeypatch):
    cpu = {"seeds": 1, "model": "cnn", "width": 1.0, "depth": 20, "classes": [0], "base_steps": 10,
           "batch_size": 8, "mask_steps": 10, "mask_batch_size": 8}
    presets = {"cpu": cpu, "resnet": cpu | {"model": "resnet"}}
    monkeypatch.setattr(costs.runner, "presets_of", lambda name: presets)
    monkeypatch.setattr(costs.runner, "resolved_parameters", lambda name, p: presets[p])
    monkeypatch.setattr(costs.runner, "read_manifest", lambda name, p: {"wall_time_s": 3600})
    monkeypatch.setattr(costs.runner, "status", lambda name, p: ("fresh" if p == "cpu" else "missing", ""))
    hours, _, reference, _ = costs.estimate("cifar_class_removal", "resnet")
    ratio = costs._multiply_adds("resnet", 1.0, 20) / costs._multiply_adds("cnn", 1.0, 20)
    assert reference == "cpu" and hours == pytest.approx(ratio)
    assert "of the `cnn` model, scaled by multiply-adds per image" in costs.describe("cifar_class_removal", "resnet")
    monkeypatch.setattr(costs, "ACROSS_ARCHITECTURES", set())
    assert costs.estimate("cifar_class_removal", "resnet") is None


def test_greyscale_cifar_counts_its_own_schedule_where_the_preset_gives_one():
    p = {"datasets": ["cifar10_gray", "mnist"], "settings": ["pruned", "pruned_dropout"], "networks": 1, "epochs": 20,
         "prune_epochs": 20, "n_shuffles": 0, "ks": [2], "shuffle_methods": [], "hidden": [10]}
    # no clusterings (no null model): plain and dropout networks on both datasets, trained and pruned
    assert costs._clusterability_epochs(p) == pytest.approx(4 * 40)
    p1 = p | {"cifar_epochs": 20, "cifar_dropout_epochs": 100, "cifar_prune_epochs": 40}
    assert costs._clusterability_epochs(p1) == pytest.approx(2 * 40 + (20 + 40) + (100 + 40))


def test_multiply_adds_of_the_clustering_chapters_vgg_match_the_published_count():
    # VGG16 on 32 × 32 CIFAR-10 images: 313 M multiply-adds (13 convolutions and the classifier); width scales both
    # the input and the output channels of every layer, so 1/8 of the channels cost about 1/64
    assert costs._channel_network_multiply_adds("vgg", "cifar10", 1.0) == pytest.approx(313.7e6, rel=0.01)
    narrow = costs._channel_network_multiply_adds("vgg", "cifar10", 0.125)
    assert narrow == pytest.approx(313.7e6 / 64, rel=0.05)


def test_small_cnns_and_vggs_are_estimated_apart_from_the_mlps(monkeypatch):
    base = {"datasets": ["mnist"], "settings": ["pruned"], "networks": 1, "epochs": 1, "prune_epochs": 1,
            "n_shuffles": 0, "ks": [2], "shuffle_methods": [], "hidden": [10], "train_subset": 0,
            "cnn_networks": 0, "cnn_datasets": ["mnist"], "cnn_settings": ["plain"], "cnn_epochs": 2,
            "cnn_prune_epochs": 1, "vgg_networks": 0, "vgg_settings": ["plain", "pruned"], "vgg_width": 0.125,
            "vgg_epochs": 10, "vgg_prune_epochs": 5}
    presets = {"cpu": base, "narrow_vgg": base | {"vgg_networks": 2},
               "paper": base | {"networks": 2, "vgg_networks": 4, "vgg_width": 0.25, "cnn_networks": 3}}
    units = {"count": 4, "computed_here": 1, "timed": 4, "core_s": 5 * 3600.0,
             "by_label": {"clusterability/network (mlp)": {"count": 2, "core_s": 3600.0},
                          "clusterability/network (vgg)": {"count": 2, "core_s": 4 * 3600.0}}}
    manifests = {"cpu": {"wall_time_s": 1800, "executor": {"name": "local"}}, "narrow_vgg": {"units": units}}
    monkeypatch.setattr(costs.runner, "presets_of", lambda name: presets)
    monkeypatch.setattr(costs.runner, "resolved_parameters", lambda name, p: presets[p])
    monkeypatch.setattr(costs.runner, "read_manifest", lambda name, p: manifests.get(p))
    monkeypatch.setattr(costs.runner, "status", lambda name, p: ("fresh" if p in manifests else "missing", ""))
    assert costs.part_core_hours(manifests["narrow_vgg"], "vgg") == 4.0
    assert costs.part_core_hours(manifests["narrow_vgg"], "cnn") is None

    hours, left_out, reference, sources = costs.estimate("clusterability", "paper")
    # the MLPs: the MLP-only runs tie in work, the first (cpu, 0.5 h) is the reference, × 2 networks; the VGGs:
    # 4 h for 2 networks × (10 + 5 epochs, plain and pruned at width 1/8), paper 4 networks at width 1/4
    vgg = costs._channel_network_multiply_adds
    vgg_ratio = 2 * vgg("vgg", "cifar10", 0.25) / vgg("vgg", "cifar10", 0.125)
    # one small CNN setting (plain): 3 networks × 2 epochs × 60,000 images, against the VGGs' 2 × 15 × 50,000
    cnn_ratio = (3 * 2 * 60_000 * vgg("cnn", "mnist", 1.0)) / (2 * 15 * 50_000 * vgg("vgg", "cifar10", 0.125))
    assert hours == pytest.approx(0.5 * 2 + 4 * vgg_ratio + 4 * cnn_ratio)
    assert left_out == [] and sources == ["the small CNNs scaled from the `narrow_vgg` run's VGGs by multiply-adds",
                                          "the VGGs scaled from the `narrow_vgg` run's"]
    assert "; the VGGs scaled from the `narrow_vgg` run's)" in costs.describe("clusterability", "paper")

    manifests.pop("narrow_vgg")  # nothing trained a VGG yet: both parts named, not estimated
    assert costs.estimate("clusterability", "paper")[1] == ["the small CNNs", "the VGGs"]


def test_another_fresh_run_that_scales_to_a_different_cost_is_shown_beside(monkeypatch):
    presets = {"cpu": {"networks": 2}, "big": {"networks": 8}, "paper": {"networks": 16}}
    params = {"hidden": [10], "epochs": 1, "prune_epochs": 1}
    manifests = {"cpu": {"wall_time_s": 3600, "executor": {"name": "local"}},
                 "big": {"wall_time_s": 3600, "executor": {"name": "ray", "workers": 2, "task_cpus": 1}}}
    monkeypatch.setattr(costs.runner, "presets_of", lambda name: presets)
    monkeypatch.setattr(costs.runner, "resolved_parameters", lambda name, p: params | presets[p])
    monkeypatch.setattr(costs.runner, "read_manifest", lambda name, p: manifests.get(p))
    monkeypatch.setattr(costs.runner, "status", lambda name, p: ("fresh" if p in manifests else "missing", ""))
    # big: 2 core-hours × 16/8 = 4 h; cpu: 1 core-hour × 16/2 = 8 h, twice as much: shown beside
    base, others = costs.disagreeing_scalings("importance_coherence", "paper")
    assert base == pytest.approx(4.0) and others == [("cpu", pytest.approx(8.0))]
    assert costs.describe("importance_coherence", "paper") == \
        "≈ 4 h on one CPU core (estimated from the `big` run; ≈ 8 h from the `cpu` run)"
    # exactly 1.5 times is within the rule's bound, just above it is not
    manifests["cpu"]["wall_time_s"] = 3600 * 0.75  # 6 h
    assert costs.disagreeing_scalings("importance_coherence", "paper")[1] == []
    manifests["cpu"]["wall_time_s"] = 3600 * 0.76
    assert [o for o, _ in costs.disagreeing_scalings("importance_coherence", "paper")[1]] == ["cpu"]
    manifests["cpu"]["wall_time_s"] = 3600 * 0.3  # 2.4 h: lower by more than the bound, also shown
    assert "≈ 2 h from the `cpu` run" in costs.describe("importance_coherence", "paper")
