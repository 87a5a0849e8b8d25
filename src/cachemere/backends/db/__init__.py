"""Database cache: ``DatabaseCache`` on SQLAlchemy Core (SQLite embedded, or PostgreSQL).

``backend`` holds the cache, ``table`` the statements, ``schema`` the table
layout, ``engines`` the ``DATABASES`` setting and its pools, ``routing`` the
``DATABASE_ROUTERS`` chain.
"""

try:
    import sqlalchemy  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"cachemere's DatabaseCache needs SQLAlchemy: pip install 'cachemere[sql]' "
        f"(or 'cachemere[postgres]' for PostgreSQL) ({exc})"
    ) from exc

from .backend import DatabaseCache
from .table import MissingCacheTable

__all__ = ["DatabaseCache", "MissingCacheTable"]
