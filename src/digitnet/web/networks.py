"""Networks trained on the page, served to whoever trained them: /api/nets/{id}/...

"Use this network" (web/learn.py) turns a learning session's network, paused or ended, into a
Network and registers an app for it here: the draw view's own routes for the served model
(model, predict, predict-image, predict-edited, neuron/{layer}/{index}) and the Learn view's
backprop routes, answering for that network alone. The page then sends its requests to
/api/nets/{id}/... instead of /api/...; the id is an unguessable token given only to the one who
asked, so the network is theirs (per user) and the served model never changes. Kept for
max_seconds after its last use, at most max_networks at once (the least recently used goes).
"""

from __future__ import annotations

import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from digitnet.network import Network

# The routes a trained network answers (the served model's /samples reads the whole test set: not per user).
ROUTES = ("model", "predict", "predict-image", "predict-edited", "neuron", "backprop")


class UserNetworks:
    """An ASGI app mounted at /api/nets: /{id}/{route} goes to network id's own app as /api/{route}."""

    def __init__(self, make_app: Callable[[Network, str], ASGIApp], max_networks: int = 32, max_seconds: float = 3600.0) -> None:
        self.make_app = make_app
        self.max_networks = max_networks
        self.max_seconds = max_seconds
        self.apps: OrderedDict[str, tuple[float, ASGIApp]] = OrderedDict()  # id -> (last use, app)

    def add(self, net: Network, source: str) -> str:
        """Serve net under a new id (returned); `source` is what /model says about where it came from."""
        self._forget_old()
        while len(self.apps) >= self.max_networks:
            self.apps.popitem(last=False)
        network_id = secrets.token_urlsafe(12)
        self.apps[network_id] = (time.monotonic(), self.make_app(net, source))
        return network_id

    def _forget_old(self) -> None:
        now = time.monotonic()
        for network_id in [k for k, (used, _) in self.apps.items() if now - used > self.max_seconds]:
            del self.apps[network_id]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        root = scope.get("root_path", "")
        path = scope["path"][len(root):] if scope["path"].startswith(root) else scope["path"]
        network_id, _, rest = path.lstrip("/").partition("/")
        self._forget_old()
        entry = self.apps.get(network_id)
        if entry is None:
            await _not_found(send, "no such network on this server: networks trained on the page are kept "
                                   f"{self.max_seconds / 60:g} minutes after their last use, and only by the "
                                   "server process that trained them; train it again")
            return
        if rest.split("/", 1)[0] not in ROUTES:
            await _not_found(send, f"a network trained on the page answers /{', /'.join(ROUTES)}; got /{rest}")
            return
        self.apps[network_id] = (time.monotonic(), entry[1])
        self.apps.move_to_end(network_id)
        inner = f"/api/{rest}"
        child = {**scope, "path": inner, "raw_path": inner.encode(), "root_path": ""}
        child.pop("app_root_path", None)
        await entry[1](child, receive, send)


async def _not_found(send: Send, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": 404,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
