# Two commands for a newcomer: `make demo` and `make test`. Both rest on `make venv`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lab lint format bench clean

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

# JupyterLab on loopback with the project's kernel (this venv's Python) for notebooks/. The
# notebooks read the data root from WORKBENCH_DATA (default: this repository's data/), and a git
# filter (nbstripout) keeps their outputs out of commits.
WORKBENCH_DATA ?= $(CURDIR)/data
lab: venv
	$(BIN)/python -m ipykernel install --sys-prefix --name headshot-workbench --display-name "Python 3 (headshot workbench)" >/dev/null
	-$(BIN)/nbstripout --install
	WORKBENCH_DATA=$(WORKBENCH_DATA) $(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 \
	    --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/notebooks

format: venv
	$(BIN)/ruff format workbench tests benchmarks app.py
	$(BIN)/ruff check --fix workbench tests benchmarks app.py

bench: venv
	$(BIN)/python benchmarks/bench_simulator.py
	$(BIN)/python benchmarks/bench_sweep.py
	$(BIN)/python benchmarks/bench_catalogue.py
	$(BIN)/python benchmarks/bench_grid.py
	$(BIN)/python benchmarks/bench_leaderboard.py
	$(BIN)/python benchmarks/bench_scoring.py
	$(BIN)/python benchmarks/bench_hunt.py
	$(BIN)/python benchmarks/bench_app.py

clean:
	rm -rf $(VENV) build *.egg-info
