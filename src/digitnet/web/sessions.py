"""Learning sessions: live training runs, each in a process of its own, streamed to one viewer.

A session runs digitnet.training.live_process (a Trainer that reports every fraction of a
second, and obeys pause, resume, step and stop between any two mini-batch steps) as a child
process of the server. The child speaks JSON lines: commands go to its stdin, events come from
its stdout and are relayed as Server-Sent Events. So training never runs on the server's event
loop nor holds its GIL, and the child lowers its own CPU priority (SCHED_IDLE on Linux) and uses one BLAS
thread: the draw view's predictions stay fast while someone trains.

Lifetime, and the caps (SessionLimits):
- at most max_sessions run at once in a server process; one more gets 429;
- a session lives at most max_seconds (paused or not), then it is stopped;
- its viewer's stream is its lifeline: when the connection closes, the child is killed at once
  (no CPU burns for a closed tab), and the child itself stops when its stdin closes (the server
  went away);
- after it ends, its last network is kept for keep_seconds, for "use this network".
Sessions live in the server process that started them: controls must reach that process
(README: "Learning sessions behind several server processes").
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import digitnet

PRESETS = ("3b1b", "modern")  # the 784-16-16-10 recipes the page trains
COMMANDS = ("pause", "resume", "step", "stop")
KEEPALIVE = 15.0  # seconds between SSE comments on a quiet stream (a paused session)
GRACE = 2.0  # seconds a stopped child gets to send its "done" before it is killed
BACKLOG = 8  # lines waiting for a slow viewer beyond which progress snapshots are skipped
MAX_EPOCHS = 30  # the 3b1b preset's full run: the most a session may ask for (a server may allow fewer)
UNWATCHED = 10.0  # seconds a session may wait for its stream to begin (its viewer left at once)


@dataclass(frozen=True)
class SessionLimits:
    max_sessions: int = 2  # at once, per server process: one core each on a small machine
    max_seconds: float = 600.0  # lifetime of one session, paused or not
    max_epochs: int = MAX_EPOCHS
    keep_seconds: float = 1800.0  # how long an ended session's network can still be used
    max_kept: int = 64  # ended sessions remembered
    interval: float = 0.2  # seconds between progress events (five pictures a second)


class TooManySessions(Exception):
    """The server runs as many learning sessions as it may."""


class Session:
    """One child training process and its stream of events."""

    def __init__(self, settings: dict[str, Any], limits: SessionLimits) -> None:
        self.id = secrets.token_urlsafe(12)
        self.settings = settings
        self.limits = limits
        self.started = time.monotonic()
        self.state = "starting"  # starting, running, paused, done
        self.reason: str | None = None
        self.network: dict[str, Any] | None = None  # the last {"network": ...} the child sent
        self.last_event: dict[str, Any] = {}
        self.ended_at: float | None = None
        self.stopping: str | None = None  # why the server ended it (it is shutting down)
        self.watched = False  # its stream has begun
        self.process: subprocess.Popen | None = None
        self._lines: asyncio.Queue[bytes | None] | None = None

    # ----------------------------------------------------------------- the child
    def spawn(self) -> None:
        """Start the child process (blocking for a few milliseconds: call it off the event loop)."""
        env = dict(os.environ)
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        package_root = str(Path(digitnet.__file__).resolve().parents[1])  # this digitnet, whatever sys.path said
        env["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [env.get("PYTHONPATH")])])
        # The child also ends itself a little after the session's lifetime, should the server lose track.
        arguments = {**self.settings, "interval": self.limits.interval, "max_seconds": self.limits.max_seconds + 2 * GRACE}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "digitnet.training.live_process", json.dumps(arguments)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )

    def listen(self, loop: asyncio.AbstractEventLoop) -> None:
        """Relay the child's stdout to `loop` (where events() reads it), from a thread of its own."""
        self._lines = asyncio.Queue()
        threading.Thread(target=self._read, args=(loop,), name=f"learning-session-{self.id}", daemon=True).start()

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        """Relay the child's lines to the event loop until it exits (then reap it)."""
        assert self.process is not None and self.process.stdout is not None and self._lines is not None
        queue = self._lines
        try:
            for line in self.process.stdout:
                loop.call_soon_threadsafe(queue.put_nowait, line)
        except (OSError, ValueError, RuntimeError):
            pass  # the pipe was closed under us, or the loop is gone
        finally:
            self.process.wait()
            self.process.stdout.close()
            try:
                loop.call_soon_threadsafe(queue.put_nowait, None)
            except RuntimeError:
                pass  # the event loop has closed: nobody is listening

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self, name: str) -> None:
        """Send pause, resume, step or stop to the child."""
        if name not in COMMANDS:
            raise ValueError(f"command must be one of {', '.join(COMMANDS)}; got {name!r}")
        if self.process is None or self.process.stdin is None or not self.alive:
            raise ProcessLookupError("the session's process has ended")
        try:
            self.process.stdin.write(f"{name}\n".encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise ProcessLookupError("the session's process has ended") from None

    def kill(self) -> None:
        """End the child now (the viewer left, or it overstayed)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        self._close_stdin()

    def _close_stdin(self) -> None:
        if self.process is not None and self.process.stdin is not None:
            try:
                self.process.stdin.close()
            except OSError:
                pass

    # ----------------------------------------------------------------- the events
    async def events(self) -> AsyncIterator[bytes]:
        """The Server-Sent Events of this session, "done" last. Killing the child is the caller's
        job if it stops reading (see Sessions.stream)."""
        assert self._lines is not None
        self.watched = True
        deadline = self.started + self.limits.max_seconds
        stop_sent: float | None = None
        yield b": digitnet learning session\n\n"  # the headers go out at once
        while True:
            now = time.monotonic()
            if stop_sent is None and now >= deadline:
                stop_sent = now
                self.reason = "time limit"
                try:
                    self.command("stop")
                except ProcessLookupError:
                    pass
            wait = KEEPALIVE if stop_sent is None else GRACE - (now - stop_sent)
            if stop_sent is None:
                wait = min(wait, max(deadline - now, 0.0) + 0.01)
            if wait <= 0:
                self.kill()
                yield self._sse(self._done("error", f"the training process did not stop within {GRACE:g} s; it was ended"))
                return
            try:
                line = await asyncio.wait_for(self._lines.get(), wait)
            except asyncio.TimeoutError:
                if stop_sent is None and time.monotonic() < deadline:
                    yield b": keep-alive\n\n"
                continue
            if line is None:  # the child ended without a "done" (it crashed or was killed)
                if self.stopping:
                    yield self._sse(self._done("stopped", self.stopping))
                    return
                code = self.process.returncode if self.process else None
                yield self._sse(self._done("error", f"the training process ended unexpectedly (exit status {code})"))
                return
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "network" in event:
                self.network = event["network"]
                continue
            if event.get("event") == "progress" and self._lines.qsize() > BACKLOG:
                continue  # a slow reader: skip snapshots rather than queue them without bound
            self._track(event)
            if event.get("done") and self.reason == "time limit":
                event.update(reason="time limit",
                             message=f"the session reached the server's limit of {self.limits.max_seconds:g} s")
            yield self._sse(event)
            if event.get("done"):
                return

    def _track(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind in ("paused", "step"):
            self.state = "paused"
        elif kind in ("start", "progress", "resumed", "epoch"):
            self.state = "running"
        if event.get("done"):
            self.state, self.reason = "done", self.reason or event.get("reason")
            self.ended_at = time.monotonic()
        self.last_event = {key: event.get(key) for key in ("event", "epoch", "step", "accuracy", "val_accuracy")}

    def _done(self, reason: str, message: str) -> dict[str, Any]:
        event = {"event": "done", "done": True, "reason": reason, "message": message,
                 "epoch": self.last_event.get("epoch") or 0, "step": self.last_event.get("step") or 0, "loss": None}
        self._track(event)
        self.reason = reason
        return event

    def _sse(self, event: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps({"session": self.id, **event}, allow_nan=False).encode() + b"\n\n"


class Sessions:
    """The learning sessions of one server process: the running ones and the recently ended."""

    def __init__(self, limits: SessionLimits | None = None) -> None:
        self.limits = limits or SessionLimits()
        self.sessions: dict[str, Session] = {}

    def running(self) -> list[Session]:
        self._reap()
        return [s for s in self.sessions.values() if s.state != "done"]

    def _reap(self) -> None:
        """End sessions nobody watches: a stream that never began (its viewer left before the first
        byte), or one gone past its lifetime without ending (a safety net; events() ends them)."""
        now = time.monotonic()
        for session in self.sessions.values():
            if session.state == "done":
                continue
            unwatched = not session.watched and now - session.started > UNWATCHED
            overdue = now - session.started > session.limits.max_seconds + 2 * GRACE
            if unwatched or overdue:
                session.kill()
                session.state, session.ended_at = "done", now
                session.reason = "unwatched" if unwatched else "time limit"

    async def open(self, settings: dict[str, Any]) -> Session:
        """A new session with these (already checked) settings, its process started; TooManySessions
        when max_sessions already run."""
        self._forget_old()
        running = self.running()
        if len(running) >= self.limits.max_sessions:
            raise TooManySessions(
                f"too many learning sessions: {len(running)} are running on this server, the most it allows at "
                f"once; try again when one ends (sessions last at most {self.limits.max_seconds:g} s)"
            )
        session = Session(settings, self.limits)
        self.sessions[session.id] = session  # holds its place while the process starts
        try:
            await asyncio.to_thread(session.spawn)
        except BaseException:
            del self.sessions[session.id]
            raise
        session.listen(asyncio.get_running_loop())
        return session

    def get(self, session_id: str) -> Session | None:
        self._reap()
        self._forget_old()
        return self.sessions.get(session_id)

    async def stream(self, session: Session) -> AsyncIterator[bytes]:
        """session.events(), and the child killed the moment the stream ends for any reason: done,
        the viewer disconnected (the server cancels this generator), or an error."""
        try:
            async for chunk in session.events():
                yield chunk
        finally:
            if session.state != "done":
                session.state, session.reason = "done", session.reason or "disconnected"
                session.ended_at = time.monotonic()
            session.kill()

    def close_all(self, reason: str = "the server is shutting down") -> None:
        """Kill every session's process; their streams end with a "done" event giving `reason`."""
        for session in self.sessions.values():
            if session.state != "done":
                session.stopping = reason
            session.kill()

    def _forget_old(self) -> None:
        now = time.monotonic()
        ended = sorted((s for s in self.sessions.values() if s.state == "done" and s.ended_at is not None),
                       key=lambda s: s.ended_at)
        for number, session in enumerate(ended):
            if now - session.ended_at > self.limits.keep_seconds or number < len(ended) - self.limits.max_kept:
                del self.sessions[session.id]
