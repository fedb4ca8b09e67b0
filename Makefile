# Anomaly Studio — developer entry points. `make run` and `make test` are the README quick start.
# Both create .venv (Python 3.11) from pyproject.toml on first use and whenever pyproject changes.

PYTHON ?= $(shell for p in python3.11 python3 python; do \
             command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null && { echo $$p; break; }; \
           done)
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed
export NO_ALBUMENTATIONS_UPDATE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint setup bench bundle clean-venv

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Anomaly Studio needs Python 3.11 (python3.11 not found on PATH)."; exit 1; }
	@echo "Setting up $(VENV) with $(PYTHON) (first time: a few minutes; torch is large)…"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,retouch]"
	$(BIN)/python -m pip install --quiet --no-deps oct-converter==0.6.2  # no opencv-python next to PySide6: README, Development
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/anomaly-studio

test: $(STAMP) lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

bundle: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[packaging]"
	$(BIN)/python -m pip install --quiet --no-deps oct-converter==0.6.2
	$(BIN)/python packaging/build.py $(BUNDLE_ARGS)

clean-venv:
	rm -rf $(VENV)
