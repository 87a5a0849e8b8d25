"""Canaries: the pymemcache and pylibmc internals the backends rely on still exist.

Each name here is used by exactly one module (memcached/pymemcache.py or
memcached/pylibmc.py); a new library version that drops or renames one fails
here, by name, before anything subtler breaks.
"""

from __future__ import annotations

import inspect

import pytest


def test_pymemcache_private_names() -> None:
    from pymemcache.client.base import Client
    from pymemcache.client.hash import HashClient
    from pymemcache.client.rendezvous import RendezvousHash

    for name in ("_connect", "_raise_errors", "close", "serde", "key_prefix", "ignore_exc"):
        assert hasattr(Client(("127.0.0.1", 1)), name), f"pymemcache Client.{name}"
    assert "sock" in vars(Client(("127.0.0.1", 1))), "pymemcache Client.sock"
    assert list(inspect.signature(Client._raise_errors).parameters) == ["self", "line", "name"]
    ring = HashClient([("127.0.0.1", 1)])
    for name in ("_dead_clients", "_failed_clients", "clients", "hasher", "ignore_exc"):
        assert name in vars(ring), f"pymemcache HashClient.{name}"
    for name in ("_retry_dead", "_get_client", "_safely_run_func", "_safely_run_set_many", "client_class"):
        assert hasattr(HashClient, name), f"pymemcache HashClient.{name}"
    assert list(inspect.signature(HashClient._get_client).parameters) == ["self", "key"]
    assert list(inspect.signature(HashClient._safely_run_func).parameters)[:4] == [
        "self", "client", "func", "default_val",
    ]  # fmt: skip
    set_many = inspect.signature(HashClient._safely_run_set_many)
    assert list(set_many.parameters)[:3] == ["self", "client", "values"]
    assert isinstance(RendezvousHash().nodes, list), "pymemcache RendezvousHash.nodes"
    # Ring._skipped reads a failed server's entry and the retry settings.
    ring._mark_failed_server(("127.0.0.1", 1))
    assert {"attempts", "failed_time"} <= set(ring._failed_clients[("127.0.0.1", 1)])
    assert isinstance(ring.retry_attempts, int) and isinstance(ring.retry_timeout, (int, float))


def test_our_pymemcache_subclasses_override_existing_names() -> None:
    from pymemcache.client.base import Client
    from pymemcache.client.hash import HashClient

    from cachemere.backends.memcached.pymemcache import Connection, Ring

    for cls, base in ((Connection, Client), (Ring, HashClient)):
        for name in vars(cls):
            if name.startswith("_") and not name.startswith("__") and callable(getattr(cls, name)):
                ours = name in ("_fetch", "_converter", "_read_values", "_split_values", "_walk_values",
                                "_by_server", "_down", "_skipped")  # fmt: skip
                assert ours or hasattr(base, name), f"{cls.__name__}.{name}: not in {base.__name__}"


def test_pylibmc_behaviour_we_rely_on() -> None:
    import pylibmc

    from cachemere.backends.memcached.pylibmc import VerifyingClient

    client = VerifyingClient(["127.0.0.1:1"])
    assert type(client.clone()) is VerifyingClient  # clone keeps the subclass (and its deserialize)
    assert callable(pylibmc.Client.deserialize) and callable(pylibmc.Client.clone)
    assert list(inspect.signature(pylibmc.Client.__init__).parameters) == [
        "self", "servers", "behaviors", "binary", "username", "password",
    ]  # fmt: skip
    for name in ("TooBig", "NotFound", "ClientError", "UnknownReadFailure", "Error"):
        assert issubclass(getattr(pylibmc, name), Exception), f"pylibmc.{name}"


@pytest.mark.parametrize("module", ["pymemcache", "pylibmc"])
def test_versions_within_the_tested_range(module: str) -> None:
    """The versions these canaries were written against; see docs/memcached.md."""
    from importlib.metadata import version

    major, minor = (int(part) for part in version(module).split(".")[:2])
    assert (major, minor) >= {"pymemcache": (4, 0), "pylibmc": (1, 6)}[module]
