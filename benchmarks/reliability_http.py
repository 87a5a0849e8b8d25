"""The page cache under gunicorn and uvicorn: a longer, bounded run of the reliability tests, as a table.

``run(seconds)`` (called by ``benchmarks/reliability.py``; alone:
``python benchmarks/reliability_http.py [--seconds N]``) starts the test site
of ``tests/helpers/page_apps.py`` under gunicorn (2 preforked workers, 2
threads each) and uvicorn (2 worker processes), each three times: with no
page cache, with the page cache on redis, with it on the filesystem.  Another
process loads each one in turn, round after round (the six sites interleaved,
so machine noise hits all alike), with 40 users each with their own cookie and
bearer token, and checks every answer for the user it was rendered for, its
length and checksum.  Then, for each server, redis is SIGKILLed in the middle of
a load and started again on the same port, and the file cache's directory is
removed again and again in the middle of another.

Client and servers share the machine's CPUs, so the figures are for
comparing the rows, not absolute capacity.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers.page_load import LoadProcess, PageServer, kill_redis, percentile, restart_redis
from servers.redis import RedisServer

SERVERS = ("gunicorn", "uvicorn")
BACKENDS = ("none", "redis", "file")
#: Share of the time budget spent on the steady rounds; the rest goes to the faults.
STEADY_SHARE = 0.6
#: What a round's load costs beyond its own seconds (starting the load process), for the budget.
ROUND_OVERHEAD = 0.6
#: What starting and stopping a server costs a fault run beyond its load's seconds, for the budget.
SERVER_OVERHEAD = 1.5
#: How long each page the app renders waits by default, as a page doing a few queries would.
RENDER_MS = 5.0


def _rounds(seconds: float) -> tuple[int, float]:
    steady = seconds * STEADY_SHARE
    configs = len(SERVERS) * len(BACKENDS)
    rounds = max(1, min(5, int(steady // (configs * 3))))
    return rounds, max(1.0, steady / (rounds * configs) - ROUND_OVERHEAD)


def _steady(sites: dict[tuple[str, str], PageServer], rounds: int, each: float) -> dict[tuple[str, str], Any]:
    totals: dict[tuple[str, str], dict[str, Any]] = {
        key: {
            "requests": 0,
            "hits": 0,
            "errors": 0,
            "leaks": 0,
            "corrupt": 0,
            "seconds": 0.0,
            "latencies": [],
            "hit_latencies": [],
        }
        for key in sites
    }
    for number in range(rounds):
        for key, site in sites.items():
            result = LoadProcess(site.url, each, seed=number + 1, latencies=1).result()
            total = totals[key]
            for name in ("requests", "hits", "errors", "leaks", "corrupt"):
                total[name] += result[name]
            total["seconds"] += result["seconds"]
            total["latencies"].extend(result["latencies_ms"])
            total["hit_latencies"].extend(result["hit_latencies_ms"])
    return totals


def _fault_run(
    server: str, backend: str, directory: Path, seconds: float, render_ms: float
) -> dict[str, Any]:
    """Load for ``seconds``; in the middle third, redis is SIGKILLed (restarted at its end), or the
    file cache's directory is removed five times."""
    redis = RedisServer(directory / f"fault-redis-{server}").start() if backend == "redis" else None
    pages = directory / f"fault-pages-{server}"
    where = redis.url if redis is not None else str(pages)
    try:
        site = PageServer(server, backend, where, workers=2, directory=directory, render_ms=render_ms)
        with site:
            load = LoadProcess(site.url, seconds)
            time.sleep(seconds / 3)
            began = time.time()
            if redis is not None:
                kill_redis(redis)
                time.sleep(seconds / 3)
                redis = restart_redis(redis)
            else:
                for _ in range(5):
                    shutil.rmtree(pages, ignore_errors=True)
                    time.sleep(seconds / 15)
            ended = time.time()
            result = load.result()
    finally:
        if redis is not None:
            redis.stop()
    timeline = result["timeline"]
    after = [at for at, hit, _ in timeline if hit and at > ended]
    result["phases"] = (
        sum(hit for at, hit, _ in timeline if at < began),
        sum(hit for at, hit, _ in timeline if began <= at <= ended),
        sum(hit for at, hit, _ in timeline if at > ended),
        sum(1 for at, _, _ in timeline if began <= at <= ended),
    )
    result["recovery"] = (min(after) - ended) if after else None
    return result


def run(seconds: float, render_ms: float = RENDER_MS) -> str:
    """Run for about ``seconds`` in all and return the markdown tables.

    Each request the app itself answers waits ``render_ms``, as a page doing its queries would.
    """
    directory = Path(tempfile.mkdtemp(prefix="cachemere-reliability-http-"))
    rounds, each = _rounds(seconds)
    load_before = os.getloadavg()[0]
    redis = RedisServer(directory / "redis").start()
    sites: dict[tuple[str, str], PageServer] = {}
    try:
        for server in SERVERS:
            for backend in BACKENDS:
                where = {"none": "", "redis": redis.url, "file": str(directory / f"pages-{server}")}[backend]
                site = PageServer(server, backend, where, workers=2, directory=directory, render_ms=render_ms)
                sites[server, backend] = site.start()
        totals = _steady(sites, rounds, each)
    finally:
        for site in sites.values():
            site.stop()
        redis.stop()
    faults = [(server, backend) for server in SERVERS for backend in ("redis", "file")]
    # What is left, less the servers' starts (about half a second each) and each fault run's own.
    fault_seconds = max(4.5, (seconds * (1 - STEADY_SHARE) - 3) / len(faults) - SERVER_OVERHEAD)
    fault_runs = {key: _fault_run(*key, directory, fault_seconds, render_ms) for key in faults}
    shutil.rmtree(directory, ignore_errors=True)

    lines = [
        f"Page cache under real servers: {rounds} interleaved rounds of {each:.1f} s per site, "
        "8 client threads, 40 users (each their own cookie and token), 2 workers per server; "
        f"each page the app renders waits {render_ms:g} ms (its queries). Machine load average "
        f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end ({os.cpu_count()} CPUs).",
        "",
        "| server | page cache | requests | req/s | hit rate | errors | p50 ms | p99 ms "
        "| hits p50 / p99 ms | cross-user leaks | torn/mixed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (server, backend), total in totals.items():
        requests = total["requests"] or 1
        hit_latencies = total["hit_latencies"]
        hits = (
            f"{percentile(hit_latencies, 0.5):.2f} / {percentile(hit_latencies, 0.99):.2f}"
            if hit_latencies
            else "-"
        )
        lines.append(
            f"| {server} | {'uncached' if backend == 'none' else backend} | {total['requests']} "
            f"| {total['requests'] / max(total['seconds'], 1e-9):.0f} | {total['hits'] / requests:.0%} "
            f"| {total['errors']} | {percentile(total['latencies'], 0.5):.2f} "
            f"| {percentile(total['latencies'], 0.99):.2f} | {hits} | {total['leaks']} | {total['corrupt']} |"
        )
    lines += [
        "",
        f"Faults in the middle third of a {fault_seconds:.1f} s load: redis SIGKILLed, then restarted "
        "(empty, same port) at its end; or the file cache's directory removed 5 times. "
        "The page cache fails open (hits during a redis fault: answers read just before the kill).",
        "",
        "| server | page cache | fault | requests | errors | faults injected | hits before / during / after "
        "| answers during | recovery: first hit after (ms) | cross-user leaks | torn/mixed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (server, backend), result in fault_runs.items():
        before, during, after, answered = result["phases"]
        recovery = "never" if result["recovery"] is None else f"{result['recovery'] * 1000:.0f}"
        fault, injected = ("SIGKILL, restart", 1) if backend == "redis" else ("directory removed", 5)
        lines.append(
            f"| {server} | {backend} | {fault} | {result['requests']} | {result['errors']} | {injected} "
            f"| {before} / {during} / {after} | {answered} | {recovery} "
            f"| {result['leaks']} | {result['corrupt']} |"
        )
    return "\n".join(lines)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="time budget in all (default 60)")
    parser.add_argument(
        "--render-ms", type=float, default=RENDER_MS, help=f"render wait (default {RENDER_MS:g})"
    )
    args = parser.parse_args()
    print(run(args.seconds, args.render_ms))


if __name__ == "__main__":
    main()
