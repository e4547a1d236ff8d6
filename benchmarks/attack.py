"""The attack behind `load.py --attack`: idle connections and image bombs, from another process.

Attack(url, idle=1000, bombs=20).start() forks a process that
- keeps `idle` TCP connections open that never send a byte (each reopened as soon as the server
  closes it: the server's deadline, not the attacker, decides how long one lives);
- keeps `bombs` image uploads in flight, each answered upload followed at once by the next,
  cycling through BOMBS: small files that decode to huge images.
.stop() ends it and returns what it saw. MemorySampler reads the server's resident memory from
/proc every 50 ms. Both talk to 127.0.0.1 only (load.py checks the URL).
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import io
import multiprocessing
import os
import platform
import re
import resource
import struct
import threading
import time
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from PIL import Image

ATTACK_START, ATTACK_END = "<!-- web-attack:start -->", "<!-- web-attack:end -->"


# --------------------------------------------------------------------------- the bombs


def blank_png(width: int, height: int, bit_depth: int, colour_type: int, channels: int) -> bytes:
    """A one-colour (all zero) PNG of any size, compressed row by row (never held whole)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" * (1 + width * channels * bit_depth // 8)  # filter byte + samples
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)]
    data = b"".join(parts) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def bomb_files() -> list[tuple[str, bytes]]:
    """The issue's two bombs and the largest image the app agrees to decode."""
    largest = io.BytesIO()
    Image.new("RGBA", (3400, 3400), (0, 0, 0, 255)).save(largest, "PNG")
    return [
        ("16-bit RGBA 6320x6320 (39.9 MP)", blank_png(6320, 6320, 16, 6, 4)),
        ("RGB 40000000x1", blank_png(40_000_000, 1, 8, 2, 3)),
        ("blank RGBA 3400x3400 (46 MB decoded)", largest.getvalue()),
    ]


# --------------------------------------------------------------------------- the attacker


class Attack:
    """Idle connections and bomb uploads from a forked process; .start(), then .stop() -> dict."""

    def __init__(self, url: str, idle: int = 1000, bombs: int = 20) -> None:
        self.url, self.idle, self.bombs = url, idle, bombs
        context = multiprocessing.get_context("fork")
        self.ready, self.stopping = context.Event(), context.Event()
        self.results = context.Queue()
        self.process = context.Process(target=_attack, args=(url, idle, bombs, self.ready, self.stopping, self.results),
                                       daemon=True)

    def start(self, timeout: float = 120.0) -> None:
        self.process.start()
        if not self.ready.wait(timeout):
            self.process.kill()
            raise SystemExit(f"load.py: the attack did not get going within {timeout:g} s")

    def stop(self) -> dict:
        self.stopping.set()
        try:
            return self.results.get(timeout=60)
        finally:
            self.process.join(30)
            if self.process.is_alive():
                self.process.kill()


def _attack(url, idle, bombs, ready, stopping, results) -> None:
    # A real attacker runs on other machines: here it shares the server's cores, so it yields
    # them (nice 10) rather than slow the server by taking its CPU.
    try:
        os.nice(10)
    except OSError:
        pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = idle + bombs + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    results.put(asyncio.run(_run(url, idle, bombs, ready, stopping)))


async def _run(url: str, idle: int, bombs: int, ready, stopping) -> dict:
    files = bomb_files()
    parts = urlsplit(url)
    state = {"open": 0, "reopened": 0, "refused": 0}
    answers: collections.Counter = collections.Counter()

    async def idle_connection() -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            except OSError:
                state["refused"] += 1
                await asyncio.sleep(0.1)
                continue
            state["open"] += 1
            try:
                await reader.read(1)  # b"" once the server closes it
                state["reopened"] += 1
            except OSError:
                state["reopened"] += 1
            finally:
                state["open"] -= 1
                writer.close()

    async def bomber(number: int) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=httpx.Timeout(120.0)) as http:
            for turn in range(number, 10**9):
                name, data = files[turn % len(files)]
                try:
                    response = await http.post("/api/predict-image", files={"file": ("bomb.png", data, "image/png")})
                    answers[f"HTTP {response.status_code}"] += 1
                except httpx.HTTPError as error:
                    answers[type(error).__name__] += 1
                    await asyncio.sleep(0.05)

    tasks = [asyncio.create_task(idle_connection()) for _ in range(idle)]
    for _ in range(300):  # all idle connections open (at most 30 s)
        if state["open"] >= idle:
            break
        await asyncio.sleep(0.1)
    tasks += [asyncio.create_task(bomber(k)) for k in range(bombs)]
    await asyncio.sleep(1.0)  # the first bombs are in flight
    answers.clear()
    state["reopened"] = 0
    ready.set()
    began, held = time.perf_counter(), []
    while not stopping.is_set():
        held.append(state["open"])
        await asyncio.sleep(0.1)
    seconds = time.perf_counter() - began
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "idle": idle,
        "idle_held_mean": round(sum(held) / max(1, len(held))),
        "idle_held_min": min(held, default=0),
        "idle_reopened": state["reopened"],
        "bombs": bombs,
        "bomb_answers": dict(answers),
        "bombs_per_s": round(sum(answers.values()) / seconds, 1) if seconds else 0.0,
        "bomb_files": [f"{name}: {len(data) / 1024:.0f} KB" for name, data in files],
    }


# --------------------------------------------------------------------------- server memory


class MemorySampler:
    """The resident memory (VmRSS) of a process, sampled every 50 ms in a thread."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self.pid, self.every = pid, every
        self.start_mb = self.read()
        self.peak_mb = self.start_mb or 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def read(self) -> float | None:
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        match = re.search(r"VmRSS:\s+(\d+)", text)
        return int(match.group(1)) / 1024 if match else None

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            value = self.read()
            if value is not None:
                self.peak_mb = max(self.peak_mb, value)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(5)
        end = self.read()
        return {"server_rss_start_mb": _round(self.start_mb), "server_rss_peak_mb": _round(self.peak_mb),
                "server_rss_end_mb": _round(end)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# --------------------------------------------------------------------------- reporting


def describe(attack: dict) -> str:
    answers = ", ".join(f"{kind} × {count}" for kind, count in sorted(attack["bomb_answers"].items()))
    memory = (f"; server RSS {attack['server_rss_start_mb']} MB at the start, peak {attack['server_rss_peak_mb']} MB"
              if attack.get("server_rss_peak_mb") is not None else "")
    return (f"{attack['idle_held_mean']} idle connections held on average (min {attack['idle_held_min']}, "
            f"reopened {attack['idle_reopened']} times after the server closed them), {attack['bombs']} bombs in "
            f"flight: {attack['bombs_per_s']} answered/s ({answers}){memory}")


def record(path: Path, summary: dict, argv: list[str]) -> None:
    """Replace (or append) the marked web-attack section of a Markdown file with this run."""
    attack, quiet = summary["attack"], summary["without_attack"]
    answers = ", ".join(f"{count} × {kind[5:] if kind.startswith('HTTP ') else kind}"
                        for kind, count in sorted(attack["bomb_answers"].items()))
    section = "\n".join([
        ATTACK_START,
        "## Web app while under attack",
        "",
        f"`python benchmarks/load.py {' '.join(argv)}` ({datetime.datetime.now():%Y-%m-%d %H:%M}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores shared by the server, the "
        f"attacker, the load generator and other work): {summary['clients']} normal clients POST 784 pixels "
        f"to /api/predict for {summary['seconds']} s, each waiting {summary['interval_s']} s between requests, "
        f"while another process holds {attack['idle']} idle TCP connections open (reopening each one the "
        f"server closes) and keeps {attack['bombs']} image bombs in flight ({'; '.join(attack['bomb_files'])}). "
        "Targets (issue 13): p99 < 100 ms, server RSS < 1 GB.",
        "",
        "The same load was measured just before, without the attack, to show what the shared machine "
        f"allowed that minute (load average {os.getloadavg()[0]:.1f} at the end). The attacker runs at nice 10, "
        "as if on another machine.",
        "",
        "| | idle connections held | bombs in flight | bombs answered | normal requests/s | ok | errors | p50 | p99 | max | server RSS peak |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        f"| without attack | 0 | 0 | – | {quiet['requests_per_s']} | {quiet['ok']} | {quiet['errors']} | "
        f"{quiet['p50_ms']} ms | {quiet['p99_ms']} ms | {quiet['max_ms']} ms | – |",
        f"| **under attack** | {attack['idle_held_mean']} (min {attack['idle_held_min']}) | {attack['bombs']} | "
        f"{attack['bombs_per_s']}/s ({answers}) | {summary['requests_per_s']} | {summary['ok']} | "
        f"{summary['errors']} | {summary['p50_ms']} ms | {summary['p99_ms']} ms | {summary['max_ms']} ms | "
        f"{attack.get('server_rss_peak_mb')} MB |",
        ATTACK_END,
    ])
    text = path.read_text() if path.exists() else ""
    if ATTACK_START in text and ATTACK_END in text:
        before, rest = text.split(ATTACK_START, 1)
        text = before + section + rest.split(ATTACK_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
