"""The book builds strictly from the published runs, and a browser shows its figures and glued numbers."""

import fcntl
import json
import os
import re
import shutil

import nbformat
import pytest
import yaml

from modularity import book
from modularity.glue import glued_values

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    """book/_build, built once per test session. With parallel workers (``-n``) this file's tests may run on
    several of them: the first to get here builds under a lock, the others wait and use its build."""
    session = tmp_path_factory.getbasetemp()
    shared = session.parent if os.environ.get("PYTEST_XDIST_WORKER") else session  # a worker's is popen-gwN below it
    with open(shared / "book.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "book.built").exists():
            assert book.build(rerun=False) == 0
            (shared / "book.built").touch()
    return book.BOOK / "_build" / "html"


def chromium_path():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (see .ci/run)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


@pytest.mark.slow
def test_every_toc_chapter_and_the_runs_page_are_built(built_book):
    for name in book.chapters_in_toc():
        assert (built_book / "_generated" / f"{name}.html").exists()
    runs_page = (built_book / "_generated" / "runs.html").read_text()
    assert "add_mul" in runs_page and "cpu" in runs_page


GLUE_ROLE = re.compile(r"\{glue:text\}`([^`:]+)(?::([^`]*))?`")


def expected_glue_texts(notebook) -> list[str]:
    """How every {glue:text} role of a chapter must read, formatted from the manifest's exact values."""
    values = glued_values(notebook)
    texts = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for key, spec in GLUE_ROLE.findall(cell.source):
                assert key in values, f"the chapter cites {key!r}, which its notebook never glued"
                texts.append(format(values[key], spec) if spec else str(values[key]))
    return texts


@pytest.mark.slow
@pytest.mark.parametrize("name", book.chapters_in_toc())
def test_chapter_figures_load_and_glued_numbers_appear(built_book, name):
    from playwright.sync_api import sync_playwright

    shown = json.loads((book.GENERATED / "shown.json").read_text())[name]
    notebook = nbformat.read(book.GENERATED / f"{name}.ipynb", as_version=4)
    n_figures = sum("image/png" in output.get("data", {}) for cell in notebook.cells
                    for output in cell.get("outputs", []))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.goto((built_book / "_generated" / f"{name}.html").as_uri())
        page.wait_for_load_state("load")
        images = page.eval_on_selector_all(
            "main img", "imgs => imgs.map(i => ({src: i.src, ok: i.complete && i.naturalWidth > 0}))")
        text = page.inner_text("main")
        browser.close()
    assert n_figures >= 1 and len(images) >= n_figures, "every figure of the run must be on the page"
    assert all(image["ok"] for image in images), [i["src"] for i in images if not i["ok"]]
    assert f"published run {name} @ {shown}" in text
    expected = expected_glue_texts(notebook)
    assert expected, "a chapter's text should cite its glued numbers"
    missing = [t for t in expected if t not in text]
    assert not missing, f"glued values not shown on the page: {missing[:5]}"


@pytest.mark.parametrize("metrics, cell", [
    ({"claim_status": "partly reproduced"}, "**partly reproduced** at the `cpu` preset"),
    ({"claim_status": "reproduced", "claim_scope": "on T2 only"}, "**reproduced (on T2 only)** at the `cpu` preset"),
    ({"answer": "of the 3 trained networks, 3 partly aligned"},
     "at the `cpu` preset, of the 3 trained networks, 3 partly aligned"),
    ({}, "measured at the `cpu` preset; the chapter states its verdict"),
])
def test_the_front_page_states_each_chapters_computed_verdict(metrics, cell, monkeypatch):
    monkeypatch.setattr(book.runner, "read_manifest", lambda name, preset: {"metrics": metrics})
    assert book.claim_cell("any", "cpu", warning=False) == cell


def test_other_fresh_presets_get_pages_beside_their_chapter(monkeypatch, tmp_path):
    monkeypatch.setattr(book.runner, "presets_of",
                        lambda name: {p: {} for p in ("smoke", "cpu", "adhoc", "long", "paper_mlp")})
    monkeypatch.setattr(book.runner, "status",
                        lambda name, preset: ("missing", "missing") if preset == "long" else ("fresh", ""))
    # the chapter shows the first; the others get pages beside it; never smoke, ad hoc or a missing run
    assert book.runner.book_presets("x") == {"paper_mlp": "fresh", "cpu": "fresh"}
    assert list(book.runner.book_presets("x")) == ["paper_mlp", "cpu"]
    assert book.page_name("x", "cpu", "paper_mlp") == "x-cpu" and book.page_name("x", "cpu", "cpu") == "x"
    assert book.beside_page_name("x", "cpu") == "x-cpu"

    monkeypatch.setattr(book, "GENERATED", tmp_path)
    toc = yaml.safe_load(book.write_toc({"clusterability": ("cpu_all_rows", "cpu")}).read_text())
    committed = yaml.safe_load((book.BOOK / "_toc.yml").read_text())
    assert toc["root"] == committed["root"] and [p["caption"] for p in toc["parts"]] == [
        p["caption"] for p in committed["parts"]]
    chapters = [c for part in toc["parts"] for c in part["chapters"]]
    clusterability = next(c for c in chapters if c["file"] == "_generated/clusterability")
    assert clusterability["sections"] == [{"file": "_generated/clusterability-cpu_all_rows"},
                                          {"file": "_generated/clusterability-cpu"}]
    assert all("sections" not in c for c in chapters if c is not clusterability)


def test_a_page_beside_its_chapter_links_back_and_says_which_run_it_is(monkeypatch, tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_markdown_cell("Intro\n# Clusterability\ntext")])
    source = tmp_path / "run.ipynb"
    nbformat.write(nb, source)
    monkeypatch.setattr(book.runner, "read_manifest", lambda name, preset: {"preset": preset, "wall_time_s": 60})
    monkeypatch.setattr(book, "GENERATED", tmp_path / "generated")
    beside = book.stage_chapter("clusterability", "cpu", source, shown="paper_mlp", beside=("cpu",))
    chapter = book.stage_chapter("clusterability", "paper_mlp", source, shown="paper_mlp", beside=("cpu",))
    assert beside.name == "clusterability-cpu.ipynb" and chapter.name == "clusterability.ipynb"
    beside_nb, chapter_nb = (nbformat.read(p, as_version=4) for p in (beside, chapter))
    assert "# Clusterability — the `cpu` run" in beside_nb.cells[2].source
    assert "The chapter itself shows the `paper_mlp` run: {doc}`clusterability`" in beside_nb.cells[1].source
    assert "# Clusterability\n" in chapter_nb.cells[2].source
    assert "The same chapter at the `cpu` preset: {doc}`clusterability-cpu`" in chapter_nb.cells[1].source


@pytest.mark.parametrize("page", sorted(book.BOOK.glob("*.md")), ids=lambda p: p.name)
def test_book_pages_hold_no_control_characters(page):
    """A LaTeX command written from a Python string without r"" loses its backslash: \\frac becomes a form
    feed and "rac", \\top a tab and "op", and the page renders broken maths."""
    text = page.read_text()
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]|\t", text), page
