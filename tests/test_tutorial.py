"""The "use it on your own model" page runs as written and shows what it says it shows."""

import re
from pathlib import Path

from modularity import mask_algebra

TUTORIAL = Path(__file__).resolve().parents[1] / "book" / "tutorial.md"


def test_the_tutorial_code_runs_and_finds_the_planted_modules(capsys):
    code = "\n".join(re.findall(r"```python\n(.*?)```", TUTORIAL.read_text(), flags=re.S))
    assert code, "the tutorial has no code block"
    namespace = {"__name__": "tutorial"}
    exec(compile(code, str(TUTORIAL), "exec"), namespace)
    printed = capsys.readouterr().out
    assert "without task A's weights" in printed and "hidden layer 2" in printed
    assert mask_algebra.iou(namespace["mask_a"], namespace["mask_b"]) < 0.1
    assert namespace["scores"]["significant"]
