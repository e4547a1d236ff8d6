"""The FastAPI app: one page (static files, no CDN) and a JSON API under /api.

Routes only translate between HTTP and the library: preprocessing is digitnet.data.preprocess,
activations are Network/inspection, pictures of neurons are digitnet.inspection. The served
network is never modified: edited predictions run on a copy made for that request.
"""

from __future__ import annotations

import importlib.resources
import logging
import mimetypes
import os
import threading
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, FastAPI, File, HTTPException, Path as PathParam, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digitnet import inspection
from digitnet._version import __version__
from digitnet.data import preprocess
from digitnet.data.prepare import prepare_for
from digitnet.modelfile import load
from digitnet.network import Network
from digitnet.web.limits import IMAGE_LIMIT, JSON_LIMIT, BodyLimitMiddleware
from digitnet.web.samples import SampleSource
from digitnet.web.schemas import (
    Connection,
    Edit,
    EditedRequest,
    ImagePrediction,
    ModelInfo,
    NeuronInfo,
    PixelsRequest,
    Prediction,
    Samples,
)

log = logging.getLogger("digitnet.web")

STATIC = Path(__file__).parent / "static"  # index.html, style.css, js/*.js (ES modules)
# Browsers run a module script only if it is served with a JavaScript MIME type; some systems'
# tables (the Windows registry) map .js to text/plain, so say the standard one (RFC 9239) here.
mimetypes.add_type("text/javascript", ".js")
PRETRAINED = "3b1b.safetensors"
TOP_CONNECTIONS = 32  # strongest connections listed per neuron and direction
MAX_SAMPLES = 48
IMAGE_WORKERS = 2  # images decoded at once: bounds the memory a burst of large uploads can take
PICTURE_CACHE = 1024  # neuron pictures kept (a "maximize" picture costs ~200 backward passes)

SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
     b"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


# --------------------------------------------------------------------------- which model


def pretrained_path() -> Path:
    """The small pretrained 3b1b network shipped inside the package."""
    return Path(str(importlib.resources.files("digitnet").joinpath("pretrained", PRETRAINED)))


def choose_model(model: str | os.PathLike | None = None) -> tuple[Path, str]:
    """The model file to serve and one sentence saying which it is and why.

    MODEL if given; else the model most recently trained by `digitnet train`; else the
    pretrained 3b1b network shipped with digitnet. ValueError if there is none.
    """
    from digitnet.training.run import last_model

    if model is not None:
        return Path(model), f"Serving {model}."
    last = last_model()
    if last is not None:
        return last, f"Serving {last}, the model you trained most recently (pass MODEL to serve another)."
    pretrained = pretrained_path()
    if pretrained.is_file():
        return pretrained, (
            "No trained model found: serving the pretrained 3b1b network shipped with digitnet "
            "(train your own with `digitnet train --preset 3b1b`)."
        )
    raise ValueError(
        "no model to serve: none trained yet and the pretrained model is missing from the package; "
        "train one with `digitnet train --preset 3b1b` or pass MODEL"
    )


# --------------------------------------------------------------------------- the served model


class Served:
    """The network being served, with what the routes need to describe it. Read-only."""

    def __init__(self, net: Network, source: str) -> None:
        self.net = net
        self.source = source
        self.class_names = [str(name) for name in net.metadata.get("class_names") or range(net.num_outputs)]
        if len(self.class_names) != net.num_outputs:
            self.class_names = [str(k) for k in range(net.num_outputs)]
        self.dataset = net.metadata.get("dataset") or "mnist"
        self.samples = SampleSource(net, self.dataset)
        self._pictures: dict[tuple[int, int, str], np.ndarray] = {}
        self._pictures_lock = threading.Lock()

    def picture(self, layer: int, index: int, method: str) -> np.ndarray:
        key = (layer, index, method)
        with self._pictures_lock:
            cached = self._pictures.get(key)
        if cached is None:
            cached = inspection.neuron_picture(self.net, layer, index, method=method)
            with self._pictures_lock:
                if len(self._pictures) >= PICTURE_CACHE:
                    self._pictures.clear()
                self._pictures[key] = cached
        return cached

    def predict(self, x: np.ndarray, net: Network | None = None) -> dict[str, Any]:
        """The prediction body for one input x (28×28 or 784 values), read through the model's
        own preprocessing (deskewing, if its file records it), as in training."""
        seen = prepare_for(self.net, np.asarray(x, dtype=np.float32))  # edits never change the preprocessing
        trace = inspection.activation_trace(net or self.net, seen)  # [x, a₀, a₁, ..., output]
        output = trace[-1]
        digit = int(output.argmax())  # Network.predict's rule: the most active output neuron
        side = inspection.image_side(self.net)
        return {
            "digit": digit,
            "label": self.class_names[digit],
            "probabilities": output.tolist(),
            "activations": [a.tolist() for a in trace[1:]],
            "seen": trace[0].reshape(side, side).tolist(),
        }


def edited_copy(net: Network, edits: list[Edit]) -> Network:
    """A copy of net with each edit applied: bias replaced, incoming weights scaled."""
    clone = net.copy()
    seen: set[tuple[int, int]] = set()
    for number, edit in enumerate(edits):
        where = f"edits[{number}]"
        try:
            layer, index = inspection.check_neuron(net, edit.layer, edit.index)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        if (layer, index) in seen:
            raise ValueError(f"{where}: neuron (layer {layer}, index {index}) is edited twice; send one edit per neuron")
        if edit.bias is None and edit.weight_scale is None:
            raise ValueError(f"{where}: give bias, weight_scale or both")
        seen.add((layer, index))
        dense = clone.layers[layer]
        if edit.bias is not None:
            dense.bias[index] = edit.bias
        if edit.weight_scale is not None:
            dense.weight[index] *= dense.weight.dtype.type(edit.weight_scale)  # row = neuron's inputs
    return clone


def _strongest(weights: np.ndarray, k: int = TOP_CONNECTIONS) -> list[Connection]:
    order = np.argsort(-np.abs(weights), kind="stable")[:k]
    return [Connection(neuron=int(i), weight=float(weights[i])) for i in order]


PICTURE_TEXT = {
    ("weighted", True): "its incoming weights, one per pixel: ink on blue pixels excites it, ink on red ones inhibits it",
    ("weighted", False): "what it looks for: the row of W_L ⋯ W_0, the pictures of the layer before weighted by "
                         "how strongly each feeds it (blue excites, red inhibits; ignores the σ in between)",
    ("maximize", True): "an input that excites it most (activation maximisation by gradient ascent)",
    ("maximize", False): "an input that excites it most (activation maximisation by gradient ascent)",
}


# --------------------------------------------------------------------------- the app


def create_app(model: Network | str | os.PathLike | None = None) -> FastAPI:
    """The web app serving `model`: a Network, a model file path, or None for choose_model()'s pick."""
    if isinstance(model, Network):
        served = Served(model, "a Network object")
    else:
        path, _ = choose_model(model)
        shipped = path.resolve() == pretrained_path().resolve()
        served = Served(load(path), "the pretrained 3b1b network shipped with digitnet" if shipped else str(path))
    check_servable(served.net)

    app = FastAPI(
        title="digitnet",
        version=__version__,
        summary="Draw a digit and watch the network of 3Blue1Brown's 'But what is a neural network?' think.",
        docs_url=None,  # Swagger UI and ReDoc load their scripts from a CDN; the schema is at /openapi.json
        redoc_url=None,
    )
    app.state.served = served
    app.include_router(api_router(served), prefix="/api")
    _add_error_handlers(app)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimitMiddleware, default=JSON_LIMIT, per_path={"/api/predict-image": IMAGE_LIMIT})
    app.add_middleware(SecurityHeaders)
    return app


def check_servable(net: Network) -> None:
    try:
        inspection.image_side(net)
    except ValueError as error:
        raise ValueError(f"the web app draws square digit images; {error}") from None


def api_router(served: Served) -> APIRouter:
    # Fast routes (microseconds of NumPy for networks like the video's) are async: no thread hop.
    # Routes that may take long (decoding an image, activation maximisation, reading the test
    # set) are plain functions, which FastAPI runs in its thread pool, off the event loop.
    router = APIRouter(tags=["api"])
    net = served.net
    decode_slots = threading.BoundedSemaphore(IMAGE_WORKERS)

    @router.get("/model", response_model=ModelInfo, summary="Architecture, parameter counts, metrics")
    async def model_info() -> dict[str, Any]:
        return {
            "sizes": net.sizes,
            "activation": net.activation,
            "output_activation": net.output_activation,
            "layers": [
                {**counts, "activation": dense.activation}
                for counts, dense in zip(inspection.parameter_counts(net), net.layers)
            ],
            "num_parameters": net.num_parameters,
            "metrics": net.metadata.get("metrics") or {},
            "class_names": served.class_names,
            "dataset": net.metadata.get("dataset"),
            "source": served.source,
            "training": net.metadata.get("training"),
        }

    @router.post("/predict", response_model=Prediction, summary="Predict from 784 pixels in [0, 1]")
    async def predict(body: PixelsRequest) -> dict[str, Any]:
        return served.predict(body.pixels)

    @router.post("/predict-image", response_model=ImagePrediction,
                 summary="Predict from an image file (PNG, JPEG, BMP, GIF, WebP), preprocessed like MNIST")
    def predict_image(file: Annotated[UploadFile, File(description="the image file")]) -> dict[str, Any]:
        data = file.file.read(IMAGE_LIMIT + 1)  # the middleware already bounded the body
        with decode_slots:
            try:
                image = preprocess.load_image(data)
                x, info = preprocess.to_mnist(image, return_info=True)  # (28, 28)
            except preprocess.PreprocessError as error:
                raise HTTPException(422, _one_line(error)) from None
        return {**served.predict(x), "input": x.tolist(), "preprocessing": _jsonable(info)}

    @router.post("/predict-edited", response_model=Prediction,
                 summary="Predict with some neurons' biases or weights changed (on a copy; the served model never changes)")
    async def predict_edited(body: EditedRequest) -> dict[str, Any]:
        try:
            clone = edited_copy(net, body.edits)
        except ValueError as error:
            raise HTTPException(422, _one_line(error)) from None
        return served.predict(body.pixels, clone)

    @router.get("/neuron/{layer}/{index}", response_model=NeuronInfo, summary="One neuron: bias, weights, picture")
    def neuron(
        layer: Annotated[int, PathParam(description="layer, from 0")],
        index: Annotated[int, PathParam(description="neuron index within the layer, from 0")],
        method: Annotated[Literal["weighted", "maximize"], Query(description="how to picture it")] = "weighted",
    ) -> dict[str, Any]:
        try:
            layer, index = inspection.check_neuron(net, layer, index)
        except ValueError as error:
            raise HTTPException(404, _one_line(error)) from None
        dense = net.layers[layer]
        incoming = dense.weight[index]  # (n_in,)
        following = net.layers[layer + 1].weight[:, index] if layer + 1 < len(net.layers) else np.zeros(0)
        return {
            "layer": layer,
            "index": index,
            "activation": dense.activation,
            "bias": float(dense.bias[index]),
            "picture": served.picture(layer, index, method).tolist(),
            "picture_method": method,
            "picture_description": PICTURE_TEXT[(method, layer == 0)],
            "incoming": _strongest(incoming),
            "outgoing": _strongest(following),
            "weight_range": [float(incoming.min()), float(incoming.max())],
        }

    @router.get("/samples", response_model=Samples, summary="Test-set digits, including some the model gets wrong")
    def samples(
        count: Annotated[int, Query(ge=1, le=MAX_SAMPLES)] = 12,
        mistakes: Annotated[int, Query(ge=0, le=MAX_SAMPLES, description="how many of them to take from its confident mistakes")] = 4,
        seed: Annotated[int, Query(ge=0, le=2**32 - 1)] = 0,
    ) -> dict[str, Any]:
        picked = served.samples.pick(count, mistakes, seed)
        problem = served.samples.problem
        return {
            "available": problem is None,
            "dataset": served.dataset,
            "message": problem,
            "samples": picked,
        }

    return router


# --------------------------------------------------------------------------- errors


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in error.errors()[:20]  # never echo the input back: it may be a megabyte
        ]
        return JSONResponse(status_code=422, content={"detail": _summary(error.errors()), "errors": errors})

    @app.exception_handler(Exception)
    async def bug(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal server error (a bug in digitnet); the server keeps running"})


def _summary(errors: list[dict[str, Any]]) -> str:
    """One line for the first few validation errors."""
    parts = []
    for e in errors[:3]:
        loc = [part for part in e.get("loc", ()) if part != "body"]
        message = str(e.get("msg", "invalid"))
        if e.get("type") == "json_invalid":
            reason = (e.get("ctx") or {}).get("error", "")
            parts.append(f"the body is not valid JSON ({reason} at character {loc[0] if loc else '?'})")
            continue
        if not loc:
            parts.append(f"the body must be a JSON object (Content-Type: application/json); {message}")
            continue
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
        message = message.removeprefix("Value error, ")
        parts.append(message if message.startswith(f"{loc[-1]} ") else f"{where}: {message}")
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more")
    return "; ".join(parts)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _jsonable(info: dict[str, Any]) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in info.items()}


class SecurityHeaders:
    """Adds a strict Content-Security-Policy (everything from this server, nothing inline) and friends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
