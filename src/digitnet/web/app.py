"""The FastAPI app: one page (static files, no CDN) and a JSON API under /api.

Routes only translate between HTTP and the library: preprocessing is digitnet.data.preprocess,
activations are Network/inspection, pictures of neurons are digitnet.inspection. The served
network is never modified: edited predictions run on a copy made for that request.
"""

from __future__ import annotations

import importlib.resources
import mimetypes
import os
import threading
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, FastAPI, File, HTTPException, Path as PathParam, Query, UploadFile
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from digitnet import inspection
from digitnet._version import __version__
from digitnet.data import preprocess
from digitnet.inspection import calibration
from digitnet.data.prepare import model_steps, prepare_for
from digitnet.modelfile import load
from digitnet.network import Network
from digitnet.web import contract
from digitnet.web.digits import not_a_digit
from digitnet.web.http import HeadAsGet, SecurityHeaders, StrictJSONRoute, add_error_handlers, hide_paths, one_line
from digitnet.web.images import DecodeQueue, DecoderBusy, ImageRefused, read_header
from digitnet.web.learn import install as install_learn_view
from digitnet.web.limits import IMAGE_LIMIT, JSON_LIMIT, ActiveRequestLimit, BodyLimitMiddleware
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

STATIC = Path(__file__).parent / "static"  # index.html, style.css, js/*.js (ES modules)
# Browsers run a module script only if it is served with a JavaScript MIME type; some systems'
# tables (the Windows registry) map .js to text/plain, so say the standard one (RFC 9239) here.
mimetypes.add_type("text/javascript", ".js")
PRETRAINED = "3b1b.safetensors"
TOP_CONNECTIONS = 32  # strongest connections listed per neuron and direction
MAX_SAMPLES = 48
PICTURE_CACHE = 1024  # neuron pictures kept (a "maximize" picture costs ~200 backward passes)


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
        self.steps = model_steps(net.metadata)  # the model's own preprocessing (deskew), if any
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
        """The prediction body for one input x (28×28 or 784 values), read through the model's own
        preprocessing (deskewing, if its file records it), as in training; digit null when x holds
        no digit.

        ValueError if an edited network's activations overflow (they cannot be sent as JSON).
        """
        net = net or self.net
        if np.size(x) == 784:
            # The preprocessing's rule first (what predict says of a file), then web.digits' (a blot, a haze).
            reason = preprocess.no_digit_reason(x) or not_a_digit(np.asarray(x))
            if reason is not None:
                return no_digit(reason)
        seen = prepare_for(self.net, np.asarray(x, dtype=np.float32))  # edits never change the preprocessing
        trace = inspection.activation_trace(net, seen)  # [seen, a₀, a₁, ..., output]
        output = trace[-1]
        probabilities = net.shares(output.reshape(1, -1))[0]  # (classes,), sums to 1
        if not all(np.isfinite(a).all() for a in trace) or not np.isfinite(probabilities).all():
            raise ValueError("the edited network's activations overflow (infinite or NaN); use smaller edits")
        total = float(probabilities.sum(dtype=np.float64))
        if total == 0.0:  # every sigmoid output underflowed to 0: no neuron is preferred
            probabilities = np.full_like(probabilities, 1.0 / len(probabilities))
        digit = int(output.argmax())  # Network.predict's rule: the most active output neuron
        confidence = float(calibration.calibrated_from(net, trace[-2].reshape(1, -1), output.reshape(1, -1))[0, digit])
        side = inspection.image_side(self.net)
        return {
            "digit": digit,
            "label": self.class_names[digit],
            "probabilities": probabilities.tolist(),
            "outputs": output.tolist(),
            "activations": [a.tolist() for a in trace[1:]],
            "confidence": confidence,
            "unsure": confidence < calibration.unsure_below(net),
            "note": None,
            # What the network read, when the model's own steps changed the input (else: the input).
            "seen": trace[0].reshape(side, side).tolist() if self.steps else None,
        }


def no_digit(note: str) -> dict[str, Any]:
    """The prediction body when there is no digit to read (blank, or a speck): digit null."""
    return {"digit": None, "label": None, "probabilities": None, "outputs": None, "activations": None, "seen": None,
            "confidence": None, "unsure": False, "note": note}


def edited_copy(net: Network, edits: list[Edit]) -> Network:
    """A copy of net with each edit applied in order: bias replaced, incoming weights scaled.

    A later edit of the same neuron applies on top of an earlier one.
    """
    clone = net.copy()
    for number, edit in enumerate(edits):
        where = f"edits[{number}]"
        try:
            layer, index = inspection.check_neuron(net, edit.layer, edit.index)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        if edit.bias is None and edit.weight_scale is None:
            raise ValueError(f"{where}: give bias, weight_scale or both")
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
        # The file's name only: where it lives on the server is nobody's business.
        served = Served(load(path), "the pretrained 3b1b network shipped with digitnet" if shipped
                        else f"the model file {path.name}")
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
    add_error_handlers(app)
    install_learn_view(app, served.net, lambda net, source: api_router(Served(net, source)))
    contract.install(app, served.net)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Outermost last: security headers on every answer, HEAD for every GET, then the limits.
    app.add_middleware(BodyLimitMiddleware, default=JSON_LIMIT, per_path={"/api/predict-image": IMAGE_LIMIT})
    app.add_middleware(ActiveRequestLimit)
    app.add_middleware(HeadAsGet)
    app.add_middleware(SecurityHeaders)
    return app


def check_servable(net: Network) -> None:
    try:
        inspection.image_side(net)
    except ValueError as error:
        raise ValueError(f"the web app draws square digit images; {error}") from None


def api_router(served: Served) -> APIRouter:
    # Fast routes (microseconds of NumPy for networks like the video's) are async: no thread hop.
    # Routes that may take long (activation maximisation, reading the test set) are plain
    # functions, which FastAPI runs in its thread pool, off the event loop; image decoding
    # goes through the DecodeQueue, which runs it there too.
    router = APIRouter(tags=["api"], route_class=StrictJSONRoute, responses=contract.ERROR_RESPONSES)
    net = served.net
    decoder = DecodeQueue()
    widest = max(dense.n_out for dense in net.layers)

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
            "metrics": _no_paths(net.metadata.get("metrics") or {}),
            "class_names": served.class_names,
            "dataset": _no_paths(net.metadata.get("dataset")),
            "source": served.source,
            "training": _no_paths(net.metadata.get("training")),
        }

    @router.post("/predict", response_model=Prediction, summary="Predict from 784 pixels in [0, 1]",
                 responses=contract.BODY_RESPONSES)
    async def predict(body: PixelsRequest) -> dict[str, Any]:
        return served.predict(body.pixels)

    @router.post("/predict-image", response_model=ImagePrediction, responses=contract.BODY_RESPONSES,
                 summary="Predict from an image file (PNG, JPEG, BMP, GIF, WebP), preprocessed like MNIST",
                 description="422 for a file that is not such an image, or one over the decode budget "
                 "(web.images: 16 megapixels, 48 MB decoded, 20:1, 8 bits per channel); 503 while too "
                 "many large images are being decoded.")
    async def predict_image(file: Annotated[UploadFile, File(description="the image file")]) -> dict[str, Any]:
        data = await file.read(IMAGE_LIMIT + 1)  # the middleware already bounded the body

        def decode() -> tuple[np.ndarray, dict[str, Any]]:
            try:
                return _to_mnist(data)  # (28, 28), what it did
            except preprocess.NoDigitError as nothing:
                return np.zeros((28, 28)), {"no_digit": nothing.note}
            except preprocess.PreprocessError as error:
                message = one_line(error)
            # Raised afresh, outside the except: the error's traceback would keep the decoded
            # image alive (its frames' locals) in the worker thread until that thread's next job.
            raise ImageRefused(message)

        try:
            header = read_header(data)  # refuses what is over the budget, from the header alone
            x, info = await decoder.run(header, decode)
        except (ImageRefused, preprocess.PreprocessError) as error:
            raise HTTPException(422, one_line(error)) from None
        except DecoderBusy as error:
            raise HTTPException(503, one_line(error), headers={"retry-after": "1"}) from None
        if "no_digit" in info:
            return {**no_digit(info["no_digit"]), "input": x.tolist(), "preprocessing": None}
        return {**served.predict(x), "input": x.tolist(), "preprocessing": _jsonable(info)}

    @router.post("/predict-edited", response_model=Prediction, responses=contract.BODY_RESPONSES,
                 summary="Predict with some neurons' biases or weights changed (on a copy; the served model never changes)")
    async def predict_edited(body: EditedRequest) -> dict[str, Any]:
        try:
            clone = edited_copy(net, body.edits)
            return served.predict(body.pixels, clone)
        except ValueError as error:
            raise HTTPException(422, one_line(error)) from None

    @router.get("/neuron/{layer}/{index}", response_model=NeuronInfo, summary="One neuron: bias, weights, picture",
                responses={404: {"model": contract.ErrorBody, "description": "No such neuron: the index is "
                                 "past the end of that layer (layers differ in size)"}})
    def neuron(
        # The served network's ranges, stated in the schema; check_neuron enforces them (404 with
        # a message naming the range). Defaults, not Annotated[]: `annotations` would leave those
        # as strings naming local variables.
        layer: int = PathParam(description="layer, from 0", json_schema_extra={"minimum": 0, "maximum": len(net.layers) - 1}),
        index: int = PathParam(description="neuron index within the layer, from 0 (layers differ in size)",
                               json_schema_extra={"minimum": 0, "maximum": widest - 1}),
        method: Annotated[Literal["weighted", "maximize"], Query(description="how to picture it")] = "weighted",
    ) -> dict[str, Any]:
        try:
            layer, index = inspection.check_neuron(net, layer, index)
        except ValueError as error:
            raise HTTPException(404, one_line(error)) from None
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
        problem = served.samples.problem and hide_paths(served.samples.problem)
        return {
            "available": problem is None,
            "dataset": served.dataset,
            "message": problem,
            "samples": picked,
        }

    return router


# --------------------------------------------------------------------------- helpers


def _to_mnist(data: bytes) -> tuple[np.ndarray, dict[str, Any]]:
    return preprocess.to_mnist(preprocess.load_image(data), return_info=True)


def _jsonable(info: dict[str, Any]) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in info.items()}


def _no_paths(value: Any) -> Any:
    """value (from model metadata) with every string's absolute paths cut to their last part."""
    if isinstance(value, str):
        return hide_paths(value)
    if isinstance(value, dict):
        return {key: _no_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_no_paths(item) for item in value]
    return value
