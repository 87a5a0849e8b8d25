"""FileBasedCache across processes: concurrent use, atomic incr/add, writers killed mid-write."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cachemere.backends.filebased import FileBasedCache
from cachemere.conf import settings

# fork: children inherit the test module; it also exercises the at-fork reset of shared locks.
fork = multiprocessing.get_context("fork")


@pytest.fixture(autouse=True)
def no_secret_key() -> Iterator[None]:
    settings.reset()
    yield
    settings.reset()


def make(directory: Path | str, **options: Any) -> FileBasedCache:
    return FileBasedCache(directory, {"OPTIONS": options})


def checked_value(key: str, rng: random.Random) -> dict[str, Any]:
    """A value that carries a checksum of itself, so a reader can tell it is intact."""
    size = rng.choice((10, 200, 5000, 60_000, 200_000))
    payload = os.urandom(size) if rng.random() < 0.5 else bytes([rng.randrange(256)]) * size
    return {"key": key, "payload": payload, "sha": hashlib.sha256(key.encode() + payload).hexdigest()}


def verify(key: str, value: Any) -> None:
    if value is None:
        return
    assert value["key"] == key, f"value of {value['key']!r} returned for {key!r}"
    assert hashlib.sha256(key.encode() + value["payload"]).hexdigest() == value["sha"], "corrupted value"


def run_workers(body: Callable[..., Any], count: int, *args: Any) -> list[Any]:
    """Run ``body(index, *args)`` in ``count`` forked processes; return their results by index.

    A worker that raised fails the test with its traceback.
    """
    queue = fork.Queue()
    processes = [fork.Process(target=_guarded, args=(queue, body, index, *args)) for index in range(count)]
    for process in processes:
        process.start()
    results = dict(queue.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(30)
        assert process.exitcode == 0
    errors = [detail for status, detail in results.values() if status == "error"]
    assert not errors, errors[0]
    return [results[index][1] for index in range(count)]


def _guarded(queue: Any, body: Callable[..., Any], index: int, *args: Any) -> None:
    try:
        queue.put((index, ("ok", body(index, *args))))
    except BaseException:
        queue.put((index, ("error", traceback.format_exc())))


def _mixed_load(index: int, directory: str, seconds: float) -> int:
    cache = make(directory, MAX_ENTRIES=25)
    rng = random.Random(index)
    keys = [f"key{i}" for i in range(40)]
    deadline = time.monotonic() + seconds
    operations = 0
    while time.monotonic() < deadline:
        key = rng.choice(keys)
        roll = rng.random()
        if roll < 0.35:
            verify(key, cache.get(key))
        elif roll < 0.6:
            cache.set(key, checked_value(key, rng), rng.choice((None, 0.05, 60)))
        elif roll < 0.68:
            cache.add(key, checked_value(key, rng))
        elif roll < 0.78:
            cache.delete(key)
        elif roll < 0.86:
            chosen = rng.sample(keys, 5)
            for found_key, value in cache.get_many(chosen).items():
                verify(found_key, value)
        elif roll < 0.92:
            cache.touch(key, rng.choice((None, 0.05, 60)))
        elif roll < 0.97:
            cache.has_key(key)
        elif roll < 0.995:
            cache.set_many({k: checked_value(k, rng) for k in rng.sample(keys, 3)})
        else:
            cache.clear()
        operations += 1
    return operations


def test_processes_share_a_directory_safely(tmp_path: Path) -> None:
    directory = str(tmp_path / "cache")
    counts = run_workers(_mixed_load, 4, directory, 3.0)
    assert all(count > 50 for count in counts)
    # multiprocessing ends its children with os._exit (no atexit hook), so
    # they could not remove their spares: this process does, as it starts.
    cache = make(directory, MAX_ENTRIES=25)
    assert list(Path(directory).glob("??/*.tmp")) == []
    assert [p.name for p in Path(directory, ".cachemere").glob("live-*")] == [f"live-{os.getpid():x}"]
    for i in range(40):
        verify(f"key{i}", cache.get(f"key{i}"))
    cache.prune()
    files = len(list(Path(directory).glob("??/*.cache")))
    assert cache._state.total() == files


def _incr_many(index: int, directory: str, times: int) -> None:
    cache = make(directory)
    for _ in range(times):
        cache.incr("counter")
        cache.decr("down")


def test_incr_is_atomic_across_processes(tmp_path: Path) -> None:
    directory = str(tmp_path / "cache")
    cache = make(directory)
    cache.set("counter", 0, 300)
    cache.set("down", 0)
    run_workers(_incr_many, 4, directory, 150)
    assert cache.get("counter") == 600
    assert cache.get("down") == -600


def _add_race(index: int, directory: str, rounds: int) -> tuple[int, list[str]]:
    cache = make(directory)
    return index, [f"race{n}" for n in range(rounds) if cache.add(f"race{n}", index)]


def test_add_has_exactly_one_winner(tmp_path: Path) -> None:
    directory = str(tmp_path / "cache")
    results = run_workers(_add_race, 4, directory, 200)
    won = [key for _, keys in results for key in keys]
    assert sorted(won) == sorted(f"race{n}" for n in range(200))
    cache = make(directory)
    for index, keys in results:
        for key in keys:
            assert cache.get(key) == index


def _count_writer(index: int, directory: str) -> int:
    cache = make(directory)
    for i in range(25):
        cache.set(f"p{index}-{i}", i)
    return cache._state.total()


def test_entry_count_is_shared_across_processes(tmp_path: Path) -> None:
    directory = str(tmp_path / "cache")
    cache = make(directory)
    cache.set("parent", 1)
    seen = run_workers(_count_writer, 3, directory)
    assert all(26 <= total <= 76 for total in seen), seen  # its own 25 and the parent's, at least
    assert cache._state.total() == 76
    assert [cache.get(f"p{index}-24") for index in range(3)] == [24] * 3


def _first_use(index: int, directory: str, start: float) -> None:
    time.sleep(max(0.0, start - time.time()))
    make(directory).set(f"from{index}", index)


def test_processes_agree_on_the_generated_key(tmp_path: Path) -> None:
    directory = str(tmp_path / "cache")
    run_workers(_first_use, 4, directory, time.time() + 0.3)
    cache = make(directory)
    assert [cache.get(f"from{i}") for i in range(4)] == [0, 1, 2, 3]


# -- a writer killed mid-write ------------------------------------------------------------


def _stall_writes(ready: int) -> None:
    """In a child: make the next write stop half-way, tell the parent, and wait to be killed."""
    real_writev = os.writev

    def half(fd: int, chunks: Any) -> int:
        data = b"".join(chunks)
        written = real_writev(fd, [data[: len(data) // 2]])
        os.write(ready, b"!")
        time.sleep(60)
        return written

    os.writev = half  # type: ignore[assignment]


def _stall_mid_write(directory: str, value: bytes, ready: int) -> None:
    """Child: write half of the value into the temp file, tell the parent, wait to be killed."""
    _stall_writes(ready)
    make(directory).set("key", value)


@pytest.mark.parametrize("old_value", [b"old value", None])
def test_writer_killed_mid_write_leaves_old_value(tmp_path: Path, old_value: bytes | None) -> None:
    directory = str(tmp_path / "cache")
    cache = make(directory)
    if old_value is not None:
        cache.set("key", old_value)
    read, write = os.pipe()
    child = fork.Process(target=_stall_mid_write, args=(directory, os.urandom(3_000_000), write))
    child.start()
    assert os.read(read, 1) == b"!"
    os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
    child.join()
    assert child.exitcode == -signal.SIGKILL
    temps = list(Path(directory).glob("??/*.tmp"))
    assert len(temps) == 1 and 0 < temps[0].stat().st_size < 3_000_000
    assert cache.get("key") == old_value
    assert cache._state.total() == (old_value is not None)
    cache.prune()  # its writer is gone (its live file is no longer locked): young as it is, it goes
    assert not temps[0].exists()
    assert cache.get("key") == old_value


def _write_forever(directory: str, values: list[dict[str, Any]], done: int) -> None:
    """Child: write the values in turn forever, one byte to ``done`` after each completed set."""
    cache = make(directory)
    while True:
        for value in values:
            cache.set("big", value)
            os.write(done, b"!")


def test_writer_killed_at_random_times_never_leaves_a_corrupt_value(tmp_path: Path) -> None:
    directory = str(tmp_path / "cache")
    rng = random.Random(7)
    values = []
    for size in (2_000_000, 3_000_000):
        payload = os.urandom(size)
        values.append({"key": "big", "payload": payload, "sha": hashlib.sha256(b"big" + payload).hexdigest()})
    cache = make(directory)
    seen = set()
    for _ in range(6):
        read, write = os.pipe()
        child = fork.Process(target=_write_forever, args=(directory, values, write))
        child.start()
        os.close(write)
        # Kill it after a random number of completed writes, at a random point
        # of the next one: the cache then holds one complete value or the other.
        for _ in range(rng.randint(1, 3)):
            assert os.read(read, 1) == b"!"
        time.sleep(rng.uniform(0, 0.02))
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join()
        os.close(read)
        value = cache.get("big")
        assert value is not None
        verify("big", value)
        seen.add(len(value["payload"]))
    assert seen <= {2_000_000, 3_000_000}


def _stall_rewriting_a_spare(directory: str, ready: int) -> None:
    """Child: make a spare, then stall half-way through rewriting it in place."""
    cache = make(directory)
    cache.set("key", b"first")
    cache.set("key", b"second")  # "first"'s file is now a spare
    time.sleep(0.01)
    _stall_writes(ready)
    cache.set("key", b"third, never seen")


def test_writer_killed_while_rewriting_a_spare(tmp_path: Path) -> None:
    directory = str(tmp_path / "cache")
    read, write = os.pipe()
    child = fork.Process(target=_stall_rewriting_a_spare, args=(directory, write))
    child.start()
    assert os.read(read, 1) == b"!"
    os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
    child.join()
    # Half-written under its temp name, the spare never showed; the child is
    # gone, so this process removes it as it starts using the directory.
    assert len(list(Path(directory).glob("??/*.tmp"))) == 1
    cache = make(directory)
    assert cache.get("key") == b"second"
    assert list(Path(directory).glob("??/*.tmp")) == []


def test_threads_sharing_one_instance(tmp_path: Path) -> None:
    import asyncio
    import threading

    cache = make(tmp_path / "cache", MAX_ENTRIES=20)
    cache.set("counter", 0)
    errors: list[str] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(150):
                key = f"key{rng.randrange(30)}"
                roll = rng.random()
                if roll < 0.3:
                    verify(key, cache.get(key))
                elif roll < 0.6:
                    cache.set(key, checked_value(key, rng))
                elif roll < 0.7:
                    cache.delete(key)
                elif roll < 0.8:
                    cache.add(key, checked_value(key, rng))
                cache.incr("counter")
        except BaseException:
            errors.append(traceback.format_exc())

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]

    async def increments() -> None:
        await asyncio.gather(*(cache.aincr("counter") for _ in range(100)))

    asyncio.run(increments())
    assert cache.get("counter") == 6 * 150 + 100
