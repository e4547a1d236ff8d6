"""Printed at the end of `make run`: what to try after the first trained model."""

import sys

TEXT = """
Next, try:
  .venv/bin/digitnet predict {model} path/to/your-digit.png --show-input seen.png
  .venv/bin/digitnet show weights {model} -o weights.png
  .venv/bin/digitnet show activations {model} path/to/your-digit.png -o flow.png
  .venv/bin/digitnet inspect {model}
  .venv/bin/digitnet train --preset modern --out models/modern.safetensors
  .venv/bin/digitnet serve {model}      # then open http://127.0.0.1:8000
"""

if __name__ == "__main__":
    print(TEXT.format(model=sys.argv[1] if len(sys.argv) > 1 else "models/3b1b.safetensors"))
