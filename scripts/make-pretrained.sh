#!/usr/bin/env bash
# Rebuilds the small pretrained 3b1b network shipped inside the package (used by
# `digitnet serve` when no model has been trained yet). Only the model file is kept;
# its checkpoint and history files stay in a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/digitnet train --preset 3b1b --seed 0 --out "$work/3b1b.safetensors" "$@"
mkdir -p src/digitnet/pretrained
cp "$work/3b1b.safetensors" src/digitnet/pretrained/3b1b.safetensors
echo "Wrote src/digitnet/pretrained/3b1b.safetensors"
