"""HTTP plumbing around the routes: error bodies, strict JSON, HEAD, security headers, no paths.

- Every error is a JSON body {"detail": one line, "errors": [...] for validation} (ErrorBody).
- JSON bodies must not repeat a key ({"pixels": ..., "pixels": ...}): RFC 8259 leaves the
  meaning open and Python keeps the last silently, so the app refuses it (422).
- HEAD is answered for every GET route, as GET without the body (RFC 9110 §9.3.2).
- A strict Content-Security-Policy: everything from this server, nothing inline.
- Text sent to clients never holds an absolute path of the server's files (hide_paths).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("digitnet.web")

SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
     b"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
JSON_NAMES = {str: "a string", bool: "true or false", list: "an array", dict: "an object",
              type(None): "null", int: "an integer", float: "a number"}


# --------------------------------------------------------------------------- error bodies


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in error.errors()[:20]  # never echo the input back: it may be a megabyte
        ]
        return JSONResponse(status_code=422, content={"detail": summary(error.errors()), "errors": errors})

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, error: ClientDisconnect) -> Response:
        # The client left (or the server cut off its slow body): nobody reads this answer.
        return JSONResponse(status_code=400, content={"detail": "the client disconnected before sending the whole body"})

    @app.exception_handler(Exception)
    async def bug(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal server error (a bug in digitnet); the server keeps running"})


def summary(errors: list[dict[str, Any]]) -> str:
    """One line for the first few validation errors."""
    parts = []
    for e in errors[:3]:
        loc = [part for part in e.get("loc", ()) if part != "body"]
        message = str(e.get("msg", "invalid"))
        kind = e.get("type")
        if kind == "json_invalid":
            reason = (e.get("ctx") or {}).get("error", "")
            parts.append(f"the body is not valid JSON ({reason} at character {loc[0] if loc else '?'})")
            continue
        if kind == "json_duplicate_key":
            parts.append(message)
            continue
        if not loc:
            parts.append(f"the body must be a JSON object (Content-Type: application/json); {message}")
            continue
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
        message = message.removeprefix("Value error, ")
        if str(kind).endswith("_type") and "input" in e:  # say what was sent instead, not its value
            message += f"; got {JSON_NAMES.get(type(e['input']), type(e['input']).__name__)}"
        parts.append(message if message.startswith(f"{loc[-1]} ") else f"{where}: {message}")
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more")
    return "; ".join(parts)


def one_line(error: BaseException) -> str:
    return hide_paths(" ".join(str(error).split()))


_ABSOLUTE_PATH = re.compile(r"""(?<![\w.:/])(?:[A-Za-z]:\\|/)(?:[^\s'"/\\]+[/\\])+([^\s'"/\\]*)""")


def hide_paths(text: str) -> str:
    """text with each absolute path (/srv/models/x.safetensors, C:\\x\\y) cut to its last part."""
    return _ABSOLUTE_PATH.sub(lambda match: match.group(1) or "…", text)


# --------------------------------------------------------------------------- strict JSON


class DuplicateKey(ValueError):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKey(key)
        result[key] = value
    return result


class StrictJSONRoute(APIRoute):
    """A route whose JSON body is refused (422) if any object in it repeats a key."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def checked(request: Request) -> Response:
            if request.headers.get("content-type", "").split(";")[0].strip().lower().endswith("json"):
                body = await request.body()  # cached: the route reads it again for free
                try:
                    # Parsed once: Starlette's Request.json() returns what it finds in _json, so the
                    # route does not parse these (often 784-number) bodies a second time.
                    request._json = json.loads(body, object_pairs_hook=_refuse_duplicates)
                except DuplicateKey as error:
                    raise RequestValidationError([{
                        "type": "json_duplicate_key", "loc": ("body",),
                        "msg": f"the body repeats the key {json.dumps(str(error))} in one object; send each key once",
                    }]) from None
                except (ValueError, RecursionError):
                    pass  # not JSON at all: the route's own parsing says so
            return await handle(request)

        return checked


# --------------------------------------------------------------------------- middleware


class HeadAsGet:
    """Answers HEAD for every GET route: the GET response with its body left out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_head(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_head)


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
