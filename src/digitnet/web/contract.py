"""The OpenAPI schema states what the app really accepts and answers, for the served network.

Pydantic writes the schema from web.schemas; what depends on the network is filled in here
once the app is made:

- an edit's layer is in 0..L-1 and its index in 0..n_L-1 for that layer: the Edit schema becomes
  one alternative per layer (oneOf, told apart by "layer": const L), so a schema-valid edit is
  never refused;
- a prediction has one probability and output per class and one activation list per layer;
  digits and labels are in 0..classes-1.

Every operation also documents the error answers it can give (ERROR_RESPONSES, ErrorBody).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

from digitnet.network import Network
from digitnet.web.schemas import ErrorBody

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "The request is not what the operation takes: `detail` says "
          "what was expected and what was got; `errors` lists each problem for malformed requests."},
    503: {"model": ErrorBody, "description": "The server is busy (too many requests in progress, or "
          "too many large images being decoded); try again after Retry-After seconds."},
    500: {"model": ErrorBody, "description": "A bug in digitnet; the server keeps running."},
}
BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body cannot be parsed at all (JSON that is not UTF-8 "
          "text, a broken multipart form)."},
    413: {"model": ErrorBody, "description": "The request body is over the operation's size limit "
          "(1 MB for JSON, 5 MB for an image), refused before it is read whole."},
}


def install(app: FastAPI, net: Network) -> None:
    """Make app.openapi() return the schema with the served network's ranges filled in."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            fill_in(default(), net)  # default() caches the dict it returns in app.openapi_schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def fill_in(schema: dict[str, Any], net: Network) -> None:
    components = schema["components"]["schemas"]
    classes = net.num_outputs
    components["Edit"] = edit_schema(components["Edit"], net)
    for name in ("Prediction", "ImagePrediction"):
        properties = components[name]["properties"]
        properties["digit"]["maximum"] = classes - 1
        for key in ("probabilities", "outputs"):
            properties[key].update(minItems=classes, maxItems=classes)
        properties["activations"].update(minItems=len(net.layers), maxItems=len(net.layers))
    sample = components["Sample"]["properties"]
    for key in ("label", "predicted"):
        sample[key]["maximum"] = classes - 1


def edit_schema(base: dict[str, Any], net: Network) -> dict[str, Any]:
    """One object schema per layer: "layer" fixed to L, "index" in 0..n_L-1."""
    variant = {key: value for key, value in base.items() if key not in ("title", "description")}
    variants = []
    for layer, dense in enumerate(net.layers):
        one = copy.deepcopy(variant)
        one["title"] = f"Edit of layer {layer}"
        one["properties"]["layer"] = {"type": "integer", "const": layer, "description": "the neuron's layer, from 0"}
        one["properties"]["index"].update(
            minimum=0, maximum=dense.n_out - 1,
            description=f"the neuron's index within layer {layer}, 0..{dense.n_out - 1}",
        )
        variants.append(one)
    return {"title": base.get("title", "Edit"), "description": base.get("description", ""), "oneOf": variants}
