# Two commands set everything up on a fresh machine:
#   make demo   -- create/reuse .venv, install what the demo needs, run the demo
#   make test   -- create/reuse .venv, install the test extras too, run ruff and the tests
#   make docs   -- rerun the full demo and regenerate docs/demo.md and the README's numbers
PYTHON ?= python3
VENV ?= .venv
# torch is installed from this spec when no torch is importable in the venv. On a machine
# without an NVIDIA GPU it comes from PyTorch's CPU wheel index when that index answers
# within TORCH_PROBE_S seconds (the PyPI wheel is the CUDA build: 527 MB plus the CUDA
# libraries); otherwise, and if that install fails, from the plain pinned spec.
# Override e.g. TORCH_SPEC="torch==2.9.1" or TORCH_CPU_INDEX= (empty: never use the index).
TORCH_SPEC ?= torch==2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_PROBE_S ?= 5
BIN := $(VENV)/bin
DEMO_OUT ?= idscope-demo

.PHONY: demo test lint install install-demo docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, so that pip never resolves the `torch>=2.2` requirement to a CUDA build
$(VENV)/.torch: | $(BIN)/python
	@if $(BIN)/python -c "import torch" 2>/dev/null; then \
	    echo "torch already installed"; \
	elif [ -n "$(TORCH_CPU_INDEX)" ] && ! command -v nvidia-smi >/dev/null 2>&1 && \
	     timeout $$(( $(TORCH_PROBE_S) + 2 )) $(BIN)/python -c "import sys, urllib.request; \
	urllib.request.urlopen(sys.argv[1] + '/torch/', timeout=$(TORCH_PROBE_S))" \
	     "$(TORCH_CPU_INDEX)" >/dev/null 2>&1; then \
	    echo "no NVIDIA GPU: torch from the CPU wheel index $(TORCH_CPU_INDEX)"; \
	    $(BIN)/pip install --timeout 10 --retries 1 --index-url "$(TORCH_CPU_INDEX)" \
	        "$(TORCH_SPEC)" || \
	        $(BIN)/pip install "$(TORCH_SPEC)"; \
	else \
	    $(BIN)/pip install "$(TORCH_SPEC)"; \
	fi
	touch $@

# what `idscope demo` needs: the package and its core dependencies
$(VENV)/.installed-demo: pyproject.toml $(VENV)/.torch
	$(BIN)/pip install -e .
	touch $@

# the test extras (pytest, ruff, pyarrow, h5py, Pillow, transformers, Ray, ...)
$(VENV)/.installed: pyproject.toml $(VENV)/.installed-demo
	$(BIN)/pip install -e ".[test]"
	touch $@

install-demo: $(VENV)/.installed-demo

install: $(VENV)/.installed

demo: $(VENV)/.installed-demo
	$(BIN)/idscope demo --out $(DEMO_OUT)

docs: $(VENV)/.installed-demo
	$(BIN)/python docs/regenerate.py

test: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check .
