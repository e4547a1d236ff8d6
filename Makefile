# Each public target does all of its own set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOK_STAMP := $(VENV)/.notebook-installed

.PHONY: run test bench tour system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The main job: fetch MNIST, train the video's network (or reuse it; an interrupted run
# continues from its checkpoint), evaluate, say what next.
run: $(STAMP)
	$(BIN)/digitnet data fetch mnist
	@if [ -f models/3b1b.safetensors ]; then \
		echo "Reusing models/3b1b.safetensors (delete it to train again)."; \
	else \
		$(BIN)/digitnet train --preset 3b1b --out models/3b1b.safetensors --resume; \
	fi
	$(BIN)/digitnet evaluate models/3b1b.safetensors
	@$(BIN)/python -m digitnet.commands.next_steps models/3b1b.safetensors

system-deps:
	@bash scripts/install-system-deps.sh

test: $(STAMP) system-deps
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/realworld.py

$(NOTEBOOK_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[notebook]'
	touch $(NOTEBOOK_STAMP)

# The guided tour in JupyterLab. On a machine without a browser:
#   make tour JUPYTER_ARGS=--no-browser     (then open the http://127.0.0.1:8888/lab?token=... it prints)
# Jupyter refuses to run as root unless told; as root (containers, CI machines) it is told.
JUPYTER_ARGS ?=
tour: $(NOTEBOOK_STAMP)
	$(BIN)/digitnet data fetch mnist
	$(BIN)/jupyter lab notebooks/tour.ipynb $(if $(filter 0,$(shell id -u)),--allow-root) $(JUPYTER_ARGS)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
