"""The Learn view's API: backpropagation for one example, and live training streamed as events.

    POST /api/backprop        {"pixels": [784 in 0..1], "label": N, "loss"?}  -> inspection.backprop's dict
    POST /api/backprop/step   {"pixels", "label", "learning_rate"?, "steps"?}  -> outputs and cost before/after
    POST /api/learn           {"preset"?, "epochs"?, "learning_rate"?}          -> text/event-stream
    POST /api/learn/{session}/pause | resume | step | stop
    POST /api/learn/{session}/network   -> {"network": id, "api": "/api/nets/{id}"}: "use this network"
    /api/nets/{id}/...        that network behind the draw view's routes (web/networks.py)

/api/learn streams Server-Sent Events: each `data:` line is one JSON object, the events of
digitnet.training.live ("start" first, carrying the session id every later event repeats, "done"
last) with layer 0's weights as int8 pictures (digitnet.training.live_process). Training runs in a
child process per session (web/sessions.py): never on the event loop, stopped the moment its
viewer disconnects, capped in number, lifetime and epochs. The backprop routes run on the served
network and never change it (a gradient step is taken on a copy). Routes only translate between
HTTP and the library.
"""

import json
import math
from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, FastAPI, HTTPException, Path as PathParam
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model
from starlette.types import ASGIApp

from digitnet import inspection
from digitnet.inspection.backprop import MAX_STEPS
from digitnet.layers import Dense
from digitnet.network import Network
from digitnet.training.live_process import decode_network
from digitnet.training.presets import preset
from digitnet.web import contract
from digitnet.web.http import StrictJSONRoute, add_error_handlers
from digitnet.web.networks import UserNetworks
from digitnet.web.schemas import ErrorBody, Pixels, WholeNumber, integral
from digitnet.web.sessions import COMMANDS, MAX_EPOCHS, PRESETS, SessionLimits, Sessions, TooManySessions

MAX_LEARNING_RATE = 100.0
MAX_PAGE_STEPS = 100  # gradient steps on one drawn digit per request

SessionId = Annotated[str, PathParam(max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="the id its first event gave")]


class PixelsBody(BaseModel):
    # Strict: "label": "3" or true is refused, not read as 3 or 1; unknown keys are refused.
    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid", strict=True)

    pixels: Pixels


def request_models(net: Network) -> tuple[type[BaseModel], type[BaseModel]]:
    """The bodies of /backprop and /backprop/step for this network: its labels are 0..n_out − 1,
    stated in the schema. (The cost is the model's own, inspection.default_loss.)"""
    label = Field(ge=0, le=net.num_outputs - 1, description="the digit it really is: the target of the cost")
    backprop = create_model("BackpropRequest", __base__=PixelsBody, label=(WholeNumber, label))
    step = create_model(
        "StepRequest", __base__=backprop,
        learning_rate=(float | None, Field(default=None, gt=0, le=MAX_LEARNING_RATE, allow_inf_nan=False,
                                           description="η; default the model's SGD rate, else 3 (the video's)")),
        steps=(WholeNumber, Field(default=1, ge=1, le=min(MAX_STEPS, MAX_PAGE_STEPS),
                                  description="gradient steps on this one example")),
    )
    return backprop, step


class LearnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    preset: Literal[PRESETS] = Field(default="3b1b", description="the recipe: 3b1b (the video's) or modern")  # type: ignore[valid-type]
    epochs: Annotated[int, Field(ge=1, le=MAX_EPOCHS), BeforeValidator(integral)] | None = Field(
        default=None, description="passes over the training images (default: the preset's, at most the server's cap)")
    learning_rate: float | None = Field(default=None, gt=0, le=MAX_LEARNING_RATE, allow_inf_nan=False,
                                        description="η (default: the preset's)")


def _json(content: Any) -> Response:
    """JSON built here (in the thread pool for plain routes), not re-encoded by FastAPI."""
    return Response(json.dumps(content, allow_nan=False), media_type="application/json")


def _lists(value: Any) -> Any:
    """NumPy arrays (also inside lists and dicts) as lists; non-finite numbers as None."""
    if isinstance(value, np.ndarray):
        value = value.astype(np.float64)
        return np.where(np.isfinite(value), value, None).tolist() if not np.isfinite(value).all() else value.tolist()
    if isinstance(value, dict):
        return {key: _lists(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------- backpropagation


def backprop_router(net: Network) -> APIRouter:
    """POST /backprop and /backprop/step for one network (the served one, or one trained on the page)."""
    router = APIRouter(tags=["learn"], route_class=StrictJSONRoute,
                       responses={**contract.ERROR_RESPONSES, **contract.BODY_RESPONSES})
    BackpropRequest, StepRequest = request_models(net)

    @router.post("/backprop", summary="Backpropagation for one example: cost, output nudges, every gradient")
    def backprop(body: BackpropRequest) -> Response:
        try:
            result = inspection.backprop(net, body.pixels, body.label)
            wishes = [None] + [inspection.wishes(net, result, layer) for layer in range(1, len(net.layers))]
        except ValueError as error:
            raise HTTPException(422, " ".join(str(error).split())) from None
        return _json(_lists({**result, "wishes": wishes}))

    @router.post("/backprop/step", summary="One gradient step on this example alone (on a copy): how the outputs move")
    def step(body: StepRequest) -> Response:
        try:
            moved = inspection.gradient_step(net, body.pixels, body.label, body.learning_rate, steps=body.steps)
        except ValueError as error:
            raise HTTPException(422, " ".join(str(error).split())) from None
        moved.pop("network")
        return _json(_lists(moved))

    return router


# --------------------------------------------------------------------------- live training


EVENT = {"type": "object", "required": ["session", "event", "epoch", "step", "loss"],
         "properties": {"session": {"type": "string"}, "event": {"type": "string"},
                        "epoch": {"type": "integer", "minimum": 0}, "step": {"type": "integer", "minimum": 0},
                        "loss": {"type": ["number", "null"]}, "done": {"type": "boolean"}}}
SESSION_ERRORS = {404: {"model": ErrorBody, "description": "No such session in this server process"},
                  409: {"model": ErrorBody, "description": "The session cannot do that now (it ended, or it runs)"}}


def learn_router(sessions: Sessions, networks: UserNetworks) -> APIRouter:
    router = APIRouter(tags=["learn"], route_class=StrictJSONRoute,
                       responses={**contract.ERROR_RESPONSES, **contract.BODY_RESPONSES})

    @router.post("/learn", summary="Train a network from scratch, live: a text/event-stream of its progress",
                 response_class=StreamingResponse,
                 responses={200: {"content": {"text/event-stream": {"schema": EVENT}},
                                  "description": "Server-Sent Events, one JSON object per data: line (the schema of one)"},
                            429: {"model": ErrorBody, "description": "As many sessions run as the server allows"}})
    async def learn(body: LearnRequest) -> Response:
        limits = sessions.limits
        if body.epochs is not None and body.epochs > limits.max_epochs:
            raise HTTPException(422, f"epochs must be at most {limits.max_epochs} (this server's cap for a learning "
                                     f"session); got {body.epochs}")
        settings = body.model_dump()
        if settings["epochs"] is None:  # the preset's own run, within the cap (modern's is 60 epochs)
            settings["epochs"] = min(preset(body.preset).epochs, limits.max_epochs)
        try:
            session = await sessions.open(settings)
        except TooManySessions as error:
            return JSONResponse(status_code=429, content={"detail": str(error)}, headers={"retry-after": "10"})
        # no-cache, the SSE convention (with no-store Chromium reports the stream aborted at its end);
        # x-accel-buffering: a proxy such as nginx must pass each event on at once.
        return StreamingResponse(sessions.stream(session), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})

    def find(session_id: str):
        session = sessions.get(session_id)
        if session is None:
            raise HTTPException(404, f"no learning session {session_id!r} in this server process: it ended long ago, "
                                     "or it runs in another process (control must reach the process that runs it)")
        return session

    @router.post("/learn/{session_id}/network", responses=SESSION_ERRORS, summary="Use this network: serve the session's network (paused or ended) to you")
    def use_network(session_id: SessionId) -> dict[str, Any]:
        session = find(session_id)
        if session.state not in ("paused", "done") or session.network is None:
            raise HTTPException(409, "pause the session (or let it finish) to use its network; "
                                     f"it is {session.state}")
        net = network_from(session.network)
        event = session.last_event
        accuracy = event.get("val_accuracy") or event.get("accuracy")
        net.metadata["metrics"] = {} if accuracy is None else {"validation_accuracy": accuracy}
        where = f"epoch {event.get('epoch')}, step {event.get('step')}"
        network_id = networks.add(net, f"your network, trained on this page (session {session.id[:6]}…, {where}); "
                                       "only you can reach it")
        return {"network": network_id, "api": f"/api/nets/{network_id}", "epoch": event.get("epoch"),
                "step": event.get("step")}

    @router.post("/learn/{session_id}/{command}", responses=SESSION_ERRORS, summary="Pause, resume, step (one mini-batch) or stop a session")
    def control(session_id: SessionId, command: Literal[COMMANDS]) -> dict[str, Any]:  # type: ignore[valid-type]
        session = find(session_id)
        if session.state == "done":
            raise HTTPException(409, f"the session has ended ({session.reason})")
        try:
            session.command(command)
        except ProcessLookupError as error:
            raise HTTPException(409, str(error)) from None
        return {"session": session.id, "command": command, "state": session.state}

    return router


def network_from(encoded: dict[str, Any]) -> Network:
    """The Network a learning session sent (digitnet.training.live_process.encode_network)."""
    params = decode_network(encoded)
    activations = encoded["activations"]
    layers = [Dense(W, b, activation) for W, b, activation in zip(params[::2], params[1::2], activations)]
    net = Network.from_layers(layers)
    net.metadata = {"training": encoded.get("training"), "dataset": "mnist",
                    "class_names": [str(k) for k in range(net.num_outputs)]}
    return net


# --------------------------------------------------------------------------- wiring


def network_app(net: Network, source: str, make_router: Callable[[Network, str], APIRouter]) -> ASGIApp:
    """The draw view's routes (make_router: the app's own) and the backprop routes, for one network."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(make_router(net, source), prefix="/api")
    app.include_router(backprop_router(net), prefix="/api")

    add_error_handlers(app)
    return app


def install(app: FastAPI, net: Network, make_router: Callable[[Network, str], APIRouter],
            limits: SessionLimits | None = None) -> None:
    """Add the Learn view's routes to app: backprop on `net` (the served network), live training
    sessions, and /api/nets for networks trained on the page (served with make_router's routes)."""
    sessions = Sessions(limits)
    networks = UserNetworks(lambda trained, source: network_app(trained, source, make_router))
    app.state.learning, app.state.user_networks = sessions, networks
    app.state.before_shutdown = [*getattr(app.state, "before_shutdown", []), sessions.close_all]  # web/server.py
    app.include_router(backprop_router(net), prefix="/api")
    app.include_router(learn_router(sessions, networks), prefix="/api")
    app.mount("/api/nets", networks)
