"""Notebooks compose the package: what a per-seed result holds is computed by package code (inside the
cache key's code identity), never by code written in a notebook, and experiments never compute with the
modules that only judge or show results (editing those re-renders a chapter, it does not retrain it)."""

import ast
import re
from pathlib import Path

import pytest

from modularity import cache, runner

EXPERIMENTS = Path(cache.PACKAGE_DIR) / "experiments"


def package_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("modularity"):
            names |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.asname or alias.name for alias in node.names if alias.name.startswith("modularity")}
    return names


def root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


@pytest.mark.parametrize("name", runner.notebook_names())
def test_cached_results_are_computed_by_package_code(name):
    tree = ast.parse(runner.notebook_source(name))
    imported = package_names(tree)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr == "cached" and root_name(node.func) == "cache"]
    for call in calls:
        compute = call.args[3] if len(call.args) > 3 else next(k.value for k in call.keywords if k.arg == "compute")
        assert isinstance(compute, ast.Lambda), f"{name}: cache.cached needs `lambda: package_function(...)`"
        body = compute.body
        assert isinstance(body, ast.Call) and isinstance(body.func, ast.Attribute), \
            f"{name} line {call.lineno}: a cached result must come from one package function call"
        assert root_name(body.func) in imported, \
            f"{name} line {call.lineno}: {ast.unparse(body.func)} is not package code; move it into modularity/"


def test_experiments_do_not_compute_with_render_only_modules():
    judged = {m.removesuffix(".py") for m in cache.RENDER_ONLY} - {"cache", "provenance"}
    for path in EXPERIMENTS.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "modularity":
                used = {alias.name for alias in node.names} & judged
                assert not used, f"{path.name} imports {used}: per-seed results would depend on render-only code"


CITES_WORKING_NOTES = re.compile(r"weight_masks\.md|clustering\.md|\bspec §|\bspec `|\bthe spec\b|\bspec's\b")


def test_the_book_never_cites_our_working_notes():
    """Nor do the package's docstrings, which an API reference would show."""
    sources = [*runner.NOTEBOOKS.glob("*.py"), *(runner.REPO / "book").glob("*.md"), *cache.PACKAGE_DIR.rglob("*.py")]
    for path in sources:
        found = CITES_WORKING_NOTES.search(path.read_text())
        assert not found, f"{path.name} cites the project's working notes ({found.group(0)!r}); cite the paper"


GLUE_ROLE = re.compile(r"\{glue:text\}`([^`]*)`")


@pytest.mark.parametrize("name", runner.notebook_names())
def test_every_glue_role_is_well_formed(name):
    for role in GLUE_ROLE.findall(runner.notebook_source(name)):
        assert re.fullmatch(r"[A-Za-z0-9_]+(:[^`{}]*)?", role), f"{name}: malformed glue role `{role}`"
