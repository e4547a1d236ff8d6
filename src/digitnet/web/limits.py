"""Request body limits, enforced before a body is read whole.

An ASGI middleware in front of the whole app:
- a request whose Content-Length exceeds its limit is answered 413 at once, unread;
- a body without a Content-Length (chunked) or with a false one is counted while it streams,
  and refused with 413 the moment the count passes the limit, so no more than the limit (plus
  one chunk) is ever held in memory.
Limits are per path: image uploads get IMAGE_LIMIT, everything else JSON_LIMIT.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MB = 1024 * 1024
JSON_LIMIT = 1 * MB  # a 784-pixel request is ~10 KB; edits add little
IMAGE_LIMIT = 5 * MB  # a canvas PNG is ~10-50 KB; photos of a digit fit easily


class BodyTooLarge(HTTPException):
    """Raised from receive() once a streamed body passes its limit.

    An HTTPException, so FastAPI's body reading re-raises it unchanged and the app's handler
    answers 413; the middleware catches it too, in case nothing inside did.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=too_large_message(limit))


def too_large_message(limit: int) -> str:
    return f"request body too large: the limit for this endpoint is {limit / MB:g} MB"


class BodyLimitMiddleware:
    """Refuse request bodies over a byte limit with 413, before reading them whole."""

    def __init__(self, app: ASGIApp, default: int = JSON_LIMIT, per_path: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default = default
        self.per_path = dict(per_path or {})

    def limit_for(self, path: str) -> int:
        return self.per_path.get(path.rstrip("/") or "/", self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_413(send, limit)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await _send_413(send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects a malformed length itself
    return None


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps({"detail": too_large_message(limit)}).encode()
    await send({
        "type": "http.response.start",
        "status": 413,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    })
    await send({"type": "http.response.body", "body": body})
