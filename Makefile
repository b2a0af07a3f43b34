# Each target sets itself up: a fresh clone needs only python3, pip and make. With a C compiler pip also
# builds the optional kernels (simulate/_kernels.c); PYTHONWARNINGS=ignore keeps the build's notices
# (editable install, ext-modules table) out of make's output.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-slow bench clean

$(STAMP): pyproject.toml simulate/_kernels.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

## run: the default scenario (NærBolig, best evidence) into outputs/naerbolig/, summary on screen
run: $(STAMP)
	$(BIN)/simulate run configs/naerbolig.yaml --out outputs/naerbolig --force --report

## test: the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest

## test-slow: the slow statistical checks (the law tests at 10^6 trials per engine)
test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -s

## bench: speed and memory figures (prints a table, writes benchmarks/results.json)
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

clean:
	rm -rf $(VENV) outputs/*/ .pytest_cache .hypothesis
