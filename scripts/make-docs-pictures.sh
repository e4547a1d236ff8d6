#!/usr/bin/env bash
# Regenerate the README pictures in docs/ from the trained 3b1b model.
#
#   bash scripts/make-docs-pictures.sh [MODEL]      (default models/3b1b.safetensors)
#
# Needs the package installed in .venv with the plots extra (make run does both) and MNIST in
# the cache (`.venv/bin/digitnet data fetch mnist`). Each picture is a small palette PNG.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL="${1:-models/3b1b.safetensors}"
DIGITNET=".venv/bin/digitnet"
if [ ! -f "$MODEL" ]; then
    echo "make-docs-pictures: no model at $MODEL; train it first: $DIGITNET train --preset 3b1b --out $MODEL" >&2
    exit 1
fi
mkdir -p docs

"$DIGITNET" show weights "$MODEL" -o docs/weights.png
"$DIGITNET" show activations "$MODEL" --test-index 0 -o docs/activations.png
"$DIGITNET" show neuron "$MODEL" --layer 0 --index 5 -o docs/neuron.png
"$DIGITNET" show mistakes "$MODEL" -o docs/mistakes.png
"$DIGITNET" show confusion "$MODEL" -o docs/confusion.png
"$DIGITNET" show training "$MODEL" -o docs/training.png

ls -l docs/weights.png docs/activations.png docs/neuron.png docs/mistakes.png docs/confusion.png docs/training.png
