"""Load benchmark for the web app: N concurrent clients POST /api/predict for M seconds.

    python benchmarks/load.py                          # starts `digitnet serve` itself, 50 clients, 10 s
    python benchmarks/load.py --clients 50 --seconds 10 --interval 0.1
    python benchmarks/load.py --url http://127.0.0.1:8000   # a server you started yourself
    python benchmarks/load.py --attack --interval 0.1       # the same, while the server is attacked

Each client keeps one HTTP connection (written and read on asyncio's streams: a full HTTP client
cost this process more CPU than the server, and its queue counted as latency) and sends a
784-pixel digit, waits for the answer, then waits --interval seconds before the next request
(default 0: as fast as it can, a closed loop
that measures the server's throughput; 0.1 is a person drawing, as the page sends at most one
request per 100 ms). Prints requests/s, latency p50/p90/p99/max and the number of errors (any
status other than 200, or a failed connection). Bounded by --seconds and --max-requests; talks
to 127.0.0.1 (or ::1, localhost) only.

--attack measures the normal users twice, the same minute: without, then with another process
attacking the server (attack.py beside this file, at nice 10, as if it ran on another machine): --idle TCP connections that connect and send nothing (each reopened as soon
as the server closes it), and --bombs image uploads always in flight, each answered upload
followed by the next: small PNG files that decode to huge images (a 16-bit RGBA one just under
40 megapixels, a 40,000,000×1 strip) and the largest image the app agrees to decode (a blank
3400×3400 RGBA PNG). The server's resident memory is sampled every 50 ms (peak and at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import attack  # noqa: E402  (beside this file)

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
START_TIMEOUT = 60.0  # seconds for `digitnet serve` to print its address
READERS: dict[int, threading.Thread] = {}  # server pid -> the thread draining its output


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: int = 0
    client_cpu_s: float = 0.0  # CPU time this load generator used (it shares the machine)
    server_cpu_s: float | None = None  # CPU time of the server process, when this script started it
    error_kinds: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    def summary(self, clients: int, interval: float) -> dict:
        ordered = sorted(self.latencies)
        done = len(ordered)

        def percentile(q: float) -> float:
            if not ordered:
                return math.nan
            return ordered[min(done - 1, math.ceil(q * done) - 1)] * 1000.0

        return {
            "clients": clients,
            "interval_s": interval,
            "seconds": round(self.seconds, 2),
            "requests": done + self.errors,
            "ok": done,
            "errors": self.errors,
            "error_kinds": self.error_kinds,
            "requests_per_s": round(done / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(percentile(0.50), 2),
            "p90_ms": round(percentile(0.90), 2),
            "p99_ms": round(percentile(0.99), 2),
            "max_ms": round(ordered[-1] * 1000.0, 2) if ordered else math.nan,
            "client_cpu_s": round(self.client_cpu_s, 2),
            "server_cpu_s": None if self.server_cpu_s is None else round(self.server_cpu_s, 2),
        }


def digit_pixels() -> list[float]:
    """A plain '1': a vertical bar of ink in the middle of the 28×28 field."""
    pixels = [0.0] * 784
    for row in range(4, 24):
        for col in (13, 14):
            pixels[row * 28 + col] = 1.0
    return pixels


def request_bytes(url: str, body: bytes) -> bytes:
    """One POST /api/predict as it goes on the wire (HTTP/1.1, keep-alive), made once and resent."""
    host = urlsplit(url).netloc
    return (f"POST /api/predict HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response with a content-length body; its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def client(url: str, body: bytes, ready: list[int], start: asyncio.Event, stop_at: list[float],
                 interval: float, results: Results, budget: list[int]) -> None:
    """One user: its own keep-alive connection, reopened if the server closes it.

    The request is written and the answer read on asyncio's streams directly: a full HTTP client
    (httpx) spent ~1.2 ms of this process's CPU per request, more than the server, and with 50
    users in one event loop the answers waited on it, which counted as the server's latency."""
    parts = urlsplit(url)
    request = request_bytes(url, body)
    connection = None

    async def connect():
        return await asyncio.wait_for(asyncio.open_connection(parts.hostname, parts.port), 10.0)

    try:
        try:
            connection = await connect()  # connect before the clock starts
        finally:
            ready[0] += 1
        await start.wait()
        while time.perf_counter() < stop_at[0] and budget[0] > 0:
            budget[0] -= 1
            begin = time.perf_counter()
            try:
                if connection is None:
                    connection = await connect()
                reader, writer = connection
                writer.write(request)
                status = await asyncio.wait_for(read_response(reader), 10.0)
                elapsed = time.perf_counter() - begin
                if status == 200:
                    results.latencies.append(elapsed)
                else:
                    results.error(f"HTTP {status}")
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                    ValueError, IndexError) as error:
                results.error(type(error).__name__)
                if connection is not None:
                    connection[1].close()
                connection = None
            if interval:
                await asyncio.sleep(interval)
    finally:
        if connection is not None:
            connection[1].close()


async def run_load(url: str, clients: int, seconds: float, interval: float, max_requests: int) -> Results:
    body = json.dumps({"pixels": digit_pixels()}).encode()
    results = Results()
    start = asyncio.Event()
    stop_at = [math.inf]
    budget = [max_requests]
    ready = [0]
    tasks = [asyncio.create_task(client(url, body, ready, start, stop_at, interval, results, budget)) for _ in range(clients)]
    while ready[0] < clients:  # every client connects first
        if any(task.done() for task in tasks):
            await asyncio.gather(*tasks)  # a client failed to connect: raise its error
        await asyncio.sleep(0.01)
    began, cpu = time.perf_counter(), time.process_time()
    stop_at[0] = began + seconds
    start.set()
    await asyncio.gather(*tasks)
    results.seconds = time.perf_counter() - began
    results.client_cpu_s = time.process_time() - cpu
    return results


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), or None where unavailable."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
        raise SystemExit(f"load.py: --url must be http://127.0.0.1:PORT (this machine only); got {url!r}")
    return url.rstrip("/")


def start_server(model: str | None) -> tuple[subprocess.Popen, str]:
    """`digitnet serve [MODEL] --port 0` in a subprocess; returns it and the URL it printed."""
    command = [sys.executable, "-m", "digitnet", "serve", "--host", "127.0.0.1", "--port", "0"]
    if model:
        command.insert(4, model)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + START_TIMEOUT
    seen = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line.rstrip())
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if match:
            # Keep reading what the server prints, so a full pipe can never block it.
            reader = threading.Thread(target=process.stdout.read, daemon=True)
            reader.start()
            READERS[process.pid] = reader
            return process, match.group(1)
    process.kill()
    process.wait()
    process.stdout.close()
    raise SystemExit("load.py: `digitnet serve` did not start:\n" + "\n".join(seen))


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    reader = READERS.pop(process.pid, None)
    if reader is not None:
        reader.join(10)  # the server has exited: its output ends
    if process.stdout is not None:
        process.stdout.close()


def positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive; got {text}")
        return value
    return parse


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=positive(int), default=50, help="concurrent clients (default 50)")
    parser.add_argument("--seconds", type=positive(float), default=10.0, help="how long to send (default 10)")
    parser.add_argument("--interval", type=float, default=0.0,
                        help="seconds each client waits between requests (default 0: closed loop)")
    parser.add_argument("--max-requests", type=positive(int), default=1_000_000, help="stop after this many")
    parser.add_argument("--url", help="a running server on 127.0.0.1 (default: start `digitnet serve` here)")
    parser.add_argument("--model", help="model file for the server this script starts (default: serve's default)")
    parser.add_argument("--attack", action="store_true",
                        help="measure while idle connections and image bombs attack the server (see above)")
    parser.add_argument("--idle", type=positive(int), default=1000, help="idle connections of --attack (default 1000)")
    parser.add_argument("--bombs", type=positive(int), default=20, help="image bombs in flight in --attack (default 20)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    parser.add_argument("--record", type=Path, metavar="MARKDOWN",
                        help="also write these figures into the web-load section of this file (e.g. BENCHMARKS.md)")
    args = parser.parse_args(argv)
    if args.interval < 0 or args.clients > 1000:
        parser.error("--interval must be ≥ 0 and --clients at most 1000")

    process = None
    url = check_url(args.url) if args.url else None
    if url is None:
        process, url = start_server(args.model)
    attacker = memory = quiet = None
    try:
        if args.attack:  # the same load without the attack first, the same minute: the machine is shared
            quiet = asyncio.run(run_load(url, args.clients, args.seconds, args.interval, args.max_requests))
            memory = attack.MemorySampler(process.pid) if process else None
            attacker = attack.Attack(url, idle=args.idle, bombs=args.bombs)
            attacker.start()  # returns once the idle connections are open and the bombs in flight
        cpu_before = process_cpu_seconds(process.pid) if process else None
        results = asyncio.run(run_load(url, args.clients, args.seconds, args.interval, args.max_requests))
        cpu_after = process_cpu_seconds(process.pid) if process else None
        if cpu_before is not None and cpu_after is not None:
            results.server_cpu_s = cpu_after - cpu_before  # includes the clients' connecting
    finally:
        under_attack = attacker.stop() if attacker else None
        rss = memory.stop() if memory else None
        if process is not None:
            stop_server(process)
    summary = results.summary(args.clients, args.interval)
    if under_attack is not None:
        summary["attack"] = {**under_attack, **(rss or {})}
        summary["without_attack"] = quiet.summary(args.clients, args.interval)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"POST {url}/api/predict: {summary['clients']} clients, {summary['seconds']} s, "
              f"interval {summary['interval_s']} s")
        print(f"  {summary['requests_per_s']} requests/s ({summary['ok']} ok, {summary['errors']} errors"
              + (f": {summary['error_kinds']}" if summary["errors"] else "") + ")")
        print(f"  latency p50 {summary['p50_ms']} ms, p90 {summary['p90_ms']} ms, "
              f"p99 {summary['p99_ms']} ms, max {summary['max_ms']} ms")
        server_cpu = summary["server_cpu_s"]
        if "attack" in summary:
            print(f"  under attack: {attack.describe(summary['attack'])}")
            quiet = summary["without_attack"]
            print(f"  the same load just before, without the attack: p50 {quiet['p50_ms']} ms, "
                  f"p99 {quiet['p99_ms']} ms, max {quiet['max_ms']} ms ({quiet['errors']} errors)")
        print(f"  CPU: load generator {summary['client_cpu_s']} s"
              + (f", server {server_cpu} s ({1000 * server_cpu / max(1, summary['ok']):.2f} ms per request)" if server_cpu is not None else "")
              + f", load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.record:
        arguments = argv if argv is not None else sys.argv[1:]
        if args.attack:
            attack.record(args.record, summary, arguments)
        else:
            record(args.record, summary, arguments)
    return summary


LOAD_START, LOAD_END = "<!-- web-load:start -->", "<!-- web-load:end -->"


def record(path: Path, summary: dict, argv: list[str]) -> None:
    """Replace (or append) the marked web-load section of a Markdown file with this run."""
    import datetime
    import platform

    command = "python benchmarks/load.py " + " ".join(argv)
    section = "\n".join([
        LOAD_START,
        "## Web app under load",
        "",
        f"`{command}` ({datetime.datetime.now():%Y-%m-%d %H:%M}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores shared by server and load generator): {summary['clients']} concurrent clients "
        f"POSTing 784 pixels to /api/predict on 127.0.0.1 for {summary['seconds']} s, each waiting "
        f"{summary['interval_s']} s between requests.",
        "",
        "| clients | interval | requests/s | ok | errors | p50 | p90 | p99 | max | server CPU per request |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {summary['clients']} | {summary['interval_s']} s | {summary['requests_per_s']} | {summary['ok']} | "
        f"{summary['errors']} | {summary['p50_ms']} ms | {summary['p90_ms']} ms | {summary['p99_ms']} ms | "
        f"{summary['max_ms']} ms | "
        + (f"{1000 * summary['server_cpu_s'] / max(1, summary['ok']):.2f} ms" if summary["server_cpu_s"] is not None else "n/a")
        + " |",
        LOAD_END,
    ])
    text = path.read_text() if path.exists() else ""
    if LOAD_START in text and LOAD_END in text:
        before, rest = text.split(LOAD_START, 1)
        after = rest.split(LOAD_END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
