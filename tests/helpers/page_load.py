"""Real servers and a load generator for the page cache's reliability tests and report (no tests here).

* :class:`PageServer` runs :mod:`helpers.page_apps` under gunicorn (preforking,
  ``--preload``, threads) or uvicorn (several worker processes) on 127.0.0.1 on
  a free port, with the page cache on redis, the filesystem or nothing; it is
  stopped by the PIDs it started.
* :func:`run_load` is a bounded HTTP load generator: threads, each with its own
  keep-alive connection, send a mix of shared and per-user requests for many
  users (each with their own session cookie and bearer token) and check every
  answer: status, length, checksum, the page and the user it was rendered for.
  ``python -m helpers.page_load load URL SECONDS`` runs it in a process of its own
  and prints the result as JSON; :class:`LoadProcess` starts that from a test.
  (``python -m helpers.page_load uvicorn PORT WORKERS`` is how uvicorn is started:
  see :func:`_serve_uvicorn`.)
* :func:`raw_exchange` sends bytes no HTTP client would send and reads the answer.
* :func:`kill_redis` SIGKILLs a redis server; :func:`restart_redis` starts it
  again on the same port.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.page_apps import ANYONE, PER_USER, etag_of, parse_body

__all__ = [
    "LoadProcess",
    "PageServer",
    "RawAnswer",
    "User",
    "check_page",
    "kill_redis",
    "make_users",
    "percentile",
    "raw_exchange",
    "restart_redis",
    "run_load",
]

TESTS_DIR = Path(__file__).resolve().parent.parent
#: Request mix of the load: page kind -> weight.  HEAD and POST ride on the shared pages; streamed
#: pages (``/stream/<n>``) join with the weight :func:`run_load` is given for them.
MIX = {
    "shared": 30,
    "cookie": 22,
    "auth": 14,
    "private": 9,
    "setcookie": 9,
    "public-auth": 8,
    "head": 5,
    "post": 3,
}


# -- servers ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[19]
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as children:
                found.extend(int(child) for child in children.read().split())
        except OSError:
            pass
    return found


def _descendants(pid: int) -> list[tuple[int, str]]:
    """Every process below ``pid``, with its start time (so a reused PID is never signalled)."""
    result: list[tuple[int, str]] = []
    todo = _children(pid)
    while todo:
        child = todo.pop()
        started = _start_time(child)
        if started is not None:
            result.append((child, started))
            todo.extend(_children(child))
    return result


def _alive(pid: int, started: str) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return False
    return fields[19] == started and fields[0] not in ("Z", "X")


@dataclass
class PageServer:
    """The test site under a real server: ``server`` is gunicorn or uvicorn, ``backend`` redis/file/none."""

    server: str
    backend: str
    location: str = ""
    workers: int = 2
    directory: Path = field(default_factory=lambda: Path("/tmp"))
    port: int = field(default_factory=_free_port)
    #: how long each request the app itself answers waits (``PAGE_RENDER_MS``), as a real page's queries
    render_ms: float = 0.0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.directory / f"{self.server}-{self.backend}-{self.port}.log"

    def command(self) -> list[str]:
        if self.server == "gunicorn":
            return [
                sys.executable, "-m", "gunicorn", "--workers", str(self.workers), "--threads", "2",
                "--bind", f"127.0.0.1:{self.port}", "--preload", "--log-level", "warning",
                "--timeout", "30", "--graceful-timeout", "3", "--keep-alive", "5",
                "helpers.page_apps:wsgi_app",
            ]  # fmt: skip
        if self.server == "uvicorn":
            return [sys.executable, "-m", "helpers.page_load", "uvicorn", str(self.port), str(self.workers)]
        raise ValueError(f"server must be gunicorn or uvicorn, got {self.server!r}")

    def start(self) -> PageServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])),
            "PAGE_CACHE_BACKEND": self.backend,
            "PAGE_CACHE_LOCATION": self.location,
            "PAGE_RENDER_MS": str(self.render_ms),
        }
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        answered: set[str | None] = set()
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.server} exited at start ({self.process.returncode}):\n{self.log_text()}"
                )
            # Every worker forked (or spawned) and answering: until then, the load's connections
            # would all go to the first one ready.
            if len(_children(self.process.pid)) >= self.workers:
                answered.add(self._healthy())
                if len(answered - {None}) >= self.workers:
                    break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.server} did not answer within 30 s:\n{self.log_text()}")
            time.sleep(0.05)
        return self

    def _healthy(self) -> str | None:
        """The PID of the worker that answered ``/health`` on a new connection, or None."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            return response.getheader("X-Served-By") if response.status == 200 else None
        except (OSError, http.client.HTTPException):
            return None
        finally:
            connection.close()

    def worker_pids(self) -> list[int]:
        return [] if self.process is None else [pid for pid, _ in _descendants(self.process.pid)]

    def stop(self) -> None:
        """SIGTERM the server we started, then SIGKILL whatever of it (by PID) outlived 10 s."""
        process, self.process = self.process, None
        if process is None:
            return
        below = _descendants(process.pid)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(pid, started) for pid, started in below) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid, started in below:
            if _alive(pid, started):
                os.kill(pid, signal.SIGKILL)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def __enter__(self) -> PageServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def kill_redis(server: Any) -> None:
    """SIGKILL a ``servers.redis.RedisServer`` (the PID it recorded) and wait until it is gone."""
    pid, server.pid = server.pid, None
    started = _start_time(pid)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while started is not None and _alive(pid, started) and time.monotonic() < deadline:
        time.sleep(0.02)


def restart_redis(server: Any) -> Any:
    """A new redis on the killed ``server``'s port and directory (empty: no persistence)."""
    from servers.redis import RedisServer

    return RedisServer(server.directory, port=server.port, extra=server.extra).start()


# -- raw requests ----------------------------------------------------------------------------------


@dataclass
class RawAnswer:
    """What came back for a raw request: None for a connection closed with no (complete) answer."""

    status: int | None
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def raw_exchange(port: int, data: bytes, timeout: float = 10.0) -> RawAnswer:
    """Send ``data`` as it is to 127.0.0.1:``port``; read one response (until its length or close)."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server may close while we still send an enormous header
        head_end = -1
        length: int | None = None
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
            if head_end < 0:
                head_end = received.find(b"\r\n\r\n")
                if head_end >= 0:
                    for line in received[:head_end].split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value.strip())
            if head_end >= 0 and length is not None and len(received) >= head_end + 4 + length:
                break
    if head_end < 0:
        return RawAnswer(None, [], received)
    lines = received[:head_end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    body = received[head_end + 4 :]
    return RawAnswer(status, headers, body[:length] if length is not None else body)


# -- the load ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    name: str
    cookie: str
    authorization: str


def make_users(count: int, seed: int = 0, same_secret: bool = False) -> list[User]:
    """``count`` users, each with a session cookie and a bearer token of their own.

    ``same_secret``: every user's cookie and token differ from the next one's in one
    character only (the user's number), the closest keys a cache can be asked to tell apart.
    """
    rng = random.Random(seed)
    shared = f"{rng.getrandbits(64):016x}"
    users = []
    for i in range(count):
        name = f"user-{i:03d}"
        cookie_secret = shared if same_secret else f"{rng.getrandbits(64):016x}"
        token_secret = shared if same_secret else f"{rng.getrandbits(64):016x}"
        users.append(
            User(name, f"session={name}.{cookie_secret}; theme=dark", f"Bearer {name}.{token_secret}")
        )
    return users


def check_page(
    kind: str,
    path: str,
    host: str,
    user: User,
    status: int,
    headers: http.client.HTTPMessage | dict[str, str],
    body: bytes,
    method: str = "GET",
    conditional: bool = False,
    query: str = "",
) -> tuple[str, str] | None:
    """None when the answer is right; else (``"leak"``/``"corrupt"``/``"error"``, what was wrong).

    A leak is a page (body, ``X-Rendered-For`` or ``Set-Cookie``) made for another user,
    or a page that must never be stored coming from the cache; corrupt is a body that
    does not match its length or checksum, or a page other than the one asked for.
    ``conditional``: the request carried the user's own ETag (``/etag`` pages), so a 304 is right;
    ``query``: the query string asked for (``path`` is without it).
    """
    if kind == "etag" and (status == 200 or (conditional and status == 304)):
        tag = headers.get("ETag")
        if tag != etag_of(user.name, int(path.rsplit("/", 1)[1])):
            return "leak", f"{method} {path} for {user.name}: status {status} with ETag {tag}"
        if status == 304:
            rendered_for = headers.get("X-Rendered-For")
            if rendered_for not in (None, user.name):
                return "leak", f"{method} {path} for {user.name}: a 304 rendered for {rendered_for}"
            return None if body == b"" else ("corrupt", f"{path}: a 304 with a body")
    if status != 200:
        return "error", f"{method} {path}: status {status}"
    length = headers.get("Content-Length")
    rendered_for = headers.get("X-Rendered-For")
    expected = user.name if kind in PER_USER else ANYONE
    if rendered_for != expected:
        return (
            "leak" if rendered_for else "corrupt"
        ), f"{method} {path} for {user.name}: X-Rendered-For {rendered_for}"
    cookie = headers.get("Set-Cookie")
    if kind == "setcookie" and not (cookie or "").startswith(f"token={user.name}."):
        return "leak", f"{path} for {user.name}: Set-Cookie {cookie!r}"
    if kind != "setcookie" and cookie is not None:
        return "leak", f"{path} for {user.name}: unexpected Set-Cookie {cookie!r}"
    age = headers.get("Age")
    if kind in ("private", "setcookie", "stream") and age is not None:
        return "leak", f"{path} for {user.name}: a page that must never be stored came from the cache"
    if age is not None and not (age.isdigit() and int(age) <= 61):
        return "corrupt", f"{path}: Age {age!r} (pages are fresh for 60 s)"
    if method == "HEAD":
        return (
            None
            if body == b"" and length and headers.get("X-Body-Sha256")
            else ("corrupt", f"HEAD {path}: {body[:40]!r}")
        )
    if kind == "stream" and length is None:
        pass  # streamed: its length is the checksum's business
    elif length is None or int(length) != len(body):
        return "corrupt", f"{path}: Content-Length {length}, body {len(body)} bytes"
    if hashlib.sha256(body).hexdigest() != headers.get("X-Body-Sha256"):
        return "corrupt", f"{path}: checksum mismatch ({len(body)} bytes)"
    fields = parse_body(body)
    if fields.get("for") != expected:
        return "leak", f"{path} for {user.name}: body rendered for {fields.get('for')}"
    want = {
        "page": path[1:],
        "path": repr(path),
        "query": repr(query),
        "host": repr(host),
        "method": repr("GET"),
    }
    for name, value in want.items():
        if fields.get(name) != value:
            return "corrupt", f"{path}: body {name}={fields.get(name)} (wanted {value})"
    return None


@dataclass
class _Tally:
    requests: int = 0
    hits: int = 0
    errors: int = 0
    leaks: int = 0
    corrupt: int = 0
    samples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    #: the latencies of the answers served from the cache
    hit_latencies: list[float] = field(default_factory=list)
    #: (time.time() at the answer, 1 when served from the cache, 1 when right)
    timeline: list[tuple[float, int, int]] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    kind_hits: Counter[str] = field(default_factory=Counter)
    #: hits served by another process than the one that rendered the page
    shared_hits: int = 0
    #: hits on /etag pages (fresh for 1 s) rendered 1.5 s or more before: refreshed by a 304
    revalidated_hits: int = 0
    served_by: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: exceptions that ended a load thread (a bug in the generator, never the server's doing)
    crashes: list[BaseException] = field(default_factory=list)


def _worker(
    port: int, users: list[User], pages: int, until: float, seed: int, tally: _Tally, mix: dict[str, int]
) -> None:
    try:
        _requests(port, users, pages, until, seed, tally, mix)
    except BaseException as exc:
        tally.crashes.append(exc)


def _requests(
    port: int, users: list[User], pages: int, until: float, seed: int, tally: _Tally, mix: dict[str, int]
) -> None:
    rng = random.Random(seed)
    host = f"127.0.0.1:{port}"
    names, weights = list(mix), list(mix.values())
    connection: http.client.HTTPConnection | None = None
    served = 0
    while time.monotonic() < until:
        choice = rng.choices(names, weights)[0]
        user = rng.choice(users)
        kind = "shared" if choice in ("head", "post") else choice
        method = {"head": "HEAD", "post": "POST"}.get(choice, "GET")
        path = f"/{kind}/{rng.randrange(pages)}"
        # Each query string is a page of its own: a few shared pages are asked with one.
        query = f"q={rng.randrange(3)}" if kind == "shared" and rng.random() < 0.2 else ""
        headers = {"Cookie": user.cookie, "Accept": "text/plain"}
        if kind in ("auth", "public-auth") or rng.random() < 0.2:
            headers["Authorization"] = user.authorization
        if kind == "shared" and "Authorization" in headers:
            del headers["Authorization"]  # an authorized request would vary a shared page by user
        conditional = kind == "etag" and rng.random() < 0.3
        if conditional:
            headers["If-None-Match"] = etag_of(user.name, int(path.rsplit("/", 1)[1]))
        start = time.perf_counter()
        problem: tuple[str, str] | None
        hit = 0
        try:
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            target = f"{path}?{query}" if query else path
            connection.request(method, target, body=b"" if method == "POST" else None, headers=headers)
            response = connection.getresponse()
            body = response.read()
            hit = int(response.headers.get("Age") is not None)
            served_by = response.headers.get("X-Served-By", "")
            fields = parse_body(body) if hit else {}
            rendered_by = fields.get("render", "").partition(".")[0]
            stale_render = kind == "etag" and time.time() - float(fields.get("at") or "inf") >= 1.5
            if method == "POST":
                problem = (
                    None if response.status == 200 else ("error", f"POST {path}: status {response.status}")
                )
            else:
                problem = check_page(
                    kind,
                    path,
                    host,
                    user,
                    response.status,
                    response.headers,
                    body,
                    method,
                    conditional,
                    query,
                )
            served += 1
            if response.will_close or served % 50 == 0:
                # Now and then a new connection, as browsers open: so every worker gets its share.
                connection.close()
                connection = None
        except (OSError, http.client.HTTPException) as exc:
            served_by = rendered_by = ""
            stale_render = False
            problem = ("error", f"{method} {path}: {type(exc).__name__}: {exc}")
            if connection is not None:
                connection.close()
            connection = None
        elapsed = time.perf_counter() - start
        with tally.lock:
            tally.requests += 1
            tally.hits += hit
            tally.kinds[choice] += 1
            tally.kind_hits[choice] += hit
            tally.served_by.add(served_by)
            tally.shared_hits += int(bool(rendered_by) and rendered_by != served_by)
            tally.revalidated_hits += int(stale_render)
            tally.latencies.append(elapsed)
            if hit:
                tally.hit_latencies.append(elapsed)
            tally.timeline.append((time.time(), hit, int(problem is None)))
            if problem is not None:
                what, message = problem
                if what == "leak":
                    tally.leaks += 1
                elif what == "corrupt":
                    tally.corrupt += 1
                else:
                    tally.errors += 1
                if len(tally.samples) < 20:
                    tally.samples.append(f"{what}: {message}")
    if connection is not None:
        connection.close()


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` (0 for none)."""
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[
        min(998, max(0, round(fraction * 1000) - 1))
    ]


def run_load(
    url: str,
    seconds: float,
    *,
    users: int = 40,
    threads: int = 8,
    pages: int = 6,
    seed: int = 1,
    same_secret: int = 0,
    latencies: int = 0,
    stream: int = 0,
    etag: int = 0,
) -> dict[str, Any]:
    """Load ``url`` for ``seconds`` from ``threads`` threads; every answer checked (see :func:`check_page`).

    ``pages`` pages of each kind; ``same_secret`` 1: users as :func:`make_users` makes them with it;
    ``stream``, ``etag``: the weights of streamed and of revalidated pages in the mix (0: none;
    the others weigh 100 together);
    ``latencies`` 1: the result has every request's latency too (``latencies_ms``, and those
    of the hits alone in ``hit_latencies_ms``).
    """
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    people = make_users(users, seed, bool(same_secret))
    mix = {**MIX, "stream": stream, "etag": etag}
    tally = _Tally()
    until = time.monotonic() + seconds
    workers = [
        threading.Thread(target=_worker, args=(port, people, pages, until, seed * 1000 + i, tally, mix))
        for i in range(threads)
    ]
    began = time.time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if tally.crashes:
        raise RuntimeError(f"{len(tally.crashes)} load threads crashed") from tally.crashes[0]
    return {
        "began": began,
        "seconds": time.time() - began,
        "requests": tally.requests,
        "hits": tally.hits,
        "errors": tally.errors,
        "leaks": tally.leaks,
        "corrupt": tally.corrupt,
        "samples": tally.samples,
        "kinds": dict(tally.kinds),
        "kind_hits": dict(tally.kind_hits),
        "shared_hits": tally.shared_hits,
        "revalidated_hits": tally.revalidated_hits,
        "served_by": sorted(tally.served_by - {""}),
        "p50_ms": percentile(tally.latencies, 0.50) * 1000,
        "p99_ms": percentile(tally.latencies, 0.99) * 1000,
        "timeline": sorted(tally.timeline),
        **(
            {
                "latencies_ms": [value * 1000 for value in tally.latencies],
                "hit_latencies_ms": [value * 1000 for value in tally.hit_latencies],
            }
            if latencies
            else {}
        ),
    }


class LoadProcess:
    """:func:`run_load` in a process of its own (``python -m helpers.page_load``), started now."""

    def __init__(self, url: str, seconds: float, **options: int) -> None:
        args = [sys.executable, "-m", "helpers.page_load", "load", url, str(seconds)]
        for name, value in options.items():
            args += [f"--{name.replace('_', '-')}", str(value)]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])),
        }
        self.process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.timeout = seconds + 60

    def result(self) -> dict[str, Any]:
        try:
            out, err = self.process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise
        if self.process.returncode != 0:
            raise RuntimeError(
                f"the load process failed ({self.process.returncode}):\n{err.decode()[-3000:]}"
            )
        return json.loads(out)  # type: ignore[no-any-return]


def _serve_uvicorn(port: int, workers: int) -> None:
    """uvicorn's own multiprocess supervisor and workers, on a listener made for TCP.

    ``uvicorn --workers N`` binds its listener with ``proto`` 0, so asyncio never sets
    TCP_NODELAY on the accepted connections (uvicorn issue 3149) and every keep-alive
    answer after the first waits ~40 ms for the client's delayed ACK: the latency
    measured would be Nagle's, not the app's or the cache's.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "helpers.page_apps:asgi_app", host="127.0.0.1", port=port, workers=workers,
        log_level="warning", access_log=False, timeout_graceful_shutdown=3,
    )  # fmt: skip
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.set_inheritable(True)
    Multiprocess(config, sockets=[sock]).run()


def _main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description="The page-cache test site's load generator and uvicorn launcher."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("load", help="load the site for a bounded time; print the result as JSON")
    load.add_argument("url")
    load.add_argument("seconds", type=float)
    for name, default in (
        ("users", 40),
        ("threads", 8),
        ("pages", 6),
        ("seed", 1),
        ("same-secret", 0),
        ("latencies", 0),
        ("stream", 0),
        ("etag", 0),
    ):
        load.add_argument(f"--{name}", type=int, default=default)
    serve = commands.add_parser("uvicorn", help="serve helpers.page_apps:asgi_app with uvicorn's workers")
    serve.add_argument("port", type=int)
    serve.add_argument("workers", type=int)
    args = parser.parse_args(argv)
    if args.command == "uvicorn":
        _serve_uvicorn(args.port, args.workers)
        return
    result = run_load(
        args.url, args.seconds, users=args.users, threads=args.threads, pages=args.pages, seed=args.seed,
        same_secret=args.same_secret, latencies=args.latencies, stream=args.stream,
        etag=args.etag,
    )  # fmt: skip
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    _main(sys.argv[1:])
