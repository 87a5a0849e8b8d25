"""A conformance suite for cache backends, shipped so custom backends can run it too.

Subclass :class:`CacheConformance` in a pytest test module::

    from cachemere.testing import CacheConformance

    class TestMyCache(CacheConformance):
        backend = "mypackage.caches.MyCache"
        location = "somewhere"

The class attributes of :class:`CacheFixture` describe what a backend may
legitimately do differently (expiry kept by a server, culling, ...); see
docs/testing.md.
"""

try:
    import pytest
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "cachemere.testing needs pytest: pip install 'cachemere[testing]'"
    ) from exc

# Failure messages show the compared values only in modules pytest rewrites,
# and a module is rewritten only if it is registered before its first import:
# so here, before the submodules below, and whatever the user's conftest says.
pytest.register_assert_rewrite(
    *(
        f"{__name__}.{module}"
        for module in ("asyncs", "basic", "culling", "expiry", "fixtures", "keys", "tenancy")
    )
)

from .asyncs import AsyncTests  # noqa: E402
from .basic import BasicTests  # noqa: E402
from .culling import CullingTests  # noqa: E402
from .expiry import ExpiryTests  # noqa: E402
from .fixtures import CacheFixture, Clock, current_tenant, custom_key_func, tenant_key_func  # noqa: E402
from .keys import KeyTests, KeyValidationTests  # noqa: E402
from .tenancy import KeyFunctionTests  # noqa: E402

__all__ = [
    "AsyncTests",
    "BasicTests",
    "CacheConformance",
    "CacheFixture",
    "Clock",
    "CullingTests",
    "ExpiryTests",
    "KeyFunctionTests",
    "KeyTests",
    "KeyValidationTests",
    "current_tenant",
    "custom_key_func",
    "tenant_key_func",
]


class CacheConformance(
    BasicTests, ExpiryTests, KeyTests, KeyValidationTests, KeyFunctionTests, CullingTests, AsyncTests
):
    """Every conformance test; run against each backend."""
