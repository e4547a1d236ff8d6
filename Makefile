# Each public target does all of its own set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench system-deps clean

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

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
