"""Forked children against real memcached servers: the parent keeps working, the child has its own sockets.

Each scenario runs in a fresh interpreter, so that a child can exit the normal
way (interpreter shutdown frees every object) as well as by ``os._exit``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from servers.memcached import Servers, memcached_servers  # noqa: F401

SCENARIO = r"""
import json, os, socket, sys
from concurrent.futures import ThreadPoolExecutor
from cachemere import CacheHandler

backend, exit_mode = sys.argv[1], sys.argv[4]
location, options = json.loads(sys.argv[2]), json.loads(sys.argv[3])
cache = CacheHandler({"mc": {"BACKEND": "cachemere.backends.memcached." + backend,
                             "LOCATION": location, "OPTIONS": options}})["mc"]
keys = [f"k{i}" for i in range(12)]
pool = ThreadPoolExecutor(2)  # worker threads with clients (and sockets) of their own
assert list(pool.map(lambda k: cache.set(k, k), keys)) == [None] * len(keys)
cache.set_many({k: k for k in keys})
cache.set("counter", 0)


def sockets():
    # The inodes of this process's open sockets.
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


report = {"rounds": [], "child_sockets_shared": []}
for round in range(3):
    parent_sockets = sockets()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        ok = cache.get_many(keys) == {k: k for k in keys}
        cache.set(f"child-{round}", round)
        ok = ok and cache.get(f"child-{round}") == round and cache.get("k0") == "k0"
        # The sockets the child's client opened are its own, not inherited ones.
        new = sockets() - parent_sockets
        os.write(write, json.dumps({"ok": ok, "new_sockets": len(new)}).encode())
        os.close(write)
        if exit_mode == "_exit":
            os._exit(0)
        sys.exit(0)  # the normal way: atexit, then every object freed
    os.close(write)
    child = json.loads(os.read(read, 4096) or b"{}")
    os.close(read)
    _, status = os.waitpid(pid, 0)
    # Right after the child exits, every operation of the parent succeeds, in every thread.
    errors = []
    for name, call in [
        ("get", lambda: cache.get("k1") == "k1"),
        ("set", lambda: cache.set(f"parent-{round}", round) is None),
        ("get_many", lambda: cache.get_many(keys) == {k: k for k in keys}),
        ("incr", lambda: cache.incr("counter") == round + 1),
        ("threads", lambda: list(pool.map(cache.get, keys)) == keys),
        ("child's key", lambda: cache.get(f"child-{round}") == round),
    ]:
        try:
            if not call():
                errors.append(f"{name}: wrong answer")
        except Exception as exc:
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    report["rounds"].append({"child": child, "status": os.waitstatus_to_exitcode(status), "errors": errors})
print(json.dumps(report))
"""

FLAVOURS = {
    "pymemcache": ("PyMemcacheCache", {}),
    "pymemcache-pooled": ("PyMemcacheCache", {"use_pooling": True}),
    "pylibmc": ("PyLibMCCache", {}),
    "pylibmc-binary": ("PyLibMCCache", {"binary": True}),
}


@pytest.mark.parametrize("exit_mode", ["_exit", "normal"])
@pytest.mark.parametrize("flavour", list(FLAVOURS))
def test_parent_keeps_working_after_each_child_exits(
    memcached_servers: Servers, flavour: str, exit_mode: str  # noqa: F811
) -> None:
    backend, options = FLAVOURS[flavour]
    for location in (memcached_servers.ring, memcached_servers.unix.location):
        result = subprocess.run(
            [sys.executable, "-c", SCENARIO, backend, json.dumps(location), json.dumps(options), exit_mode],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        assert len(report["rounds"]) == 3
        for number, round_ in enumerate(report["rounds"]):
            assert round_["errors"] == [], (location, number, round_)
            assert round_["status"] == 0 and round_["child"]["ok"] is True, round_
            # The child talked to the servers over sockets it opened itself.
            assert round_["child"]["new_sockets"] >= 1, round_
