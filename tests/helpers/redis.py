"""The redis conformance class, shared by the plain and the signed conformance runs."""

from __future__ import annotations

from typing import Any

import pytest

from cachemere.testing import CacheConformance
from servers.redis import shared_servers


class RedisConformance(CacheConformance):
    """The whole suite on the shared leader; a module using it must import ``redis_servers``."""

    backend = "cachemere.backends.redis.RedisCache"
    fake_clock = False
    absolute_backend_timeout = False
    supports_culling = False
    incr_keeps_ttl = True
    incr_version_keeps_ttl = True  # an atomic RENAME
    instances_share_store = True

    @pytest.fixture(autouse=True)
    def _servers_stop_at_session_end(self, redis_servers: Any) -> None:
        """Ties the shared servers to the session, so they are stopped at its end."""

    def server_url(self) -> str:
        return shared_servers().leader.url

    def cache_params(self) -> dict[str, Any]:
        return {"BACKEND": self.backend, "LOCATION": self.server_url(), "OPTIONS": dict(self.options)}
