"""Connection guards below the app: read deadlines, a header size cap, a bound on connections.

uvicorn's own timeout (timeout_keep_alive) only runs between two requests of a connection and
is cancelled by any byte received, so a client that connects and never sends, or sends a
request head or body one byte at a time, holds its connection forever; its header size is
bounded only by the h11 parser, not by httptools (the parser uvicorn picks when installed);
and its limit_concurrency counts open connections, so 1,000 idle sockets answer every real
user 503. An ASGI middleware cannot help: it runs only once a request head is complete.

GuardedProtocol is uvicorn's httptools protocol with one deadline timer per connection, whose
phase decides what it waits for:

    idle  no request in progress      closed within idle_timeout (a fresh connection: head_timeout),
                                      at a random point of its last half, so that many opened
                                      together are not closed (and reopened) in one burst
    head  a request head arriving     408 and closed unless the head completes within head_timeout
    body  its body arriving           408 and closed unless the body completes within body_timeout
    busy  the app is answering        no deadline (the app's own limits apply)

A request head (request line + header lines) longer than max_head_bytes is answered 431 and
the connection closed, before the rest is read. Open connections are capped at
max_connections: a new connection over the cap closes the connection that has been idle the
longest (an attacker's idle sockets make room for real users), or, if none is idle, itself.
Idle connections do not count against the app's limit on requests in progress
(limits.ActiveRequestLimit): uvicorn's limit_concurrency stays off.

In a public deployment a reverse proxy (nginx, Caddy) in front does this and more (per-client
limits, TLS); these guards keep the app safe when it is reached directly.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import OrderedDict
from dataclasses import dataclass

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

KB = 1024


@dataclass(frozen=True)
class ConnectionLimits:
    """Deadlines (seconds) and sizes the server enforces on every connection."""

    head_timeout: float = 10.0  # from connecting, or a request's first byte, to the end of its head
    body_timeout: float = 30.0  # from the end of the head to the end of the body (5 MB at 170 KB/s)
    idle_timeout: float = 15.0  # keep-alive: between the end of a response and the next request
    max_head_bytes: int = 32 * KB  # request line + headers; h11 and Node allow 16 KB
    max_connections: int = 4096  # open at once; the idlest is closed to make room

    def __post_init__(self) -> None:
        for name in ("head_timeout", "body_timeout", "idle_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds; got {getattr(self, name)!r}")
        for name in ("max_head_bytes", "max_connections"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be a positive whole number; got {getattr(self, name)!r}")


class HeadTooLarge(Exception):
    """Raised from a parser callback to stop reading a request head past max_head_bytes."""


def _error_response(status: int, reason: str, detail: str) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


class GuardedProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with read deadlines, a head size cap and a connection cap (see module)."""

    limits = ConnectionLimits()
    idle: OrderedDict  # connections with no request in progress, longest idle first (per server)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._phase = "idle"
        self._head_bytes = 0
        self._head_too_large = False
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            oldest = next(iter(self.idle), None)
            if oldest is None:  # every connection is busy: this one cannot be served
                transport.close()
                return
            oldest._close()
        self._become_idle(self.limits.head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        self.idle.pop(self, None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._phase == "idle":  # the first bytes of a request
            self.idle.pop(self, None)
            self._phase = "head"
            self._head_bytes = 0
            self._arm(self.limits.head_timeout, self._head_timed_out)
        super().data_received(data)

    # --------------------------------------------------------------- parser callbacks

    def on_message_begin(self) -> None:
        self._head_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # "name: value\r\n"
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._phase = "body"
        self._arm(self.limits.body_timeout, self._body_timed_out)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = "busy"
        self._cancel_deadline()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._phase == "busy" and not self.pipeline and not self.transport.is_closing():
            self._become_idle(self.limits.idle_timeout)

    def send_400_response(self, msg: str) -> None:
        if self._head_too_large:  # the parser stopped at our HeadTooLarge
            self._refuse(431, "Request Header Fields Too Large",
                         f"request head too large: the limit is {self.limits.max_head_bytes // KB} KB "
                         "for the request line and headers together")
        else:
            super().send_400_response(msg)

    # --------------------------------------------------------------- deadlines

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.limits.max_head_bytes:
            self._head_too_large = True
            raise HeadTooLarge

    def _become_idle(self, timeout: float) -> None:
        self._phase = "idle"
        self.idle[self] = None
        # Somewhere in the last half of the timeout: connections opened together (an attacker's)
        # are then closed, and reopened, spread out rather than in one burst that stalls the loop.
        self._arm(timeout * random.uniform(0.5, 1.0), self._close)

    def _arm(self, seconds: float, callback) -> None:
        self._cancel_deadline()
        self._deadline = self.loop.call_later(seconds, callback)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _close(self) -> None:
        self._cancel_deadline()
        self.idle.pop(self, None)
        if not self.transport.is_closing():
            self.transport.close()

    def _head_timed_out(self) -> None:
        self._refuse(408, "Request Timeout",
                     f"request head not received within {self.limits.head_timeout:g} s")

    def _body_timed_out(self) -> None:
        if self.cycle is not None:  # the app waiting for the body sees the client gone
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self._refuse(408, "Request Timeout",
                     f"request body not received within {self.limits.body_timeout:g} s")

    def _refuse(self, status: int, reason: str, detail: str) -> None:
        self._cancel_deadline()
        if not self.transport.is_closing():
            self.transport.write(_error_response(status, reason, detail))
        self._close()


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedProtocol]:
    """A GuardedProtocol class for one server: its limits and its own table of idle connections."""
    return type("GuardedProtocol", (GuardedProtocol,), {"limits": limits, "idle": OrderedDict()})
