# Two commands set everything up on a fresh machine:
#   make demo   -- create/reuse .venv, install, run the main job
#   make test   -- create/reuse .venv, install, run the test suite
PYTHON ?= python3
VENV ?= .venv
# torch is installed from this spec when no torch is importable in the venv; the pin keeps
# pip from pulling a multi-GB CUDA build. Override e.g. TORCH_SPEC="torch==2.9.1".
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
DEMO_OUT ?= idscope-demo

.PHONY: demo test lint install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install "$(TORCH_SPEC)"
	$(BIN)/pip install -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/idscope demo --out $(DEMO_OUT)

test: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check .
