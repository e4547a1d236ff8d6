"""Running the app with uvicorn on a socket we bind ourselves.

Binding first turns "address already in use" or a bad host into one clear OSError before
uvicorn starts, and lets port 0 pick a free port whose number we can then print. Every
connection is guarded (web.protocol: read deadlines, a head size cap, a connection cap);
uvicorn's limit_concurrency stays off, as it would count idle connections as work.
"""

from __future__ import annotations

import ipaddress
import socket
import threading

import uvicorn
from fastapi import FastAPI

from digitnet.web.protocol import ConnectionLimits, guarded_protocol

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 picks a free one. OSError with a clear message."""
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in 0..65535; got {port}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise OSError(f"cannot listen on {host!r}: unknown host ({error.strerror})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(app: FastAPI, sock: socket.socket, log_level: str = "warning",
                limits: ConnectionLimits | None = None) -> uvicorn.Server:
    """uvicorn serving app on sock, each connection guarded by limits (protocol.GuardedProtocol)."""
    host, port = sock.getsockname()[:2]
    limits = limits or ConnectionLimits()
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=False,
        http=guarded_protocol(limits),  # read deadlines, head size cap, connection cap
        ws="none",  # the app has no websockets
        lifespan="off",  # nor startup/shutdown events
        proxy_headers=False,  # served directly, not behind a proxy: trust no X-Forwarded-* header
        timeout_keep_alive=limits.idle_timeout,
        # Off: it counts idle connections too, so idle sockets would lock real users out. The
        # app limits requests in progress itself (limits.ActiveRequestLimit).
        limit_concurrency=None,
        timeout_graceful_shutdown=3,  # then cancel what still runs
    )
    return Server(config)


class Server(uvicorn.Server):
    """uvicorn's server, calling the app's app.state.before_shutdown callables when it begins to stop:
    the Learn view ends its event streams there, which would otherwise hold the shutdown open."""

    async def shutdown(self, sockets=None) -> None:
        for callback in getattr(self.config.app.state, "before_shutdown", ()):
            callback()
        await super().shutdown(sockets=sockets)


class BackgroundServer:
    """The app served from a thread on 127.0.0.1 (tests, benchmarks): .url, .stop()."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0,
                 limits: ConnectionLimits | None = None) -> None:
        self.sock = bind(host, port)
        self.url = url_of(self.sock)
        self.server = make_server(app, self.sock, limits=limits)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "BackgroundServer":
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the server thread stopped before it started")
            self.thread.join(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
