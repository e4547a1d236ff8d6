"""Print a SHA-256 over a model file's tensors (names and bytes, in name order).

Two runs that should be bit-identical (same seed before and after a refactor, a resumed run and
an uninterrupted one) print the same hash:
    digitnet train --preset 3b1b --epochs 2 --out /tmp/a.safetensors
    python scripts/weights-hash.py /tmp/a.safetensors
"""

import hashlib
import sys

from safetensors.numpy import load_file

for path in sys.argv[1:]:
    tensors = load_file(path)
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(tensors[name].tobytes())
    print(f"{digest.hexdigest()}  {path}")
