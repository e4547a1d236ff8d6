"""Request body limits, enforced before a body is read whole.

An ASGI middleware in front of the whole app:
- a request whose Content-Length exceeds its limit is answered 413 at once, unread;
- a body without a Content-Length (chunked) or with a false one is counted while it streams,
  and refused with 413 the moment the count passes the limit, so no more than the limit (plus
  one chunk) is ever held in memory.
Limits are per path: image uploads get IMAGE_LIMIT, everything else JSON_LIMIT.

ActiveRequestLimit bounds the requests in progress (MAX_ACTIVE): one more is answered 503.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

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
    await send_error(send, 413, too_large_message(limit))


MAX_ACTIVE = 128  # requests in progress at once; more are answered 503 at once


class ActiveRequestLimit:
    """Answer 503 (with Retry-After) when MAX_ACTIVE requests are already in progress.

    Counts requests from their head to the end of their answer; open connections that carry no
    request (idle keep-alive sockets) are not counted: they are the server protocol's concern
    (web.protocol). A request's memory is bounded by the body limits, so this bounds the total.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_ACTIVE) -> None:
        self.app = app
        self.limit = limit
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            await send_error(send, 503, f"the server is busy ({self.active} requests in progress); try again in a moment",
                             [(b"retry-after", b"1")])
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


async def send_error(send: Send, status: int, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """A whole JSON error answer {"detail": ...}, closing the connection."""
    body = json.dumps({"detail": detail}).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *headers,
        ],
    })
    await send({"type": "http.response.body", "body": body})
