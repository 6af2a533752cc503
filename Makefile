# Two commands for a newcomer: `make demo` and `make test`. Both rest on `make venv`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint format bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: venv
	$(BIN)/python app.py

test: venv
	$(BIN)/ruff check workbench tests benchmarks app.py
	$(BIN)/ruff format --check workbench tests benchmarks app.py
	$(BIN)/python -m pytest -q

format: venv
	$(BIN)/ruff format workbench tests benchmarks app.py
	$(BIN)/ruff check --fix workbench tests benchmarks app.py

bench: venv
	$(BIN)/python benchmarks/bench_simulator.py
	$(BIN)/python benchmarks/bench_sweep.py
	$(BIN)/python benchmarks/bench_catalogue.py
	$(BIN)/python benchmarks/bench_grid.py

clean:
	rm -rf $(VENV) build *.egg-info
