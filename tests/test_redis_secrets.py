"""No password of a redis LOCATION reaches a log line, an exception (notes, causes) or a repr."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cachemere import CacheHandler
from cachemere.exceptions import ImproperlyConfigured
from servers.common import free_port
from servers.redis import ACL_USER, Servers, redis_servers

__all__ = ["redis_servers"]

SECRET = "Wr0ng-S3cret"


def make(location: Any, **options: Any) -> Any:
    entry = {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": location, "OPTIONS": options}
    return CacheHandler({"redis": entry})["redis"]


def texts(exc: BaseException | None) -> Iterator[str]:
    """Everything an exception shows: message, repr, notes, and the same for its causes and contexts."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield str(exc)
        yield repr(exc)
        yield from getattr(exc, "__notes__", [])
        yield from texts(exc.__context__) if exc.__cause__ is not None else ()
        exc = exc.__cause__ or exc.__context__


def locations(servers: Servers, tmp_path: Path) -> dict[str, str]:
    acl, dead = servers.acl.port, free_port()
    socket = tmp_path / "no-such.sock"
    return {
        "userinfo, wrong password": f"redis://{ACL_USER}:{SECRET}@127.0.0.1:{acl}/0",
        "query, wrong password": f"redis://{ACL_USER}@127.0.0.1:{acl}/0?password={SECRET}",
        "dead server, userinfo": f"redis://:{SECRET}@127.0.0.1:{dead}",
        "dead server, query": f"redis://127.0.0.1:{dead}/0?password={SECRET}",
        "dead unix socket, userinfo": f"unix://:{SECRET}@{socket}",
        "dead unix socket, user and password": f"unix://{ACL_USER}:{SECRET}@{socket}",
        "dead unix socket, query": f"unix://{socket}?password={SECRET}",
        "list with a replica": [f"redis://127.0.0.1:{dead}", f"redis://:{SECRET}@127.0.0.1:{dead}"],
    }


@pytest.mark.parametrize("ignore", [False, True])
def test_failures_never_show_the_password(
    redis_servers: Servers, tmp_path: Path, caplog: pytest.LogCaptureFixture, ignore: bool
) -> None:
    shown: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for name, location in locations(redis_servers, tmp_path).items():
            cache = make(location, IGNORE_EXCEPTIONS=ignore, socket_connect_timeout=5)
            shown.append(repr(cache))
            calls = (
                lambda c=cache: c.get("k"), lambda c=cache: c.set("k", 1),
                lambda c=cache: asyncio.run(c.aget("k")),
            )  # fmt: skip
            for call in calls:
                try:
                    call()
                except Exception as exc:
                    shown.extend(texts(exc))
                    if not ignore or "wrong password" in name:
                        assert "cachemere RedisCache (" in " ".join(getattr(exc, "__notes__", [])), name
                else:
                    assert ignore and "wrong password" not in name, f"{name}: no error"
    shown += [record.getMessage() for record in caplog.records]
    shown += [caplog.text]
    assert any("***" in text for text in shown)
    if ignore:
        assert any(r.name == "cachemere.backends.redis" for r in caplog.records)
    leaks = [text for text in shown if SECRET in text or SECRET.lower() in text.lower()]
    assert not leaks


@pytest.mark.parametrize(
    "location",
    [
        f"redis://:{SECRET}@127.0.0.1:1;127.0.0.1:2",  # second entry not a URL
        [f"unix://:{SECRET}@/s", 6379],
        {"url": f"redis://:{SECRET}@h"},  # not a LOCATION at all
        f"redis://:{SECRET}@127.0.0.1:no-port",  # refused by the URL parser
        f"redis://:ab/{SECRET}@127.0.0.1:1",  # an unencoded '/' cuts the password
    ],
)
def test_configuration_errors_never_show_the_password(location: Any) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        make(location)
    shown = list(texts(info.value))
    assert "CACHES['redis']" in shown[0]
    assert not [text for text in shown if SECRET in text]
