"""Printed at the end of `make run`: what to try after the first trained model.

Every line runs as printed on a machine where `make run` just finished: the digits come from the
MNIST test set it fetched (--test-index), and the pictures are written to files these lines name.
"""

import sys

TEXT = """
Next, try:
  .venv/bin/digitnet predict {model} --test-index 0 --test-index 1 --show-input seen
  .venv/bin/digitnet show weights {model} -o weights.png
  .venv/bin/digitnet show activations {model} --test-index 0 -o flow.png
  .venv/bin/digitnet inspect {model}
  .venv/bin/digitnet train --preset modern --out models/modern.safetensors
  .venv/bin/digitnet serve {model}      # then open http://127.0.0.1:8000
"""

if __name__ == "__main__":
    print(TEXT.format(model=sys.argv[1] if len(sys.argv) > 1 else "models/3b1b.safetensors"))
