"""The tutorial is a published chapter: its run shows what its text says (two planted tasks are found as two
modules by the masks and by the clusters, and every stock model kind is masked)."""

from modularity import runner


def test_the_published_tutorial_finds_the_planted_modules():
    manifest = runner.read_manifest("tutorial", "cpu")
    assert manifest is not None, "publish it: python -m modularity run tutorial --preset cpu"
    m = manifest["metrics"]
    assert m["iou"] < 0.1  # the two tasks' masks share almost no weight
    assert m["without_a_task_a"] < 0.6 < 0.9 < m["without_a_task_b"]  # removing A's weights loses A only
    assert m["agree_layer1"] == 1.0 and m["agree_layer2"] == 1.0  # clusters = the masks' modules
    assert m["ncut"] < m["shuffle_ncut_mean"]
    assert m["stock_models_masked"] == 6


def test_the_tutorial_is_first_in_the_book():
    toc = (runner.REPO / "book" / "_toc.yml").read_text()
    assert toc.index("_generated/tutorial") < toc.index("_generated/add_mul")
