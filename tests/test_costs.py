"""Estimated costs of presets not yet run: work counted by hand, and the README's words."""

import pytest

from modularity import costs


def test_work_is_units_times_steps_times_weights():
    params = {"seeds": 2, "models": ["fnn", "lstm"], "fnn_hidden": [10, 10], "lstm_hidden": 4,
              "fnn_base_steps": 100, "lstm_base_steps": 100, "mask_steps": 50}
    # fnn: 10·10 + 10 + 10 = 120 weights, lstm: 4² = 16; steps 100 + 100 + 50; 2 seeds
    assert costs.work("add_mul", params) == pytest.approx((120 + 16) * 250 * 2)
    assert costs.work("add_mul", params | {"models": ["fnn"]}) == pytest.approx(120 * 250 * 2)


def test_network_names_and_the_half_mask_network_count_their_own_weights():
    assert costs._hidden_of("800x4") == [800] * 4 and costs._hidden_of("400_400_200") == [400, 400, 200]
    assert costs._fnn_or_lstm({"fnn_hidden": [1]}, "fnn_800x4") == 3 * 800 * 800 + 1600


def test_every_driver_names_parameters_its_notebook_declares():
    from modularity import runner

    for name, (units, steps, weights) in costs.DRIVERS.items():
        params = runner.resolved_parameters(name, "cpu")
        assert set(units) | set(steps) <= set(params), name
        assert all(w > 0 for w in weights(params)), name
