"""Canaries for the private redis-py names the backend relies on, and the backend's typing."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aredis

from cachemere.backends.redis import compat, ops
from servers.redis import Servers, redis_servers

__all__ = ["redis_servers"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("path", sorted({*compat.RENAMED_CLASSES.values()}))
def test_each_renamed_parser_class_still_exists(path: str) -> None:
    module, _, name = path.rpartition(".")
    assert isinstance(getattr(importlib.import_module(module), name), type), path


def test_every_sync_class_has_an_async_twin_of_the_same_kind() -> None:
    for sync_cls, async_cls in compat.ASYNC_TWINS.items():
        assert isinstance(sync_cls, type) and isinstance(async_cls, type)
        assert sync_cls.__name__.replace("_", "") in async_cls.__name__.replace("_", "").replace("Async", "")


def test_maintenance_notifications_can_be_switched_off() -> None:
    assert compat.MaintNotificationsConfig is not None
    assert compat.MaintNotificationsConfig(enabled=False).enabled is False


def test_async_transports_finds_idle_and_busy_connections(redis_servers: Servers) -> None:
    async def scenario() -> tuple[int, int]:
        pool = aredis.ConnectionPool.from_url(redis_servers.leader.url)
        busy = await pool.get_connection()
        idle = await pool.get_connection()
        await pool.release(idle)
        try:
            transports = list(compat.async_transports(pool))
            return len(transports), sum(isinstance(t, asyncio.BaseTransport) for t in transports)
        finally:
            await pool.release(busy)
            await pool.disconnect()

    assert asyncio.run(scenario()) == (2, 2)


def test_redis_commands_are_not_named_like_cache_steps() -> None:
    # base.Step/Logic are cache calls; a redis command must not share their names.
    assert not hasattr(ops, "Step") and not hasattr(ops, "Op")
    assert ops.Command == tuple[int, Any]
    assert ops.CommandLogic[bool].__origin__.__name__ == "Generator"


def test_the_backend_passes_mypy_strict() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent",
         "src/cachemere/backends/redis", "src/cachemere/redaction.py"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
