"""The control-mask diagnostics pick each network's experiment, settings and half split as its chapter does."""

import pytest

from modularity.experiments import addmul, diagnostics, doubleadd

KWARGS = dict(base_steps=10, mask_steps=5, batch_size=8, lr=1e-3, mask_lr=1e-2, n_mask_samples=4)
BETAS = {"addmul_fnn": 1e-4, "addmul_lstm": 2e-4, "doubleadd_fnn": 4e-4, "doubleadd_lstm": 3e-4}


def test_the_800x4_network_is_the_add_mul_fnn_at_its_own_size():
    namespace, experiment, settings, _ = diagnostics.experiment_for("fnn_800x4", [16, 16], KWARGS, BETAS)
    assert (namespace, experiment) == ("add_mul", addmul)
    assert (settings.model, settings.hidden, settings.beta) == ("fnn", [800] * 4, 1e-4)
    # the same network at the same settings as the add/mul chapter's long preset: one shared store
    _, _, chapter, _ = diagnostics.experiment_for("addmul_fnn", [800] * 4, KWARGS, BETAS)
    assert settings == chapter


def test_every_other_network_keeps_the_given_size_and_its_own_beta():
    _, experiment, settings, _ = diagnostics.experiment_for("doubleadd_lstm", [8, 8], KWARGS, BETAS)
    assert experiment is doubleadd and (settings.model, settings.hidden, settings.beta) == ("lstm", [8, 8], 3e-4)
    with pytest.raises(ValueError, match="unknown model 'fnn_2000x4'"):
        diagnostics.experiment_for("fnn_2000x4", [8], KWARGS, BETAS)
