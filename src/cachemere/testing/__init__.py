"""A conformance suite for cache backends, shipped so custom backends can run it too.

Subclass :class:`CacheConformance` in a pytest test module::

    from cachemere.testing import CacheConformance

    class TestMyCache(CacheConformance):
        backend = "mypackage.caches.MyCache"
        location = "somewhere"

The class attributes of :class:`CacheFixture` describe what a backend may
legitimately do differently (shortest timeout, culling, ...).
"""

from .asyncs import AsyncTests
from .basic import BasicTests
from .culling import CullingTests
from .expiry import ExpiryTests
from .fixtures import CacheFixture, custom_key_func
from .keys import KeyTests

__all__ = [
    "AsyncTests",
    "BasicTests",
    "CacheConformance",
    "CacheFixture",
    "CullingTests",
    "ExpiryTests",
    "KeyTests",
    "custom_key_func",
]


class CacheConformance(BasicTests, ExpiryTests, KeyTests, CullingTests, AsyncTests):
    """Every conformance test; run against each backend."""
