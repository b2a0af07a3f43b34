# Each target sets itself up: a fresh clone needs only python3, pip and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

## run: the default scenario (NærBolig, best evidence) into outputs/naerbolig/, summary on screen
run: $(STAMP)
	$(BIN)/simulate run configs/naerbolig.yaml --out outputs/naerbolig --force --report

## test: the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest

## test-fast: the suite without the slow statistical checks
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

clean:
	rm -rf $(VENV) outputs/*/ .pytest_cache .hypothesis
