"""A bounded mixed load on one cache, from forked processes, threads and asyncio tasks, and what it saw.

:func:`run_load` builds the cache in this process and uses it (sync and
async), then forks worker processes, as a preforking server does.  Each
process runs threads calling the sync methods and one thread whose event loop
runs tasks calling the async twins; every worker drives the same operation mix
(:func:`_worker`, a step-protocol generator run by ``drive`` or ``adrive``):
get/set/add/delete/touch/get_many on keys shared by everyone, the same on keys
private to the worker, ``incr`` on one shared counter, and a set-then-get probe.

What is checked (:meth:`LoadReport.problems` lists every violation):

* no exception reaches a caller, except the types the target declares for a
  fault (and ``ValueError`` from ``incr`` of a counter that a restarted,
  empty server no longer has: that is the documented miss);
* every value names its key (values are tokens ``key|worker|seq`` in several
  types), so a value read under another key is caught;
* a private key reads back exactly what its worker last wrote, during the run
  and at the end (in the worker and, for stores shared between processes, in
  the parent); during a fault a write's fate is unknown, so the end check
  covers what was written once the worker saw the backend work again
  (everything, for a durable store);
* with an atomic ``incr`` every answer is distinct and they are exactly
  1..n (per process for a per-process store).

The parent can inject faults meanwhile (:class:`Fault`); recovery is the time
from a server's return to each worker's first successful probe.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cachemere import CacheHandler
from cachemere.backends.base import BaseCache, Step, adrive, drive

ALIAS = "load"
SHARED_KEYS = [f"shared-{i}" for i in range(40)]
PRIVATE_KEYS = 25
COUNTER = "counter"
#: Operation weights of the mix.
MIX = {
    "get_shared": 20, "set_shared": 12, "add_shared": 5, "delete_shared": 4, "touch_shared": 4,
    "get_many": 8, "incr": 10, "set_private": 12, "get_private": 10, "add_private": 3,
    "delete_private": 3, "touch_private": 2, "probe": 4,
}  # fmt: skip
_OPS = list(MIX)
_WEIGHTS = list(MIX.values())
UNKNOWN = "?"


@dataclass(frozen=True)
class Target:
    """One backend under load: its CACHES entry and what its documentation promises."""

    name: str
    caches: dict[str, Any]
    #: Settings of the CacheHandler (SECRET_KEY, DATABASES).
    settings: dict[str, Any] = field(default_factory=dict)
    #: One store seen by every process (False: local memory, a store per process).
    shared: bool = True
    #: incr is atomic (docs/reliability.md): concurrent increments never collide.
    atomic_incr: bool = True
    #: Exception types a caller may see while a server is down (empty: none at all).
    fault_errors: tuple[type[BaseException], ...] = ()
    #: The data outlives a server crash (PostgreSQL), so every private key must read back.
    durable: bool = False
    #: Seconds after its first success past a fault by which every client of a
    #: worker uses the server again (a client that gave up on a server skips it
    #: for a while: pymemcache's retry/dead timeouts, pylibmc's retry_timeout).
    settle: float = 0.1

    def handler(self) -> CacheHandler:
        return CacheHandler({ALIAS: self.caches}, **self.settings)


@dataclass
class Fault:
    """One injected fault: when the server went down and when it answered again (monotonic clock)."""

    killed_at: float
    back_at: float


def token(key: str, worker: str, seq: int) -> str:
    return f"{key}|{worker}|{seq}"


def key_of(token: str) -> str:
    return token.rsplit("|", 2)[0]


def encode(tok: str, seq: int) -> Any:
    """The token in one of several value types (str, bytes, dict and tuple: pickled ones too)."""
    kind = seq % 4
    if kind == 0:
        return tok
    if kind == 1:
        return tok.encode()
    if kind == 2:
        return {"token": tok, "pad": "x" * (seq % 300)}
    return (tok, [seq])


def decode(value: Any) -> str | None:
    """The token a value carries, or None for something the load never stores."""
    if type(value) is str:
        return value
    if type(value) is bytes:
        try:
            return value.decode()
        except UnicodeDecodeError:
            return None
    if type(value) is dict and type(value.get("token")) is str:
        return value["token"]  # type: ignore[no-any-return]
    if type(value) is tuple and len(value) == 2 and type(value[0]) is str:
        return value[0]
    return None


def _call(name: str, *args: Any) -> Generator[Step, Any, tuple[bool, Any]]:
    """One step; (True, answer) or (False, the exception it raised)."""
    try:
        answer = yield name, args
    except Exception as exc:
        return False, exc
    return True, answer


class _Worker:
    """One worker's state and findings (sent to the parent as JSON)."""

    def __init__(self, name: str, target: Target, faulty: bool, seed: int) -> None:
        self.name, self.target, self.faulty = name, target, faulty
        #: Every answer must match the worker's own writes (no fault, or a store whose writes never vanish).
        self.strict = not faulty or target.durable
        self.rng = random.Random(seed)
        self.seq = 0
        self.private = [f"private-{name}-{i}" for i in range(PRIVATE_KEYS)]
        #: key -> (tokens the store may hold; None for absent, when it was last changed).
        self.expect: dict[str, tuple[list[str | None], float]] = {}
        self.ops = 0
        self.errors: list[str] = []
        self.error_count = 0
        self.fault_errors: Counter[str] = Counter()
        self.incr_misses = 0
        self.foreign: list[str] = []
        self.stale: list[str] = []
        self.lost_during_run = 0
        self.stale_during_run = 0
        self.incrs: list[int] = []
        self.probe_ok: list[float] = []
        self.probe_bad: list[float] = []
        self.final: list[list[Any]] = []

    # -- bookkeeping -----------------------------------------------------------

    def next_token(self, key: str) -> tuple[str, Any]:
        self.seq += 1
        tok = token(key, self.name, self.seq)
        return tok, encode(tok, self.seq)

    def failed(self, op: str, key: str, exc: BaseException) -> None:
        if self.target.fault_errors and isinstance(exc, self.target.fault_errors):
            self.fault_errors[type(exc).__name__] += 1
            return
        if self.faulty and op == "incr" and type(exc) is ValueError:
            self.incr_misses += 1  # the restarted server lost the counter: documented miss
            return
        self.error_count += 1
        if len(self.errors) < 20:
            self.errors.append(f"{self.name} {op}({key!r}): {type(exc).__name__}: {exc}")

    def check_value(self, key: str, value: Any) -> str | None:
        """The token of a value read under ``key``; a value of another key is recorded."""
        if value is None:
            return None
        tok = decode(value)
        if tok is None or key_of(tok) != key:
            if len(self.foreign) < 20:
                self.foreign.append(f"{self.name}: {value!r:.120} read under {key!r}")
            else:
                self.foreign.append("...")
            return UNKNOWN
        return tok

    def wrote(self, key: str, ok: bool, tok: str | None) -> None:
        """Record a write of ``tok`` (None: a delete); on failure either outcome is possible."""
        before = self.expect.get(key, ([None], 0.0))[0]
        tokens = [tok] if ok else [*before, tok]
        self.expect[key] = (tokens, time.monotonic())

    def read(self, key: str, tok: str | None) -> None:
        """Compare what a private key read gave with what may be there."""
        if tok == UNKNOWN:
            return
        tokens, when = self.expect.get(key, ([None], 0.0))
        if tok in tokens:
            self.expect[key] = ([tok], when)
        elif not self.strict:
            # During a fault a miss says nothing about the store (a client that
            # gave up on a server answers misses without asking it), and a write
            # that answered may have been dropped: the old value then stays.
            if tok is None:
                self.lost_during_run += 1
            else:
                self.stale_during_run += 1
                self.expect[key] = ([tok], when)
        elif tok is None:
            self.stale.append(f"{self.name}: {key!r} lost: expected {tokens}")
        else:
            self.stale.append(f"{self.name}: {key!r} holds {tok!r}, expected one of {tokens}")

    def probed(self, ok: bool) -> None:
        now = time.monotonic()
        times = self.probe_ok if ok else self.probe_bad
        if not times or now - times[-1] > 0.01:
            times.append(now)

    def result(self) -> dict[str, Any]:
        return {
            "name": self.name, "pid": os.getpid(), "ops": self.ops, "errors": self.errors,
            "error_count": self.error_count, "fault_errors": dict(self.fault_errors),
            "incr_misses": self.incr_misses, "foreign": self.foreign, "stale": self.stale,
            "lost_during_run": self.lost_during_run, "stale_during_run": self.stale_during_run,
            "incrs": self.incrs,
            "probe_ok": self.probe_ok, "probe_bad": self.probe_bad, "final": self.final,
            "expect": {key: [tokens, when] for key, (tokens, when) in self.expect.items()},
        }  # fmt: skip


class _Until:
    """When workers stop: at the deadline, or later, once the parent says so (a file appears)."""

    def __init__(self, deadline: float, stop: Path) -> None:
        self.deadline, self.stop, self.stopped = deadline, stop, False

    def running(self) -> bool:
        if self.stopped or time.monotonic() < self.deadline:
            return not self.stopped
        self.stopped = self.stop.exists() or time.monotonic() > self.deadline + 120
        return not self.stopped


def _worker(w: _Worker, until: _Until) -> Generator[Step, Any, None]:
    """The operation mix until told to stop, then a read-back of the worker's private keys."""
    rng = w.rng
    while until.running():
        op = rng.choices(_OPS, _WEIGHTS)[0]
        w.ops += 1
        shared = rng.choice(SHARED_KEYS)
        private = rng.choice(w.private)
        if op == "get_shared":
            ok, answer = yield from _call("get", shared)
            if ok:
                w.check_value(shared, answer)
            else:
                w.failed(op, shared, answer)
        elif op in ("set_shared", "add_shared"):
            _, value = w.next_token(shared)
            timeout = rng.choice((None, 300))
            ok, answer = yield from _call(op[:3], shared, value, timeout)
            if not ok:
                w.failed(op, shared, answer)
        elif op == "delete_shared":
            ok, answer = yield from _call("delete", shared)
            if not ok:
                w.failed(op, shared, answer)
        elif op == "touch_shared":
            ok, answer = yield from _call("touch", shared, 300)
            if not ok:
                w.failed(op, shared, answer)
        elif op == "get_many":
            keys = [*rng.sample(SHARED_KEYS, 4), private]
            ok, answer = yield from _call("get_many", keys)
            if not ok:
                w.failed(op, private, answer)
                continue
            for key, value in answer.items():
                if key not in keys:
                    w.foreign.append(f"{w.name}: get_many answered key {key!r} not asked for")
                    continue
                tok = w.check_value(key, value)
                if key == private:
                    w.read(private, tok)
            if private not in answer:
                w.read(private, None)
        elif op == "incr":
            ok, answer = yield from _call("incr", COUNTER)
            if ok:
                w.incrs.append(answer)
            else:
                w.failed(op, COUNTER, answer)
        elif op == "set_private":
            tok, value = w.next_token(private)
            ok, answer = yield from _call("set", private, value, None)
            if not ok:
                w.failed(op, private, answer)
            w.wrote(private, ok, tok)
        elif op == "add_private":
            tok, value = w.next_token(private)
            ok, answer = yield from _call("add", private, value, None)
            if not ok:
                w.failed(op, private, answer)
                w.wrote(private, False, tok)
            elif answer:
                absent = None in w.expect.get(private, ([None], 0.0))[0]
                if not absent and w.strict:
                    w.stale.append(f"{w.name}: add({private!r}) stored over a live value")
                w.wrote(private, True, tok)
            elif w.expect.get(private, ([None], 0.0))[0] == [None] and w.strict:
                w.stale.append(f"{w.name}: add({private!r}) refused, but the key was absent")
        elif op == "get_private":
            ok, answer = yield from _call("get", private)
            if ok:
                w.read(private, w.check_value(private, answer))
            else:
                w.failed(op, private, answer)
        elif op == "delete_private":
            ok, answer = yield from _call("delete", private)
            if not ok:
                w.failed(op, private, answer)
            w.wrote(private, ok, None)
        elif op == "touch_private":
            ok, answer = yield from _call("touch", private, None)
            if not ok:
                w.failed(op, private, answer)
        else:  # probe: does the backend work right now?
            probe = f"probe-{w.name}"
            tok, value = w.next_token(probe)
            ok, answer = yield from _call("set", probe, value, 60)
            if ok:
                ok, answer = yield from _call("get", probe)
                ok = ok and w.check_value(probe, answer) == tok
            w.probed(ok)
    # The read-back: every private key as expected, in one get_many.
    ok, answer = yield from _call("get_many", w.private)
    if not ok:
        w.failed("final get_many", "", answer)
        return
    for key in w.private:
        tokens, when = w.expect.get(key, ([None], 0.0))
        tok = w.check_value(key, answer.get(key))
        if tok not in tokens:
            w.final.append([key, tokens, tok, when])


def _thread_body(target: Target, handler: CacheHandler, workers: list[_Worker], until: _Until,
                 asynchronous: bool, crashed: list[str]) -> None:  # fmt: skip
    try:
        cache = handler[ALIAS]
        if asynchronous:

            async def main() -> None:
                await asyncio.gather(*(adrive(cache, _worker(w, until)) for w in workers))

            asyncio.run(main())
        else:
            drive(cache, _worker(workers[0], until))
    except BaseException:
        crashed.append(traceback.format_exc())


def _child(target: Target, handler: CacheHandler, index: int, threads: int, tasks: int,
           seconds: float, faulty: bool, out: Path) -> None:  # fmt: skip
    """The body of one forked process: its threads and tasks, then its findings as JSON."""
    until = _Until(time.monotonic() + seconds, out.with_suffix(".stop"))
    groups = [[_Worker(f"p{index}t{t}", target, faulty, index * 100 + t)] for t in range(threads)]
    tasks_group = [_Worker(f"p{index}a{t}", target, faulty, index * 100 + 50 + t) for t in range(tasks)]
    crashed: list[str] = []
    runners = [
        threading.Thread(target=_thread_body, args=(target, handler, group, until, False, crashed))
        for group in groups
    ]
    if tasks:
        runners.append(threading.Thread(
            target=_thread_body, args=(target, handler, tasks_group, until, True, crashed)))  # fmt: skip
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    workers = [w for group in groups for w in group] + tasks_group
    out.write_text(json.dumps({"workers": [w.result() for w in workers], "crashed": crashed}))


@dataclass
class LoadReport:
    """What one run saw; :meth:`problems` lists everything that breaks a promise."""

    target: str
    seconds: float
    ops: int = 0
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    fault_errors: Counter[str] = field(default_factory=Counter)
    incr_misses: int = 0
    foreign: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    lost_during_faults: int = 0
    stale_during_faults: int = 0
    incr_problems: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    recovery: list[float] = field(default_factory=list)
    unrecovered: list[str] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)

    @property
    def worst_recovery(self) -> float | None:
        return max(self.recovery) if self.recovery else None

    @property
    def caller_errors(self) -> int:
        """Exceptions callers saw: unexpected ones plus the documented fault types."""
        return self.error_count + sum(self.fault_errors.values())

    def problems(self) -> list[str]:
        found = [f"{self.target}: worker crashed: {text}" for text in self.crashed]
        if self.error_count:
            found.append(f"{self.target}: {self.error_count} unexpected exceptions, e.g. {self.errors[:5]}")
        found += [f"{self.target}: foreign value: {text}" for text in self.foreign[:5]]
        found += [f"{self.target}: wrong value: {text}" for text in self.stale[:5]]
        found += [f"{self.target}: lost: {text}" for text in self.lost[:5]]
        found += [f"{self.target}: incr: {text}" for text in self.incr_problems]
        found += [f"{self.target}: {text}" for text in self.unrecovered]
        return found


def run_load(target: Target, seconds: float = 1.5, processes: int = 3, threads: int = 2, tasks: int = 2,
             inject: Callable[[float], list[Fault]] | None = None) -> LoadReport:  # fmt: skip
    """Run the mix for ``seconds`` in ``processes`` forked processes; ``inject(seconds)`` runs meanwhile.

    ``inject`` runs in this process while the workers run and returns the
    faults it caused, every server back; the workers run on until a second
    (plus twice the target's ``settle``) after the last return, however late.
    """
    handler = target.handler()
    cache = handler[ALIAS]
    # Used before the fork, from this thread and an event loop, as an app does at start.
    cache.set(COUNTER, 0, None)
    cache.set_many({key: encode(token(key, "parent", 0), 0) for key in SHARED_KEYS}, 300)
    asyncio.run(cache.aget(SHARED_KEYS[0]))
    report = LoadReport(target.name, seconds)
    faulty = inject is not None
    with tempfile.TemporaryDirectory(prefix="cachemere-load-") as tmp:
        outputs = [Path(tmp) / f"{index}.json" for index in range(processes)]
        pids = []
        for index in range(processes):
            pid = os.fork()
            if pid == 0:  # the child: never return into the caller's code (pytest)
                status = 0
                try:
                    _child(target, handler, index, threads, tasks, seconds, faulty, outputs[index])
                except BaseException:
                    traceback.print_exc()
                    status = 1
                finally:
                    os._exit(status)
            pids.append(pid)
        if inject is not None:
            report.faults = inject(seconds)
            if report.faults:
                # Let the workers run on a while after the last return, however late it came.
                _sleep_until(report.faults[-1].back_at + 1.0 + 2 * target.settle)
        for path in outputs:
            path.with_suffix(".stop").touch()
        _wait_for(pids, seconds + 60, report)
        results = []
        for path in outputs:
            try:
                results.append(json.loads(path.read_text()))
            except (OSError, ValueError) as exc:
                report.crashed.append(f"no result from a worker process ({exc})")
    workers = [w for result in results for w in result["workers"]]
    report.crashed += [text for result in results for text in result["crashed"]]
    _collect(report, target, workers, cache if target.shared else None)
    return report


def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _wait_for(pids: list[int], limit: float, report: LoadReport) -> None:
    deadline = time.monotonic() + limit
    pending = set(pids)
    while pending:
        for pid in list(pending):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                pending.discard(pid)
                if os.waitstatus_to_exitcode(status) != 0:
                    report.crashed.append(f"worker process {pid} exited with {status}")
        if pending and time.monotonic() > deadline:
            for pid in pending:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                report.crashed.append(f"worker process {pid} hung and was killed")
            return
        time.sleep(0.02)


def _recovered_at(report: LoadReport, worker: dict[str, Any]) -> float | None:
    """When this worker first saw the backend work after the last fault (None: never)."""
    if not report.faults:
        return 0.0
    moment = 0.0
    for fault in report.faults:
        after = [t for t in worker["probe_ok"] if t >= fault.back_at]
        if not after:
            report.unrecovered.append(f"worker {worker['name']} never saw the backend work again")
            return None
        report.recovery.append(after[0] - fault.back_at)
        moment = after[0]
    return moment


def _read_back(cache: BaseCache, keys: list[str], target: Target, report: LoadReport) -> dict[str, Any]:
    """get_many in this process.

    After a fault, this process's connections from before it are dead: the
    first call meeting one fails (raises, or is a miss with the degrade option
    on), so a probe runs first until the cache answers.
    """
    if report.faults:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                cache.set("probe-parent", "ok", 60)
                if cache.get("probe-parent") == "ok":
                    break
            except target.fault_errors:
                pass
            time.sleep(0.05)
    return cache.get_many(keys)


def _collect(
    report: LoadReport, target: Target, workers: list[dict[str, Any]], parent: BaseCache | None
) -> None:
    faulty = bool(report.faults)
    for worker in workers:
        report.ops += worker["ops"]
        report.errors += worker["errors"]
        report.error_count += worker["error_count"]
        report.fault_errors.update(worker["fault_errors"])
        report.incr_misses += worker["incr_misses"]
        report.foreign += worker["foreign"]
        report.stale += worker["stale"]
        report.lost_during_faults += worker["lost_during_run"]
        report.stale_during_faults += worker["stale_during_run"]
        since = _recovered_at(report, worker)
        if since is None:
            continue
        # What the worker read back at its end, and what this process reads now:
        # after a fault, what it wrote once its clients had all settled.
        settled = since + target.settle
        must = {
            key: tokens for key, (tokens, when) in worker["expect"].items()
            if target.durable or not faulty or when > settled
        }  # fmt: skip
        for key, tokens, got, when in worker["final"]:
            if target.durable or not faulty or when > settled:
                report.lost.append(f"{key!r} read back {got!r} in its worker, expected one of {tokens}")
        if parent is not None and must:
            found = _read_back(parent, list(must), target, report)
            for key, tokens in must.items():
                value = found.get(key)
                got = decode(value) if value is not None else None
                if got not in tokens:
                    report.lost.append(f"{key!r} reads {got!r} in the parent, expected one of {tokens}")
    if target.atomic_incr and not faulty:
        stores: dict[Any, list[int]] = {}
        for worker in workers:
            stores.setdefault("all" if target.shared else worker["pid"], []).extend(worker["incrs"])
        for store, answers in stores.items():
            if sorted(answers) != list(range(1, len(answers) + 1)):
                dupes = [n for n, c in Counter(answers).items() if c > 1][:5]
                report.incr_problems.append(
                    f"store {store}: {len(answers)} increments answered {len(set(answers))} distinct "
                    f"values, not 1..{len(answers)} (repeated: {dupes})"
                )
        if parent is not None:
            final = parent.get(COUNTER)
            total = len(stores.get("all", []))
            if final != total:
                report.incr_problems.append(f"the counter holds {final!r} after {total} increments")
