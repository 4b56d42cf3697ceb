# Thin aliases. The environment is made once (.venv, pinned by requirements.lock) and reused.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DATA_SOURCE ?= ../shared/data

.PHONY: book test run list data clean

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[book,dev,ray]" -c requirements.lock
	touch $@

data: $(VENV)/.installed
	@if [ -d "$(DATA_SOURCE)" ]; then $(PY) -m modularity data prepare --from "$(DATA_SOURCE)"; \
	else echo "no local dataset copy at $(DATA_SOURCE); chapters that need data will say how to prepare it"; fi

book: data
	$(PY) -m modularity book

# Tests run on two pytest-xdist workers; no two tests write the same files (the book is built once, under a
# lock), so any test may run on any worker. Plain `pytest` runs the same tests one after another.
TEST_WORKERS ?= 2

test: $(VENV)/.installed
	$(PY) -m pytest -n $(TEST_WORKERS)

run: $(VENV)/.installed
	$(PY) -m modularity run $(NOTEBOOK) $(if $(PRESET),--preset $(PRESET),)

list: $(VENV)/.installed
	$(PY) -m modularity list

clean:
	rm -rf book/_build book/_generated runs_local
