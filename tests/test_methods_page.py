"""The methods page quotes the verdict rules and method constants the package uses (it is not rendered from a
run, so a test keeps its numbers true)."""

import re

import pytest

from modularity import book, verdicts
from modularity.experiments import networks

METHODS = (book.BOOK / "methods.md").read_text()


def bullet(title: str) -> str:
    match = re.search(rf"- \*\*{re.escape(title)}\*\*(.*?)(?=\n- \*\*|\n\n)", METHODS, re.S)
    assert match, f"methods.md has no bullet **{title}**"
    return match.group(1)


@pytest.mark.parametrize("title, constants", [
    ("Accuracy retained.", [verdicts.KEPT_AT, verdicts.LOST_AT, verdicts.MIN_REFERENCE_ABOVE_CHANCE]),
    ("Overlap.", [verdicts.STRONG_AT, verdicts.PARTIAL_AT]),
    ("Masks against clusters.", [verdicts.SIGNIFICANT_AT, verdicts.ALIGNED_AT]),
    ("Lesion taxonomy (P1).", [verdicts.SMALL_SUB_CLUSTER, verdicts.LARGE_DROP]),
])
def test_each_verdict_rule_quotes_its_thresholds(title, constants):
    text = bullet(title)
    for value in constants:
        assert re.search(rf"(?<![\d.]){re.escape(str(value))}(?![\d])", text), f"{title} does not quote {value}"


def test_the_authors_comparison_and_the_cluster_gradient_constants():
    assert verdicts.MAJORITY == 0.5 and "at least half" in bullet("Beside the authors' numbers.")
    strength, count = networks.CLUSTER_GRAD_STRENGTH, networks.CLUSTER_GRAD_EIGENVALUES
    assert rf"$\lambda = {strength}$, $m = {count}$" in METHODS
