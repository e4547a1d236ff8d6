"""digitnet's web app: draw a digit and watch the network think.

    from digitnet.web import create_app
    app = create_app("models/3b1b.safetensors")    # or a Network, or None for the default model

`digitnet serve` runs it with uvicorn on 127.0.0.1:8000. The page (static/, no CDN, no build
step) and the JSON API under /api (schema at /openapi.json) only show the library's numbers:
preprocessing is digitnet.data.preprocess, neurons and activations are digitnet.inspection.
Needs the `web` extra: pip install 'digitnet[web]'.
"""

from digitnet.web.app import choose_model, create_app, pretrained_path

__all__ = ["choose_model", "create_app", "pretrained_path"]
