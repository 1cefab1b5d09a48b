# Everything installs into .venv; `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_STAMP := $(VENV)/.installed-torch

.PHONY: install install-torch run test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python -q -e ".[dev,models]"
	touch $(STAMP)

# PyTorch (the GPU backend and its tests) through pip rather than uv: pip honours a pip.conf that
# points at a local CPU build, and uv would fetch the default CUDA build instead.
install-torch: $(TORCH_STAMP)

$(TORCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q "torch==2.13.0"
	touch $(TORCH_STAMP)

run: install
	$(BIN)/tilework serve

test: install-torch
	$(BIN)/pytest

lint: install-torch
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/submit.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
