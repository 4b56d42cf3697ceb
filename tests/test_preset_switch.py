"""A Jupyter or papermill user switches a notebook to a preset with one edit: `preset = "smoke"`."""

import pytest

from modularity import runner
from modularity.parameters import ParameterError, check_notebook_parameters, declared_parameters


@pytest.mark.parametrize("name", runner.notebook_names())
def test_every_notebook_has_the_switch_and_it_is_not_a_parameter(name):
    assert '\npreset: str = ""' in runner.notebook_source(name)
    assert "preset" not in declared_parameters(runner.notebook_source(name))


def test_the_switch_takes_every_value_from_the_preset():
    namespace = {"preset": "smoke"}
    check_notebook_parameters("sharing_vs_size", namespace)
    expected = runner.resolved_parameters("sharing_vs_size", "smoke")
    assert {k: namespace[k] for k in expected} == expected


def test_an_empty_switch_keeps_the_cells_values_and_a_wrong_one_names_the_presets():
    namespace = {"preset": ""}
    check_notebook_parameters("sharing_vs_size", namespace)
    assert namespace["seeds"] == declared_parameters(runner.notebook_source("sharing_vs_size"))["seeds"].default
    with pytest.raises(ParameterError, match="'fast' is not a preset of sharing_vs_size; its presets: smoke, cpu"):
        check_notebook_parameters("sharing_vs_size", {"preset": "fast"})
