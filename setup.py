"""Ship the notebooks and their presets inside the package, so an installed ``modularity`` can run them.

Everything else is in pyproject.toml; setuptools runs this only to add the copy step to ``build_py``.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


class BuildWithNotebooks(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "modularity" / "notebooks"
        target.mkdir(parents=True, exist_ok=True)
        for source in NOTEBOOKS.iterdir():
            if source.suffix in (".py", ".yaml"):
                shutil.copy2(source, target / source.name)


setup(cmdclass={"build_py": BuildWithNotebooks})
